#include "process_rounds.h"

#include "decode_debezium.h"
#include "log.h"
#include "metrics.h"
#include "round_map.h"
#include "settle.h"
#include "sink_nats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    ds_delivery d;
    ds_round_event ev;
    bool settled;
    char *json;
    ds_round_apply apply;
} round_item;

typedef struct {
    ds_rounds_stage *st;
    round_item *items;
    size_t count;
} batch;

static bool needs_game(const round_item *it)
{
    return !it->settled && (it->ev.op == OP_CREATE || it->ev.op == OP_UPDATE || it->ev.op == OP_READ);
}

static void retry_pending(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        if (!b->items[i].settled) {
            ds_settle_retry(b->st->cfg, &b->items[i].d, (char)b->items[i].ev.op);
            b->items[i].settled = true;
        }
    }
}

static void decode_all(batch *b)
{
    const ds_config *cfg = b->st->cfg;
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        char reason[DS_REASON_MAX];
        if (ds_decode_round(natsMsg_GetData(it->d.msg), (size_t)natsMsg_GetDataLength(it->d.msg),
                            (size_t)cfg->max_message_bytes, &it->ev, reason) != DECODE_OK) {
            ds_settle_dead_letter(cfg, b->st->nats->js, &it->d, 0, reason);
            it->settled = true;
        } else if (it->ev.op == OP_MESSAGE) {
            ds_log(LOG_INFO, "logical decoding message ignored", "{s:I}", "stream_seq",
                   (json_int_t)it->d.stream_seq);
            ds_settle_ack(&it->d, 'm', RESULT_IGNORED);
            it->settled = true;
        }
    }
}

static void unknown_game(batch *b, round_item *it)
{
    const ds_config *cfg = b->st->cfg;
    char reason[DS_REASON_MAX];
    snprintf(reason, sizeof reason, "after.game_id: unknown game %lld", (long long)it->ev.row.game_id);
    if (it->d.deliveries >= (uint64_t)cfg->unknown_game_max_deliveries) {
        ds_settle_dead_letter(cfg, b->st->nats->js, &it->d, (char)it->ev.op, reason);
    } else {
        ds_log(LOG_INFO, "round waits for its game", "{s:I, s:I, s:I}", "round_id",
               (json_int_t)it->ev.row.id, "game_id", (json_int_t)it->ev.row.game_id, "deliveries",
               (json_int_t)it->d.deliveries);
        ds_settle_retry(cfg, &it->d, (char)it->ev.op);
    }
    it->settled = true;
}

/* Copies the resolved names into the event, which outlives the batch's registry. */
static void pin_names(round_item *it, const char *slug, const char *type)
{
    ds_round_row *row = &it->ev.row;
    if (slug != row->game_slug)
        snprintf(row->game_slug, sizeof row->game_slug, "%s", slug);
    if (type != row->game_type)
        snprintf(row->game_type, sizeof row->game_type, "%s", type);
    it->apply.slug = row->game_slug;
    it->apply.type = row->game_type;
}

/* Builds every round object; rounds whose game cannot be resolved are retried. */
static int map_all(batch *b)
{
    int64_t *ids = calloc(b->count, sizeof *ids);
    ds_game_ref *refs = calloc(b->count, sizeof *refs);
    bool *found = calloc(b->count, sizeof *found);
    ds_game_ref *known = calloc(b->count, sizeof *known);
    size_t nids = 0, nknown = 0;
    int rc = -1;
    if (!ids || !refs || !found || !known)
        goto out;
    for (size_t i = 0; i < b->count; i++) {
        if (!needs_game(&b->items[i]))
            continue;
        bool seen = false;
        for (size_t j = 0; j < nids && !seen; j++)
            seen = ids[j] == b->items[i].ev.row.game_id;
        if (!seen)
            ids[nids++] = b->items[i].ev.row.game_id;
    }
    if (ds_redis_lookup_games(b->st->redis, ids, nids, refs, found) != 0) {
        ds_metrics_sink_error(SINK_REDIS);
        ds_metrics_set_dependency(DEP_REDIS, false);
        goto out;
    }
    for (size_t j = 0; j < nids; j++)
        if (found[j])
            known[nknown++] = refs[j];
    ds_game_registry registry = {known, nknown};
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (!needs_game(it))
            continue;
        const char *slug, *type;
        ds_map_result r = ds_round_map(&it->ev, &registry, &it->json, &slug, &type);
        if (r == MAP_UNKNOWN_GAME)
            unknown_game(b, it);
        else if (r != MAP_OK)
            goto out;
        else
            pin_names(it, slug, type);
    }
    rc = 0;
out:
    free(ids);
    free(refs);
    free(found);
    free(known);
    return rc;
}

static int apply_all(batch *b)
{
    ds_round_apply *applies = calloc(b->count, sizeof *applies);
    size_t *index = calloc(b->count, sizeof *index);
    size_t n = 0;
    int rc = -1;
    if (!applies || !index)
        goto out;
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (it->settled)
            continue;
        it->apply.ev = &it->ev;
        it->apply.json = it->json;
        applies[n] = it->apply;
        index[n++] = i;
    }
    if (ds_redis_apply_rounds(b->st->redis, applies, n) != 0) {
        ds_metrics_sink_error(SINK_REDIS);
        ds_metrics_set_dependency(DEP_REDIS, false);
        goto out;
    }
    ds_metrics_set_dependency(DEP_REDIS, true);
    for (size_t k = 0; k < n; k++)
        b->items[index[k]].apply = applies[k];
    rc = 0;
out:
    free(applies);
    free(index);
    return rc;
}

/* Publishes what is owed (nchan first, then NATS), records completed publications, and
 * settles every remaining message. */
static void publish_and_settle(batch *b)
{
    ds_publication *pubs = calloc(b->count, sizeof *pubs);
    round_item **owner = calloc(b->count, sizeof *owner);
    ds_round_apply **done = calloc(b->count, sizeof *done);
    size_t n = 0, ndone = 0;
    if (!pubs || !owner || !done) {
        retry_pending(b);
        goto out;
    }
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (it->settled || !it->apply.publish)
            continue;
        pubs[n] = (ds_publication){it->apply.slug, it->apply.type, it->json, false};
        owner[n++] = it;
    }
    if (n > 0) {
        bool nchan_ok = ds_nchan_publish(b->st->nchan, pubs, n) == 0;
        ds_metrics_set_dependency(DEP_PUBLISHER, nchan_ok);
        if (!nchan_ok)
            ds_metrics_sink_error(SINK_NCHAN);
        if (ds_nats_publish_rounds(b->st->nats->nc, pubs, n) != 0)
            ds_metrics_sink_error(SINK_NATS);
    }
    for (size_t k = 0; k < n; k++) {
        if (pubs[k].ok) {
            done[ndone++] = &owner[k]->apply;
        } else {
            ds_settle_retry(b->st->cfg, &owner[k]->d, (char)owner[k]->ev.op);
            owner[k]->settled = true;
        }
    }
    /* If this fails the messages are still acked: they are not redelivered, so nothing is
     * published twice; only a replay from the stream would publish again. */
    if (ds_redis_mark_published(b->st->redis, done, ndone) != 0) {
        ds_metrics_sink_error(SINK_REDIS);
        ds_log(LOG_WARN, "recording publications failed", "{s:i}", "count", (int)ndone);
    }
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (it->settled)
            continue;
        ds_settle_ack(&it->d, (char)it->ev.op,
                      it->apply.status == APPLY_APPLIED ? RESULT_APPLIED : RESULT_SKIPPED);
        it->settled = true;
    }
out:
    free(pubs);
    free(owner);
    free(done);
}

void ds_process_rounds(ds_rounds_stage *st, natsMsgList *list)
{
    double now = ds_now();
    batch b = {st, calloc((size_t)list->Count, sizeof(round_item)), (size_t)list->Count};
    if (!b.items) {
        ds_log(LOG_ERROR, "out of memory for a batch", NULL);
        return;     /* unacked: redelivered after ACK_WAIT */
    }
    for (size_t i = 0; i < b.count; i++)
        ds_delivery_init(&b.items[i].d, list->Msgs[i], now);
    decode_all(&b);
    if (map_all(&b) != 0 || apply_all(&b) != 0)
        retry_pending(&b);
    else
        publish_and_settle(&b);
    for (size_t i = 0; i < b.count; i++) {
        ds_round_event_free(&b.items[i].ev);
        free(b.items[i].json);
    }
    free(b.items);
}
