/* Live publication to nchan: one POST per round to <PUBLISH_URL>/game.<slug>,type.<type>. */
#ifndef DS_SINK_NCHAN_H
#define DS_SINK_NCHAN_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ds_nchan ds_nchan;

typedef struct {
    int64_t round_id;
    const char *slug;
    const char *type;
    const char *json;
    bool ok;            /* out: 201 or 202 */
} ds_publication;

ds_nchan *ds_nchan_new(const ds_config *cfg);
void ds_nchan_free(ds_nchan *n);
/* Whether the publisher accepts connections; safe beside a publish in another thread. */
int ds_nchan_probe(const ds_nchan *n);
/* Returns 0 when every publication succeeded, -1 otherwise (see each ok). */
int ds_nchan_publish(ds_nchan *n, ds_publication *pubs, size_t count);

#endif
