#include "process_rounds.h"

#include "decode_debezium.h"
#include "log.h"
#include "metrics.h"
#include "round_map.h"
#include "settle.h"
#include "sink_nats.h"
#include "worker.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failed publication is retried in place after these pauses (doubling), never NAKed on
 * its own: a NAKed message would come back after newer rounds had been published. */
#define PUBLISH_RETRY_FIRST_MS 100
#define PUBLISH_RETRY_MAX_MS 5000
/* Times a batch is resolved and applied again when a game changed in between; past it the
 * batch is retried like a failed apply. */
#define REGISTRY_RETRIES 3
/* Fetched batches one publication may carry at most (BATCH_SIZE each): MAX_ACK_PENDING bounds
 * them too, this keeps one publication short enough for the ones queued behind it. */
#define QUEUED_BATCHES 4

struct dsc_rounds_stage_s {
    const dsc_config_t *cfg;
    const atomic_bool *stop;    /* the process is shutting down */
    dsc_nats_t *nats;
    dsc_redis_t *apply_redis;   /* fetch thread only */
    dsc_games_cache_t *games;   /* fetch thread only */
    dsc_redis_t *publish_redis; /* publishing thread only */
    double idle_since;  /* end of the previous batch: the next one's fetch time starts here */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct batch *handed;       /* the batch owned by the publishing thread, or NULL */
    /* Queued for the publishing thread, or NULL. While that thread is busy, the batches the
     * fetch thread applies meanwhile join this one, so that they go out together: one NATS
     * flush, one record of publications for all of them. */
    struct batch *waiting;
    bool stopping;
    bool gave_up;   /* publishing thread only: a batch was NAKed unpublished at shutdown */
};

typedef struct {
    dsc_delivery_t d;
    dsc_round_event_t ev;
    bool settled;
    /* the row's game_slug / game_type were filled from the registry, not carried by the row */
    bool slug_pinned, type_pinned;
    char *json;
    dsc_round_apply_t apply;
} round_item;

typedef struct batch {
    dsc_rounds_stage_t *st;
    natsMsgList *msgs;          /* owned, one list per fetch it holds: destroyed once settled */
    size_t fetches;
    round_item *items;
    size_t count;
    bool applied;               /* false: every message was already settled (retried) */
    char registry_rev[DSC_REGISTRY_REV_MAX];  /* its names were read at, or "*" */
    double leased_at;   /* when its publication leases were last taken or renewed (at least) */
} batch;

/* Adds the time since *mark to a stage and moves the mark to now. */
static void lap(dsc_stage_e stage, double *mark)
{
    double now = dsc_clock_now();
    dsc_metrics_stage(stage, now - *mark);
    *mark = now;
}

static bool needs_game(const round_item *it)
{
    return !it->settled && datastream_op_info(it->ev.op)->row == DATASTREAM_ROW_AFTER;
}

static void retry_pending(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        if (!b->items[i].settled) {
            dsc_settle_retry(b->st->cfg, &b->items[i].d, b->items[i].ev.op);
            b->items[i].settled = true;
        }
    }
}

static void decode_all(batch *b)
{
    const dsc_config_t *cfg = b->st->cfg;
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        char reason[DSC_REASON_MAX];
        if (dsc_decode_round(natsMsg_GetData(it->d.msg), (size_t)natsMsg_GetDataLength(it->d.msg),
                             (size_t)cfg->max_message_bytes, &it->ev, reason) != DSC_DECODE_OK) {
            dsc_settle_dead_letter(cfg, b->st->nats->js, &it->d, DATASTREAM_OP_COUNT, reason);
            it->settled = true;
        } else if (it->ev.op == DATASTREAM_OP_MESSAGE) {
            dsc_log(DSC_LOG_INFO, "logical decoding message ignored", "{s:I}", "stream_seq",
                    (json_int_t)it->d.stream_seq);
            dsc_settle_ack(&it->d, DATASTREAM_OP_MESSAGE, DSC_RESULT_IGNORED);
            it->settled = true;
        }
    }
}

static void unknown_game(batch *b, round_item *it)
{
    const dsc_config_t *cfg = b->st->cfg;
    char reason[DSC_REASON_MAX];
    snprintf(reason, sizeof reason, "after.game_id: unknown game %lld", (long long)it->ev.row.game_id);
    if (it->d.deliveries >= (uint64_t)cfg->unknown_game_max_deliveries) {
        dsc_settle_dead_letter(cfg, b->st->nats->js, &it->d, it->ev.op, reason);
    } else {
        dsc_log(DSC_LOG_INFO, "round waits for its game", "{s:I, s:I, s:I}", "round_id",
                (json_int_t)it->ev.row.id, "game_id", (json_int_t)it->ev.row.game_id, "deliveries",
                (json_int_t)it->d.deliveries);
        dsc_settle_retry(cfg, &it->d, it->ev.op);
    }
    it->settled = true;
}

/* Copies the resolved names into the event, which outlives the batch's registry. */
static void pin_names(round_item *it, const char *slug, const char *type)
{
    dsc_round_row_t *row = &it->ev.row;
    it->slug_pinned = slug != row->game_slug;
    it->type_pinned = type != row->game_type;
    if (it->slug_pinned)
        snprintf(row->game_slug, sizeof row->game_slug, "%s", slug);
    if (it->type_pinned)
        snprintf(row->game_type, sizeof row->game_type, "%s", type);
    it->apply.slug = row->game_slug;
    it->apply.type = row->game_type;
}

/* Builds every round object; rounds whose game cannot be resolved are retried. */
static int map_all(batch *b)
{
    int64_t *ids = calloc(b->count, sizeof *ids);
    dsc_game_ref_t *refs = calloc(b->count, sizeof *refs);
    bool *found = calloc(b->count, sizeof *found);
    dsc_game_ref_t *known = calloc(b->count, sizeof *known);
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
    if (nids == 0) {
        snprintf(b->registry_rev, sizeof b->registry_rev, "*");
    } else if (dsc_games_cache_get(b->st->games, ids, nids, refs)) {
        for (size_t j = 0; j < nids; j++)
            found[j] = true;
        snprintf(b->registry_rev, sizeof b->registry_rev, "%s",
                 dsc_games_cache_revision(b->st->games));
    } else {
        if (dsc_redis_lookup_games(b->st->apply_redis, ids, nids, refs, found, b->registry_rev) != 0) {
            dsc_metrics_sink_error(DSC_SINK_REDIS);
            dsc_metrics_set_dependency(DSC_DEP_REDIS, false);
            goto out;
        }
        /* A cache that could not take it is empty: the next batch looks up again. */
        (void)dsc_games_cache_put(b->st->games, b->registry_rev, refs, found, nids);
    }
    for (size_t j = 0; j < nids; j++)
        if (found[j])
            known[nknown++] = refs[j];
    dsc_game_registry_t registry = {known, nknown};
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (!needs_game(it))
            continue;
        const char *slug, *type;
        /* resolved again when a game changed before the apply: from the row and the registry
         * as they are now, not from the names the first pass pinned */
        free(it->json);
        it->json = NULL;
        if (it->slug_pinned)
            it->ev.row.game_slug[0] = '\0';
        if (it->type_pinned)
            it->ev.row.game_type[0] = '\0';
        dsc_map_result_e r = dsc_round_map(&it->ev, &registry, &it->json, &slug, &type);
        if (r == DSC_MAP_UNKNOWN_GAME)
            unknown_game(b, it);
        else if (r != DSC_MAP_OK)
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

/* Another process holds the lease of these rounds: it publishes an older version first. The
 * message comes back shortly, as a duplicate whose publication is still owed, and tries again;
 * by then it may have been overtaken, and is then not published at all (coalesced). */
static void wait_for_leases(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (!it->settled && it->apply.publish == DSC_PUBLISH_LEASE_BUSY) {
            dsc_settle_lease_wait(b->st->cfg, &it->d, it->ev.op);
            it->settled = true;
        }
    }
}

static int apply_all(batch *b)
{
    dsc_round_apply_t *applies = calloc(b->count, sizeof *applies);
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
    rc = dsc_redis_apply_rounds(b->st->apply_redis, applies, n, b->registry_rev);
    if (rc == DSC_REDIS_REGISTRY_CHANGED)
        goto out;
    if (rc != 0) {
        dsc_metrics_sink_error(DSC_SINK_REDIS);
        dsc_metrics_set_dependency(DSC_DEP_REDIS, false);
        goto out;
    }
    dsc_metrics_set_dependency(DSC_DEP_REDIS, true);
    for (size_t k = 0; k < n; k++)
        b->items[index[k]].apply = applies[k];
    wait_for_leases(b);
    rc = 0;
out:
    free(applies);
    free(index);
    return rc;
}

/* Makes the NATS publications the batch still owes; 0 once all went out. A failed attempt is
 * repeated whole: what it sent is unknown. */
static int publish_owed(batch *b, dsc_publication_t *pubs, double *mark)
{
    size_t n = 0;
    for (size_t i = 0; i < b->count; i++) {
        const round_item *it = &b->items[i];
        if (!it->settled && it->apply.publish == DSC_PUBLISH_OWED)
            pubs[n++] = (dsc_publication_t){it->apply.slug, it->apply.type, it->json};
    }
    if (n == 0)
        return 0;
    /* While reconnecting, the client would buffer every attempt and send them all later. */
    int rc = dsc_nats_connected(b->st->nats) ? dsc_nats_publish_rounds(b->st->nats->nc, pubs, n)
                                             : -1;
    lap(DSC_STAGE_NATS, mark);
    if (rc != 0)
        dsc_metrics_sink_error(DSC_SINK_NATS);
    return rc;
}

static bool lease_aged(const dsc_config_t *cfg, const batch *b, double now)
{
    return (now - b->leased_at) * 1000.0 >= (double)cfg->publication_lease_ms / 4;
}

/* Collects the owed publications of b into items; lease renewal covers exactly these. */
static size_t owed_publications(batch *b, dsc_round_apply_t **items, round_item **owner)
{
    size_t n = 0;
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (!it->settled && it->apply.publish == DSC_PUBLISH_OWED) {
            owner[n] = it;
            items[n++] = &it->apply;
        }
    }
    return n;
}

/* Before a publication attempt: renews this process's publication leases for the batch being
 * published and for the one queued behind it (whose leases must not run out while this one is
 * retried), and drops the versions that lost their lease to a newer version: published now,
 * they would follow it. Leases renewed less than a quarter of their lifetime ago are only
 * renewed on a retry. -1 when Redis could not tell: the attempt is not made then. */
static int renew_leases(dsc_rounds_stage_t *st, batch *b, bool retrying)
{
    pthread_mutex_lock(&st->lock);
    /* The fetch thread leaves the queued batch alone until it is handed over. */
    batch *batches[2] = {b, st->waiting && st->waiting->applied ? st->waiting : NULL};
    size_t cap = b->count + (batches[1] ? batches[1]->count : 0) + 1;
    dsc_round_apply_t **items = calloc(cap, sizeof *items);
    round_item **owner = calloc(cap, sizeof *owner);
    bool *keep = calloc(cap, sizeof *keep);
    double now = dsc_clock_now();
    size_t n = 0;
    int rc = -1;
    if (!items || !owner || !keep)
        goto out;
    for (int k = 0; k < 2; k++)
        if (batches[k] && (retrying || lease_aged(st->cfg, batches[k], now)))
            n += owed_publications(batches[k], items + n, owner + n);
    if (dsc_redis_hold_leases(st->publish_redis, items, n, keep) != 0) {
        dsc_metrics_sink_error(DSC_SINK_REDIS);
        goto out;
    }
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keep[i]) {
            owner[i]->apply.publish = DSC_PUBLISH_NONE;
            dropped++;
        }
    }
    if (dropped > 0) {
        dsc_metrics_coalesced(dropped);
        dsc_log(DSC_LOG_INFO, "publications overtaken by newer versions, dropped", "{s:i}", "count",
                (int)dropped);
    }
    for (int k = 0; k < 2; k++)
        if (batches[k] && (retrying || lease_aged(st->cfg, batches[k], now)))
            batches[k]->leased_at = now;
    rc = 0;
out:
    pthread_mutex_unlock(&st->lock);
    free(items);
    free(owner);
    free(keep);
    return rc;
}

/* Tells JetStream the batch's unsettled messages are still being worked on, so ACK_WAIT does
 * not run out and redeliver them while their publication is retried. */
static void keep_alive(const batch *b)
{
    int failed = 0;
    natsStatus last = NATS_OK;
    for (size_t i = 0; i < b->count; i++) {
        if (b->items[i].settled)
            continue;
        natsStatus s = natsMsg_InProgress(b->items[i].d.msg, NULL);
        if (s != NATS_OK) {
            failed++;
            last = s;
        }
    }
    /* Once per batch, not per message: redelivery after ACK_WAIT is then the fallback. */
    if (failed > 0)
        dsc_log(DSC_LOG_WARN, "in-progress failed", "{s:i, s:s}", "messages", failed, "error",
                natsStatus_GetText(last));
}

/* Holds b, and the batch queued behind it, for ms before the next publication attempt.
 * false when the process is stopping instead. */
static bool hold(dsc_rounds_stage_t *st, const batch *b, int ms)
{
    keep_alive(b);
    pthread_mutex_lock(&st->lock);
    /* The fetch thread only waits on the condition while its batch is queued here. */
    if (st->waiting)
        keep_alive(st->waiting);
    pthread_mutex_unlock(&st->lock);
    dsc_worker_pause(st->stop, ms);
    return !atomic_load(st->stop);
}

/* Publishes what is owed on NATS, retrying in place with a growing pause until it succeeds,
 * records completed publications, and acks every remaining message. Batches behind this one
 * wait, so every subject receives its rounds in order. At shutdown a batch still failing is NAKed,
 * and so is everything after it. */
static void publish_and_settle(batch *b)
{
    dsc_rounds_stage_t *st = b->st;
    dsc_publication_t *pubs = calloc(b->count, sizeof *pubs);
    dsc_round_apply_t **done = calloc(b->count, sizeof *done);
    size_t ndone = 0;
    if (!pubs || !done) {
        retry_pending(b);
        goto out;
    }
    int64_t cap = PUBLISH_RETRY_MAX_MS;
    if (cap > st->cfg->nak_delay_max_ms)
        cap = st->cfg->nak_delay_max_ms;
    /* In-progress is sent once per pause: a third of ACK_WAIT leaves room for the attempt. */
    if (cap > st->cfg->ack_wait_s * 1000 / 3)
        cap = st->cfg->ack_wait_s * 1000 / 3;
    /* Leases are renewed before each attempt: the pause must leave most of their lifetime. */
    if (cap > st->cfg->publication_lease_ms / 4)
        cap = st->cfg->publication_lease_ms / 4;
    int64_t pause = PUBLISH_RETRY_FIRST_MS < cap ? PUBLISH_RETRY_FIRST_MS : cap;
    double mark = dsc_clock_now();
    bool retrying = false;
    while (renew_leases(st, b, retrying) != 0 || publish_owed(b, pubs, &mark) != 0) {
        if (!hold(st, b, (int)pause)) {
            dsc_log(DSC_LOG_WARN, "publication still failing at shutdown, batch NAKed", NULL);
            st->gave_up = true;
            retry_pending(b);
            goto out;
        }
        mark = dsc_clock_now();
        pause = pause * 2 < cap ? pause * 2 : cap;
        retrying = true;
    }
    for (size_t i = 0; i < b->count; i++)
        if (!b->items[i].settled && b->items[i].apply.publish == DSC_PUBLISH_OWED)
            done[ndone++] = &b->items[i].apply;
    /* If this fails the messages are still acked: they are not redelivered, so nothing is
     * published twice; only a replay from the stream would publish again. */
    if (dsc_redis_mark_published(b->st->publish_redis, done, ndone) != 0) {
        dsc_metrics_sink_error(DSC_SINK_REDIS);
        dsc_log(DSC_LOG_WARN, "recording publications failed", "{s:i}", "count", (int)ndone);
    }
    lap(DSC_STAGE_REDIS_MARK, &mark);
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (it->settled)
            continue;
        dsc_settle_ack(&it->d, it->ev.op,
                       it->apply.status == DSC_APPLY_APPLIED ? DSC_RESULT_APPLIED
                                                             : DSC_RESULT_SKIPPED);
        it->settled = true;
    }
    lap(DSC_STAGE_SETTLE, &mark);
out:
    free(pubs);
    free(done);
}

static bool same_version(const round_item *a, const round_item *b)
{
    return a->ev.row.id == b->ev.row.id && a->ev.lsn == b->ev.lsn;
}

/* Debezium may deliver one change twice in a row. Without this, both copies would see the
 * publication as still owed (it is recorded only after publishing) and publish it twice.
 * A copy is not published when an earlier copy in this batch, or in the batch being
 * published or queued (earlier), carries the publication; if that one fails it is retried
 * and publishes then. */
static bool owes_same_publication(const round_item *other, const round_item *it)
{
    return other->apply.publish == DSC_PUBLISH_OWED && same_version(other, it);
}

static void skip_repeated_publications(batch *b, const batch *const earlier[], size_t nearlier)
{
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        if (it->settled || it->apply.publish != DSC_PUBLISH_OWED ||
            it->apply.status != DSC_APPLY_DUPLICATE)
            continue;
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = !b->items[j].settled && owes_same_publication(&b->items[j], it);
        for (size_t k = 0; k < nearlier && !repeated; k++) {
            const batch *e = earlier[k];
            if (!e || !e->applied)
                continue;
            for (size_t j = 0; j < e->count && !repeated; j++)
                repeated = owes_same_publication(&e->items[j], it);
        }
        if (repeated)
            it->apply.publish = DSC_PUBLISH_NONE;
    }
}

/* The apply requests point into their own items: set again after the items moved. */
static void point_into_items(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        round_item *it = &b->items[i];
        it->apply.ev = &it->ev;
        if (it->apply.slug)
            it->apply.slug = it->ev.row.game_slug;
        if (it->apply.type)
            it->apply.type = it->ev.row.game_type;
    }
}

/* Appends the applied batch b to the applied batch queued before it, for the publishing thread
 * to publish both as one, in their order. false (nothing changed) when the queued batch is
 * full or memory runs out: b then waits for its own turn. */
static bool join_queued(batch *queued, batch *b)
{
    size_t count = queued->count + b->count;
    if (!queued->applied || !b->applied || count > (size_t)b->st->cfg->batch_size * QUEUED_BATCHES)
        return false;
    natsMsgList *msgs = realloc(queued->msgs, (queued->fetches + b->fetches) * sizeof *msgs);
    if (!msgs)
        return false;
    queued->msgs = msgs;
    round_item *items = realloc(queued->items, count * sizeof *items);
    if (!items)
        return false;
    queued->items = items;
    memcpy(queued->msgs + queued->fetches, b->msgs, b->fetches * sizeof *b->msgs);
    memcpy(queued->items + queued->count, b->items, b->count * sizeof *b->items);
    queued->fetches += b->fetches;
    queued->count = count;
    point_into_items(queued);
    /* The older leases decide when the whole is renewed. */
    if (b->leased_at < queued->leased_at)
        queued->leased_at = b->leased_at;
    free(b->msgs);
    free(b->items);
    free(b);
    return true;
}

static void free_batch(batch *b)
{
    for (size_t i = 0; i < b->count; i++) {
        dsc_round_event_free(&b->items[i].ev);
        free(b->items[i].json);
    }
    free(b->items);
    for (size_t k = 0; k < b->fetches; k++)
        natsMsgList_Destroy(&b->msgs[k]);
    free(b->msgs);
    free(b);
}

static void *publishing_thread(void *arg)
{
    dsc_rounds_stage_t *st = arg;
    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (!st->waiting && !st->stopping)
            pthread_cond_wait(&st->changed, &st->lock);
        batch *b = st->waiting;
        if (!b)
            break;
        st->waiting = NULL;
        st->handed = b;
        pthread_cond_broadcast(&st->changed);
        pthread_mutex_unlock(&st->lock);
        /* Published now, this batch would reach subscribers before the NAKed one. */
        if (st->gave_up)
            retry_pending(b);
        else if (b->applied)
            publish_and_settle(b);
        pthread_mutex_lock(&st->lock);
        /* Freed before it is released: a drain must find its messages gone. */
        free_batch(b);
        st->handed = NULL;
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

dsc_rounds_stage_t *dsc_rounds_stage_start(const dsc_config_t *cfg, const atomic_bool *stop,
                                           dsc_nats_t *nats, dsc_redis_t *apply_redis,
                                           dsc_redis_t *publish_redis)
{
    dsc_rounds_stage_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    *st = (dsc_rounds_stage_t){.cfg = cfg, .stop = stop, .nats = nats, .apply_redis = apply_redis,
                               .publish_redis = publish_redis, .games = dsc_games_cache_new()};
    if (!st->games || pthread_mutex_init(&st->lock, NULL) != 0) {
        dsc_games_cache_free(st->games);
        free(st);
        return NULL;
    }
    if (pthread_cond_init(&st->changed, NULL) != 0) {
        pthread_mutex_destroy(&st->lock);
        dsc_games_cache_free(st->games);
        free(st);
        return NULL;
    }
    if (pthread_create(&st->thread, NULL, publishing_thread, st) != 0) {
        pthread_cond_destroy(&st->changed);
        pthread_mutex_destroy(&st->lock);
        dsc_games_cache_free(st->games);
        free(st);
        return NULL;
    }
    return st;
}

int dsc_rounds_stage_stop(dsc_rounds_stage_t *st, const struct timespec *deadline)
{
    if (!st)
        return 0;
    pthread_mutex_lock(&st->lock);
    st->stopping = true;
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
    if (pthread_timedjoin_np(st->thread, NULL, deadline) != 0)
        return -1;
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    dsc_games_cache_free(st->games);
    free(st);
    return 0;
}

void dsc_rounds_stage_drain(dsc_rounds_stage_t *st)
{
    pthread_mutex_lock(&st->lock);
    while (st->handed || st->waiting)
        pthread_cond_wait(&st->changed, &st->lock);
    pthread_mutex_unlock(&st->lock);
}

void dsc_process_rounds(dsc_rounds_stage_t *st, natsMsgList *list)
{
    double now = dsc_clock_now(), mark = now;
    if (st->idle_since > 0)
        dsc_metrics_stage(DSC_STAGE_FETCH, now - st->idle_since);
    batch *b = calloc(1, sizeof *b);
    natsMsgList *msgs = malloc(sizeof *msgs);
    round_item *items = calloc((size_t)list->Count, sizeof(round_item));
    if (!b || !msgs || !items) {
        free(b);
        free(msgs);
        free(items);
        dsc_log(DSC_LOG_ERROR, "out of memory for a batch", NULL);
        return;     /* unacked: redelivered after ACK_WAIT */
    }
    *msgs = *list;
    *list = (natsMsgList){0};
    *b = (batch){.st = st, .msgs = msgs, .fetches = 1, .items = items, .count = (size_t)msgs->Count};
    for (size_t i = 0; i < b->count; i++)
        dsc_delivery_init(&b->items[i].d, msgs->Msgs[i], now);
    decode_all(b);
    lap(DSC_STAGE_DECODE, &mark);
    int rc = map_all(b);
    lap(DSC_STAGE_GAMES_LOOKUP, &mark);
    /* Before the call that takes the leases: they live at least that long from here. */
    b->leased_at = dsc_clock_now();
    if (rc == 0)
        rc = apply_all(b);
    for (int again = 0; rc == DSC_REDIS_REGISTRY_CHANGED && again < REGISTRY_RETRIES; again++) {
        dsc_log(DSC_LOG_INFO, "games registry changed during the batch, names read again", NULL);
        dsc_games_cache_clear(st->games);
        rc = map_all(b);
        if (rc == 0)
            rc = apply_all(b);
    }
    lap(DSC_STAGE_REDIS_APPLY, &mark);
    if (rc != 0)
        retry_pending(b);
    b->applied = rc == 0;

    pthread_mutex_lock(&st->lock);
    if (b->applied) {
        const batch *const earlier[] = {st->handed, st->waiting};
        skip_repeated_publications(b, earlier, 2);
    }
    while (st->waiting && !join_queued(st->waiting, b))
        pthread_cond_wait(&st->changed, &st->lock);
    if (!st->waiting) {
        st->waiting = b;
        pthread_cond_broadcast(&st->changed);
    }
    pthread_mutex_unlock(&st->lock);
    lap(DSC_STAGE_HANDOFF_WAIT, &mark);
    st->idle_since = dsc_clock_now();
}
