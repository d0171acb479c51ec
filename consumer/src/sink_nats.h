/* Live publication to core NATS: rounds.game.<slug> and rounds.type.<type>. */
#ifndef DSC_SINK_NATS_H
#define DSC_SINK_NATS_H

#include "sink_nchan.h"

#include <nats/nats.h>

/* Publishes every entry with ok set, then flushes; on failure clears ok on all of them. */
int dsc_nats_publish_rounds(natsConnection *nc, dsc_publication_t *pubs, size_t count);

#endif
