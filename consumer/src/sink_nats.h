/* Live publication to core NATS: rounds.game.<slug> and rounds.type.<type>. */
#ifndef DSC_SINK_NATS_H
#define DSC_SINK_NATS_H

#include <nats/nats.h>
#include <stddef.h>

typedef struct {
    const char *slug;
    const char *type;
    const char *json;
} dsc_publication_t;

/* Publishes every entry to both subjects, then flushes; -1 when any of it may be missing. */
int dsc_nats_publish_rounds(natsConnection *nc, dsc_publication_t *pubs, size_t count);

#endif
