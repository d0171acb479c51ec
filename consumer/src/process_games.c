#include "process_games.h"

#include "decode_debezium.h"
#include "log.h"
#include "metrics.h"
#include "settle.h"

#include <jansson.h>

static void process_one(dsc_games_stage_t *st, dsc_delivery_t *d)
{
    dsc_game_event_t ev;
    char reason[DSC_REASON_MAX];
    if (dsc_decode_game(natsMsg_GetData(d->msg), (size_t)natsMsg_GetDataLength(d->msg),
                        (size_t)st->cfg->max_message_bytes, &ev, reason) != DSC_DECODE_OK) {
        dsc_settle_dead_letter(st->cfg, st->nats->js, d, DATASTREAM_OP_COUNT, reason);
        return;
    }
    const datastream_op_t *op = datastream_op_info(ev.op);
    if (op->row == DATASTREAM_ROW_NONE) {
        /* A truncated games table leaves rounds pointing at nothing; the registry keeps the
         * last known names rather than orphaning history. */
        dsc_log(DSC_LOG_INFO, "games event ignored", "{s:s#, s:I}", "op", &op->letter, 1,
                "stream_seq", (json_int_t)d->stream_seq);
        dsc_settle_ack(d, ev.op, DSC_RESULT_IGNORED);
        dsc_game_event_free(&ev);
        return;
    }
    dsc_apply_status_e status;
    if (dsc_redis_apply_game(st->redis, &ev, &status) != 0) {
        dsc_metrics_sink_error(DSC_SINK_REDIS);
        dsc_metrics_set_dependency(DSC_DEP_REDIS, false);
        dsc_settle_retry(st->cfg, d, ev.op);
    } else {
        dsc_log(DSC_LOG_DEBUG, "game applied", "{s:I, s:s}", "game_id", (json_int_t)ev.row.id,
                "slug", ev.row.slug);
        dsc_settle_ack(d, ev.op,
                       status == DSC_APPLY_APPLIED ? DSC_RESULT_APPLIED : DSC_RESULT_SKIPPED);
    }
    dsc_game_event_free(&ev);
}

void dsc_process_games(dsc_games_stage_t *st, natsMsgList *list)
{
    double now = dsc_clock_now();
    for (int i = 0; i < list->Count; i++) {
        dsc_delivery_t d;
        dsc_delivery_init(&d, list->Msgs[i], now);
        process_one(st, &d);
    }
}
