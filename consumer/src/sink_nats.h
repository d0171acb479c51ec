/* Live publication to core NATS: rounds.game.<slug> and rounds.type.<type>. */
#ifndef DS_SINK_NATS_H
#define DS_SINK_NATS_H

#include "sink_nchan.h"

#include <nats/nats.h>

/* Publishes every entry with ok set, then flushes; on failure clears ok on all of them. */
int ds_nats_publish_rounds(natsConnection *nc, ds_publication *pubs, size_t count);

#endif
