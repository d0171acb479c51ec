/* One fetched batch of games events: keeps the games registry in Redis in step. */
#ifndef DS_PROCESS_GAMES_H
#define DS_PROCESS_GAMES_H

#include "config.h"
#include "sink_redis.h"
#include "source_jetstream.h"

typedef struct {
    const ds_config *cfg;
    ds_nats *nats;
    ds_redis *redis;
} ds_games_stage;

void ds_process_games(ds_games_stage *st, natsMsgList *list);

#endif
