/* Live publication to nchan: per batch, one POST per channel (<PUBLISH_URL>/game.<slug>,
 * <PUBLISH_URL>/type.<type>) whose body is the channel's rounds in stream order, joined by
 * '\n'; the backend's datastream_unbatch gives each round its own frame / event again. */
#ifndef DSC_SINK_NCHAN_H
#define DSC_SINK_NCHAN_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dsc_nchan_s dsc_nchan_t;

/* A round's two channels are published and confirmed apart: after a failed attempt, a retry
 * repeats only the channel that did not take it, so the other never gets the round twice. */
typedef struct {
    int64_t round_id;
    const char *slug;
    const char *type;
    const char *json;
    bool game_done;     /* in: not sent to game.<slug>; out: also set once nchan stored it */
    bool type_done;     /* the same for type.<type> */
} dsc_publication_t;

dsc_nchan_t *dsc_nchan_new(const dsc_config_t *cfg);
void dsc_nchan_free(dsc_nchan_t *n);
/* Whether the publisher accepts connections; safe beside a publish in another thread. */
int dsc_nchan_probe(const dsc_nchan_t *n);
/* Sends each round to its channels not done yet; 0 when afterwards every channel of every
 * round is done, -1 otherwise. */
int dsc_nchan_publish(dsc_nchan_t *n, dsc_publication_t *pubs, size_t count);

#endif
