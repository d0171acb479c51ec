/* datastream-cdc: the local stand-in for Debezium Server. Reads a pgoutput
 * slot and publishes to JetStream what Debezium Server's NATS JetStream sink
 * would for the same changes; a position is confirmed to PostgreSQL only once
 * JetStream acked every event before it, so a restart loses nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "bridge.h"
#include "catalog.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "pgoutput.h"
#include "replication.h"
#include "snapshot.h"

/* Acks are awaited at least this often inside a long transaction, which also
 * bounds the publishes in flight. */
#define DSCDC_ACK_BATCH 1000

volatile sig_atomic_t dscdc_stop_requested;

/* Where the stream stands: the transaction being read and what is safe. */
typedef struct {
    int      in_transaction;
    uint32_t xid;
    int64_t  commit_time_us;
    uint64_t last_commit_lsn;   /* the previous transaction's, for source.sequence */
    uint64_t committed_end;     /* end of the last transaction read in full */
    uint64_t flushed;           /* acked by JetStream, confirmed to PostgreSQL */
    int64_t  last_confirm_us;
    uint64_t events_at_window;
    int64_t  window_start_us;
} stream_state_t;

static void
on_signal(int sig)
{
    (void) sig;
    dscdc_stop_requested = 1;
}

int64_t
dscdc_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

int
dscdc_bridge_publish(dscdc_bridge_t *b, const dscdc_table_t *t, const dscdc_change_t *chg,
                     const dscdc_source_t *src)
{
    char  subject[3 * DSCDC_NAME_MAX + 4];
    char  errmsg[256];
    char *value;
    int   rc;

    snprintf(subject, sizeof(subject), "%s.%s.%s", b->cfg->topic_prefix, t->schema, t->table);
    value = dscdc_envelope(t, chg, src, b->cfg->schemas_enable, errmsg, sizeof(errmsg));
    if (errmsg[0] != '\0') {
        dscdc_log(value ? "warn" : "error", "change event", "detail", errmsg, NULL);
    }
    if (value == NULL) {
        return -1;
    }
    rc = dsf_nats_publish(&b->nats, subject, value, (int) strlen(value));
    free(value);
    if (rc != 0) {
        return -1;
    }
    dscdc_metrics_count_event(chg->op);
    if (++b->unacked >= DSCDC_ACK_BATCH) {
        return dscdc_bridge_flush(b);
    }
    return 0;
}

int
dscdc_bridge_flush(dscdc_bridge_t *b)
{
    if (b->unacked == 0) {
        return 0;
    }
    if (dsf_nats_flush(&b->nats, 30000) != 0) {
        atomic_fetch_add(&dscdc_metrics.publish_failures, 1);
        b->nats.publish_errors = 0;
        return -1;
    }
    b->unacked = 0;
    return 0;
}

/* ---------------------------------------------------------------- offsets */

/* The offset file records that the slot's snapshot finished: a slot without
 * it was made by a run that died before its snapshot was published. */
static int
offsets_snapshot_done(const dscdc_config_t *cfg)
{
    char  line[256];
    FILE *f;
    int   done = 0;

    if (cfg->offset_file == NULL) {
        return 1;
    }
    if ((f = fopen(cfg->offset_file, "r")) == NULL) {
        return 0;
    }
    if (fgets(line, sizeof(line), f) != NULL) {
        char expect[128];
        snprintf(expect, sizeof(expect), "\"slot\":\"%s\",\"snapshot_completed\":true", cfg->slot_name);
        done = strstr(line, expect) != NULL;
    }
    fclose(f);
    return done;
}

static int
offsets_save_snapshot_done(const dscdc_config_t *cfg, uint64_t lsn)
{
    char  tmp[4096], at[32];
    FILE *f;

    if (cfg->offset_file == NULL) {
        return 0;
    }
    dscdc_lsn_format(lsn, at, sizeof(at));
    if ((size_t) snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->offset_file) >= sizeof(tmp)
        || (f = fopen(tmp, "w")) == NULL)
    {
        return -1;
    }
    if (fprintf(f, "{\"slot\":\"%s\",\"snapshot_completed\":true,\"consistent_point\":\"%s\"}\n",
                cfg->slot_name, at) < 0
        || fflush(f) != 0 || fsync(fileno(f)) != 0)
    {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, cfg->offset_file) != 0) {
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- relations */

static dscdc_table_t *
relation_find(dscdc_bridge_t *b, uint32_t relid)
{
    for (int i = 0; i < b->nrelations; i++) {
        if (b->relations[i]->relid == relid) {
            return b->relations[i];
        }
    }
    return NULL;
}

static void
relations_clear(dscdc_bridge_t *b)
{
    for (int i = 0; i < b->nrelations; i++) {
        dscdc_table_clear(b->relations[i]);
        free(b->relations[i]);
    }
    b->nrelations = 0;
}

/* The server describes each relation before its first change in a session,
 * and again after it changes. */
static int
relation_learn(dscdc_bridge_t *b, const dscdc_msg_t *m)
{
    dscdc_table_t *t = relation_find(b, m->u.relation.relid);

    if (t == NULL) {
        if (b->nrelations == DSCDC_MAX_RELATIONS || (t = calloc(1, sizeof(*t))) == NULL) {
            return -1;
        }
        b->relations[b->nrelations++] = t;
    }
    dscdc_table_clear(t);
    if (m->u.relation.schema.len >= DSCDC_NAME_MAX || m->u.relation.table.len >= DSCDC_NAME_MAX) {
        return -1;
    }
    t->relid = m->u.relation.relid;
    snprintf(t->schema, sizeof(t->schema), "%.*s", (int) m->u.relation.schema.len, m->u.relation.schema.p);
    snprintf(t->table, sizeof(t->table), "%.*s", (int) m->u.relation.table.len, m->u.relation.table.p);
    t->replica_identity = m->u.relation.replica_identity;
    for (uint16_t i = 0; i < m->u.relation.ncolumns; i++) {
        const dscdc_rel_column_t *rc = &m->u.relation.columns[i];
        dscdc_column_t           *col = &t->columns[i];

        if (rc->name.len >= DSCDC_NAME_MAX) {
            return -1;
        }
        memset(col, 0, sizeof(*col));
        snprintf(col->name, sizeof(col->name), "%.*s", (int) rc->name.len, rc->name.p);
        col->type_oid = rc->type_oid;
        col->typmod = rc->typmod;
        col->key = rc->key;
        t->ncolumns = (uint16_t) (i + 1);
    }
    if (dscdc_table_complete(b->catalog, t) != 0 || dscdc_table_finish(t, b->cfg->topic_prefix) != 0) {
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- stream */

static int
publish_change(dscdc_bridge_t *b, stream_state_t *st, const dscdc_msg_t *m, uint64_t lsn)
{
    dscdc_source_t src = { b->cfg->topic_prefix, b->db, "false", st->commit_time_us, lsn,
                           st->last_commit_lsn, st->xid, dscdc_now_us() };
    const dscdc_table_t *t;

    if (m->kind == DSCDC_MSG_TRUNCATE) {
        for (uint32_t i = 0; i < m->u.truncate.nrelids; i++) {
            dscdc_change_t chg = { 't', DSCDC_ROW_NONE, NULL, DSCDC_ROW_NONE, NULL };
            if ((t = relation_find(b, m->u.truncate.relids[i])) == NULL
                || dscdc_bridge_publish(b, t, &chg, &src) != 0)
            {
                return -1;
            }
        }
        return 0;
    }
    if ((t = relation_find(b, m->u.change.relid)) == NULL) {
        dscdc_log("error", "change of a relation never described", NULL);
        return -1;
    }
    const dscdc_tuple_t *old = &m->u.change.old_tuple, *new = &m->u.change.new_tuple;
    dscdc_row_kind_e     old_kind = !m->u.change.has_old ? DSCDC_ROW_NONE
                                  : m->u.change.old_kind == 'O' ? DSCDC_ROW_FULL : DSCDC_ROW_KEY_ONLY;
    dscdc_change_t       chg;

    switch (m->kind) {
    case DSCDC_MSG_INSERT:
        chg = (dscdc_change_t) { 'c', DSCDC_ROW_NONE, NULL, DSCDC_ROW_FULL, new };
        break;
    case DSCDC_MSG_DELETE:
        chg = (dscdc_change_t) { 'd', old_kind, old, DSCDC_ROW_NONE, NULL };
        break;
    default:
        if (old_kind == DSCDC_ROW_KEY_ONLY) {
            /* The key itself changed: Debezium shows the old key deleted and the new row created. */
            dscdc_change_t gone = { 'd', DSCDC_ROW_KEY_ONLY, old, DSCDC_ROW_NONE, NULL };
            if (dscdc_bridge_publish(b, t, &gone, &src) != 0) {
                return -1;
            }
            chg = (dscdc_change_t) { 'c', DSCDC_ROW_NONE, NULL, DSCDC_ROW_FULL, new };
        } else {
            chg = (dscdc_change_t) { 'u', old_kind, old, DSCDC_ROW_FULL, new };
        }
    }
    return dscdc_bridge_publish(b, t, &chg, &src);
}

static int
handle_message(dscdc_bridge_t *b, stream_state_t *st, const dscdc_msg_t *m, uint64_t lsn)
{
    switch (m->kind) {
    case DSCDC_MSG_BEGIN:
        st->in_transaction = 1;
        st->xid = m->u.begin.xid;
        st->commit_time_us = m->u.begin.commit_time_us;
        return 0;
    case DSCDC_MSG_COMMIT:
        st->in_transaction = 0;
        st->last_commit_lsn = m->u.commit.commit_lsn;
        st->committed_end = m->u.commit.end_lsn;
        atomic_fetch_add(&dscdc_metrics.transactions, 1);
        return 0;
    case DSCDC_MSG_RELATION:
        return relation_learn(b, m);
    case DSCDC_MSG_OTHER:
        return 0;
    default:
        return publish_change(b, st, m, lsn);
    }
}

/* Once a status interval (or when the server asks): wait for JetStream's acks
 * of what was published, then let the slot move on to what they cover.
 * Waiting at every idle moment would hold up the next transaction by a round
 * trip to NATS: publishes leave at once, only the confirmation is periodic. */
static int
confirm(dscdc_bridge_t *b, stream_state_t *st, int force)
{
    int64_t  now = dscdc_now_us();
    uint64_t safe = st->committed_end;

    if (!force && now - st->last_confirm_us < (int64_t) b->cfg->status_interval_ms * 1000) {
        return 0;
    }
    st->last_confirm_us = now;
    if (dscdc_bridge_flush(b) != 0) {
        return -1;
    }
    if (safe > st->flushed) {
        st->flushed = safe;
        atomic_store(&dscdc_metrics.confirmed_lsn, safe);
    }
    if (now - st->window_start_us >= (int64_t) b->cfg->status_interval_ms * 1000) {
        uint64_t events = 0;
        for (int i = 0; DSCDC_OPS[i]; i++) {
            events += atomic_load(&dscdc_metrics.events[i]);
        }
        atomic_store(&dscdc_metrics.events_per_second,
                     (events - st->events_at_window) * 1000000000ULL / (uint64_t) (now - st->window_start_us));
        st->events_at_window = events;
        st->window_start_us = now;
    }
    return dscdc_replication_confirm(b->repl, st->flushed);
}

static int
stream(dscdc_bridge_t *b, uint64_t start_lsn)
{
    static dscdc_msg_t msg;
    stream_state_t     st;
    dscdc_frame_t      f;

    memset(&st, 0, sizeof(st));
    st.flushed = st.committed_end = start_lsn;
    st.window_start_us = dscdc_now_us();
    if (dscdc_replication_start(b->repl, b->cfg->slot_name, b->cfg->publication_name) != 0) {
        return -1;
    }
    atomic_store(&dscdc_metrics.streaming, 1);
    dscdc_log("info", "streaming", "slot", b->cfg->slot_name, NULL);
    while (!dscdc_stop_requested) {
        dscdc_replication_read(b->repl, &f);
        if (f.kind == DSCDC_FRAME_ERROR) {
            PQfreemem(f.buffer);
            break;
        }
        if (f.kind == DSCDC_FRAME_NONE) {
            if (confirm(b, &st, 0) != 0 || dscdc_replication_wait(b->repl, b->cfg->status_interval_ms) != 0) {
                break;
            }
            continue;
        }
        if (f.wal_end > atomic_load(&dscdc_metrics.server_wal_end)) {
            atomic_store(&dscdc_metrics.server_wal_end, f.wal_end);
        }
        if (f.kind == DSCDC_FRAME_KEEPALIVE) {
            /* Between transactions with every event acked, all WAL the server
             * has sent so far is done with. */
            if (!st.in_transaction && b->unacked == 0 && f.wal_end > st.committed_end) {
                st.committed_end = f.wal_end;
            }
            PQfreemem(f.buffer);
            if (confirm(b, &st, f.reply_requested) != 0) {
                break;
            }
            continue;
        }
        if (dscdc_pgoutput_parse(f.data, f.len, &msg) != 0) {
            dscdc_log("error", "malformed pgoutput message", NULL);
            PQfreemem(f.buffer);
            break;
        }
        if (handle_message(b, &st, &msg, f.wal_start) != 0) {
            PQfreemem(f.buffer);
            break;
        }
        PQfreemem(f.buffer);
    }
    atomic_store(&dscdc_metrics.streaming, 0);
    if (dscdc_stop_requested) {
        /* A clean stop confirms what JetStream holds, so the next start does not resend it. */
        return confirm(b, &st, 1);
    }
    return -1;
}

/* ---------------------------------------------------------------- session */

static void
session_close(dscdc_bridge_t *b)
{
    relations_clear(b);
    PQfinish(b->repl);
    PQfinish(b->catalog);
    b->repl = b->catalog = NULL;
}

static int
session(dscdc_bridge_t *b)
{
    const dscdc_config_t *cfg = b->cfg;
    char                  snapshot_name[DSCDC_SNAPSHOT_NAME_MAX];
    uint64_t              consistent = 0;
    int                   exists;

    if ((b->catalog = dscdc_pg_connect(cfg->database_url, 0)) == NULL
        || (b->repl = dscdc_pg_connect(cfg->database_url, 1)) == NULL
        || dscdc_publication_ensure(b->catalog, cfg) != 0
        || (exists = dscdc_slot_exists(b->catalog, cfg->slot_name)) < 0)
    {
        return -1;
    }
    snprintf(b->db, sizeof(b->db), "%s", PQdb(b->catalog));
    if (exists && cfg->snapshot_initial && (b->snapshot_failed || !offsets_snapshot_done(cfg))) {
        dscdc_log("warn", "slot without a finished snapshot: making it again", "slot", cfg->slot_name, NULL);
        if (dscdc_slot_drop(b->catalog, cfg->slot_name) != 0) {
            return -1;
        }
        exists = 0;
    }
    if (!exists) {
        if (dscdc_slot_create(b->repl, cfg->slot_name, cfg->snapshot_initial, &consistent,
                              snapshot_name, sizeof(snapshot_name)) != 0)
        {
            return -1;
        }
        if (cfg->snapshot_initial) {
            b->snapshot_failed = dscdc_snapshot_run(b, snapshot_name, consistent) != 0
                                 || offsets_save_snapshot_done(cfg, consistent) != 0;
            if (b->snapshot_failed) {
                return -1;
            }
        }
    }
    return stream(b, consistent);
}

int
main(int argc, char **argv)
{
    dscdc_config_t          cfg;
    dscdc_bridge_t          b;
    dscdc_metrics_server_t *metrics = NULL;
    int                     backoff_ms = 100;

    if (argc > 1) {
        dscdc_config_usage(strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    if (dscdc_config_load(&cfg, stderr) != 0) {
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (cfg.metrics_port != 0 && (metrics = dscdc_metrics_start(cfg.metrics_port)) == NULL) {
        dscdc_log("error", "cannot listen for metrics", NULL);
        return 1;
    }
    memset(&b, 0, sizeof(b));
    b.cfg = &cfg;
    if (dsf_nats_connect_as(&b.nats, cfg.nats_url, cfg.nats_user, cfg.nats_password) != 0
        || (cfg.create_stream
            && dsf_nats_ensure_stream(&b.nats, cfg.stream_name, cfg.topic_prefix) != 0))
    {
        dsf_nats_close(&b.nats);
        dscdc_metrics_stop(metrics);
        nats_Close();
        return 1;
    }
    dscdc_log("info", "datastream-cdc starting (local stand-in for Debezium Server)",
              "slot", cfg.slot_name, "publication", cfg.publication_name,
              "prefix", cfg.topic_prefix, NULL);
    while (!dscdc_stop_requested) {
        int rc = session(&b);

        session_close(&b);
        b.unacked = 0;
        if (rc == 0 || dscdc_stop_requested) {
            break;
        }
        /* PostgreSQL or NATS away: resume from the slot's confirmed position. */
        atomic_fetch_add(&dscdc_metrics.restarts, 1);
        usleep((useconds_t) backoff_ms * 1000);
        backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000;
    }
    dscdc_log("info", "datastream-cdc stopped", NULL);
    dsf_nats_close(&b.nats);
    dscdc_metrics_stop(metrics);
    nats_Close();
    return 0;
}
