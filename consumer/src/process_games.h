/* One fetched batch of games events: keeps the games registry in Redis in step. */
#ifndef DSC_PROCESS_GAMES_H
#define DSC_PROCESS_GAMES_H

#include "config.h"
#include "sink_redis.h"
#include "source_jetstream.h"

typedef struct {
    const dsc_config_t *cfg;
    dsc_nats_t *nats;
    dsc_redis_t *redis;
} dsc_games_stage_t;

void dsc_process_games(dsc_games_stage_t *st, natsMsgList *list);

#endif
