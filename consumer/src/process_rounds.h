/* One fetched batch of rounds events: decode, resolve games, apply to Redis, publish live,
 * then settle every message (ack only once the read model and publications succeeded). */
#ifndef DS_PROCESS_ROUNDS_H
#define DS_PROCESS_ROUNDS_H

#include "config.h"
#include "sink_nchan.h"
#include "sink_redis.h"
#include "source_jetstream.h"

typedef struct {
    const ds_config *cfg;
    ds_nats *nats;
    ds_redis *redis;
    ds_nchan *nchan;
} ds_rounds_stage;

void ds_process_rounds(ds_rounds_stage *st, natsMsgList *list);

#endif
