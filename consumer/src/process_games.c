#include "process_games.h"

#include "decode_debezium.h"
#include "log.h"
#include "metrics.h"
#include "settle.h"

#include <jansson.h>

static void process_one(ds_games_stage *st, ds_delivery *d)
{
    ds_game_event ev;
    char reason[DS_REASON_MAX];
    if (ds_decode_game(natsMsg_GetData(d->msg), (size_t)natsMsg_GetDataLength(d->msg),
                       (size_t)st->cfg->max_message_bytes, &ev, reason) != DECODE_OK) {
        ds_settle_dead_letter(st->cfg, st->nats->js, d, 0, reason);
        return;
    }
    if (ev.op == OP_MESSAGE || ev.op == OP_TRUNCATE) {
        /* A truncated games table leaves rounds pointing at nothing; the registry keeps the
         * last known names rather than orphaning history. */
        ds_log(LOG_INFO, "games event ignored", "{s:s, s:I}", "op",
               ev.op == OP_MESSAGE ? "m" : "t", "stream_seq", (json_int_t)d->stream_seq);
        ds_settle_ack(d, (char)ev.op, RESULT_IGNORED);
        ds_game_event_free(&ev);
        return;
    }
    ds_apply_status status;
    if (ds_redis_apply_game(st->redis, &ev, &status) != 0) {
        ds_metrics_sink_error(SINK_REDIS);
        ds_metrics_set_dependency(DEP_REDIS, false);
        ds_settle_retry(st->cfg, d, (char)ev.op);
    } else {
        ds_log(LOG_DEBUG, "game applied", "{s:I, s:s}", "game_id", (json_int_t)ev.row.id, "slug",
               ev.row.slug);
        ds_settle_ack(d, (char)ev.op, status == APPLY_APPLIED ? RESULT_APPLIED : RESULT_SKIPPED);
    }
    ds_game_event_free(&ev);
}

void ds_process_games(ds_games_stage *st, natsMsgList *list)
{
    double now = ds_now();
    for (int i = 0; i < list->Count; i++) {
        ds_delivery d;
        ds_delivery_init(&d, list->Msgs[i], now);
        process_one(st, &d);
    }
}
