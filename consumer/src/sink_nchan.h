/* Live publication to nchan: per batch, one POST per channel (<PUBLISH_URL>/game.<slug>,
 * <PUBLISH_URL>/type.<type>) whose body is the channel's rounds in stream order, joined by
 * '\n'; the backend's datastream_unbatch gives each round its own frame / event again and
 * drops a round a channel got twice (a retry after an answer that never came). */
#ifndef DSC_SINK_NCHAN_H
#define DSC_SINK_NCHAN_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dsc_nchan_s dsc_nchan_t;

typedef struct {
    int64_t round_id;
    const char *slug;
    const char *type;
    const char *json;
    bool ok;            /* out: 201 or 202 */
} dsc_publication_t;

dsc_nchan_t *dsc_nchan_new(const dsc_config_t *cfg);
void dsc_nchan_free(dsc_nchan_t *n);
/* Whether the publisher accepts connections; safe beside a publish in another thread. */
int dsc_nchan_probe(const dsc_nchan_t *n);
/* Returns 0 when every publication succeeded, -1 otherwise (see each ok). */
int dsc_nchan_publish(dsc_nchan_t *n, dsc_publication_t *pubs, size_t count);

#endif
