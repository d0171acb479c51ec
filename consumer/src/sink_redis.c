#include "sink_redis.h"

#include "log.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char lua_round_upsert[], lua_round_delete[], lua_rounds_truncate[],
    lua_round_published[], lua_game_upsert[], lua_game_delete[], lua_games_lookup[];

typedef enum {
    S_ROUND_UPSERT, S_ROUND_DELETE, S_ROUNDS_TRUNCATE, S_ROUND_PUBLISHED,
    S_GAME_UPSERT, S_GAME_DELETE, S_GAMES_LOOKUP, S_COUNT
} script_id;

static const char *const script_source[S_COUNT] = {
    lua_round_upsert, lua_round_delete, lua_rounds_truncate, lua_round_published,
    lua_game_upsert, lua_game_delete, lua_games_lookup,
};

#define MAX_ARGS 16
#define LOOKUP_IDS_PER_CALL (MAX_ARGS - 1)
#define NUM_MAX 24

struct ds_redis {
    const ds_config *cfg;
    redisContext *ctx;
    char sha[S_COUNT][41];
};

/* One script invocation: EVALSHA sha 0 args... ; numeric args live in nums. */
typedef struct {
    script_id script;
    int argc;
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    char nums[MAX_ARGS][NUM_MAX];
} script_call;

ds_redis *ds_redis_new(const ds_config *cfg)
{
    ds_redis *r = calloc(1, sizeof *r);
    if (r)
        r->cfg = cfg;
    return r;
}

static void drop_connection(ds_redis *r, const char *why)
{
    if (r->ctx) {
        ds_log(LOG_WARN, "redis connection lost", "{s:s, s:s}", "error",
               r->ctx->err ? r->ctx->errstr : why, "context", why);
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void ds_redis_free(ds_redis *r)
{
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    free(r);
}

static int load_scripts(ds_redis *r)
{
    for (int i = 0; i < S_COUNT; i++) {
        redisReply *rep = redisCommand(r->ctx, "SCRIPT LOAD %s", script_source[i]);
        if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        memcpy(r->sha[i], rep->str, 41);
        freeReplyObject(rep);
    }
    return 0;
}

int ds_redis_ensure(ds_redis *r)
{
    if (r->ctx)
        return 0;
    struct timeval connect_timeout = {2, 0}, io_timeout = {5, 0};
    r->ctx = redisConnectWithTimeout(r->cfg->redis_host, r->cfg->redis_port, connect_timeout);
    if (!r->ctx || r->ctx->err) {
        ds_log(LOG_WARN, "redis connect failed", "{s:s}", "error",
               r->ctx ? r->ctx->errstr : "out of memory");
        if (r->ctx)
            redisFree(r->ctx);
        r->ctx = NULL;
        return -1;
    }
    if (redisSetTimeout(r->ctx, io_timeout) != REDIS_OK) {
        drop_connection(r, "set timeout");
        return -1;
    }
    redisReply *rep = redisCommand(r->ctx, "SELECT %d", r->cfg->redis_db);
    bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    if (!ok || load_scripts(r) != 0) {
        drop_connection(r, "select db / load scripts");
        return -1;
    }
    ds_log(LOG_INFO, "redis connected", "{s:s, s:i}", "host", r->cfg->redis_host, "port",
           r->cfg->redis_port);
    return 0;
}

int ds_redis_ping(ds_redis *r)
{
    if (ds_redis_ensure(r) != 0)
        return -1;
    redisReply *rep = redisCommand(r->ctx, "PING");
    bool ok = rep && rep->type == REDIS_REPLY_STATUS;
    if (rep)
        freeReplyObject(rep);
    if (!ok)
        drop_connection(r, "ping");
    return ok ? 0 : -1;
}

static void call_init(script_call *c, script_id script, const char *prefix)
{
    c->script = script;
    c->argc = 0;
    c->argv[c->argc] = prefix;
    c->argvlen[c->argc++] = strlen(prefix);
}

static void call_str(script_call *c, const char *s)
{
    c->argv[c->argc] = s;
    c->argvlen[c->argc++] = strlen(s);
}

static void call_int(script_call *c, int64_t v)
{
    snprintf(c->nums[c->argc], NUM_MAX, "%" PRId64, v);
    call_str(c, c->nums[c->argc]);
}

/* Zero-padded so that Lua compares LSNs as strings without losing precision. */
static void call_lsn(script_call *c, uint64_t lsn)
{
    snprintf(c->nums[c->argc], NUM_MAX, "%020" PRIu64, lsn);
    call_str(c, c->nums[c->argc]);
}

static int append_call(ds_redis *r, const script_call *c, bool by_sha)
{
    const char *argv[MAX_ARGS + 3];
    size_t lens[MAX_ARGS + 3];
    argv[0] = by_sha ? "EVALSHA" : "EVAL";
    argv[1] = by_sha ? r->sha[c->script] : script_source[c->script];
    argv[2] = "0";
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(argv[i]);
    memcpy(argv + 3, c->argv, sizeof(char *) * (size_t)c->argc);
    memcpy(lens + 3, c->argvlen, sizeof(size_t) * (size_t)c->argc);
    return redisAppendCommandArgv(r->ctx, c->argc + 3, argv, lens) == REDIS_OK ? 0 : -1;
}

static bool is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* Sends all calls in one pipeline; replies[i] is owned by the caller on success. A NOSCRIPT
 * (script cache flushed) is retried with EVAL; the scripts are idempotent, so a retry that
 * lands after later calls of the same pipeline is still correct. */
static int run_calls(ds_redis *r, script_call *const *calls, size_t n, redisReply **replies)
{
    memset(replies, 0, sizeof(*replies) * n);
    if (ds_redis_ensure(r) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (append_call(r, calls[i], true) != 0)
            goto fail;
    for (size_t i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r->ctx, &rep) != REDIS_OK || !rep)
            goto fail;
        replies[i] = rep;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_noscript(replies[i]))
            continue;
        freeReplyObject(replies[i]);
        replies[i] = NULL;
        void *rep = NULL;
        if (append_call(r, calls[i], false) != 0 || redisGetReply(r->ctx, &rep) != REDIS_OK || !rep)
            goto fail;
        replies[i] = rep;
    }
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
    memset(replies, 0, sizeof(*replies) * n);
    drop_connection(r, "pipeline");
    return -1;
}

static int parse_status(const redisReply *rep, ds_apply_status *status, bool *publish)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        ds_log(LOG_ERROR, "redis script error", "{s:s}", "error", rep->str);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    const char *s = rep->element[0]->str;
    *status = strcmp(s, "applied") == 0 ? APPLY_APPLIED
              : strcmp(s, "duplicate") == 0 ? APPLY_DUPLICATE : APPLY_STALE;
    *publish = rep->element[1]->integer == 1;
    return 0;
}

/* Runs calls and parses {status, publish} replies. */
static int run_status_calls(ds_redis *r, script_call *const *calls, size_t n,
                            ds_apply_status *status, bool *publish)
{
    redisReply **replies = calloc(n, sizeof *replies);
    if (!replies)
        return -1;
    int rc = run_calls(r, calls, n, replies);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (parse_status(replies[i], &status[i], &publish[i]) != 0)
            rc = -1;
    for (size_t i = 0; i < n; i++)
        if (replies[i])
            freeReplyObject(replies[i]);
    free(replies);
    return rc;
}

static void build_round_call(const ds_config *cfg, const ds_round_apply *it, script_call *c)
{
    const ds_round_event *ev = it->ev;
    if (ev->op == OP_TRUNCATE) {
        call_init(c, S_ROUNDS_TRUNCATE, cfg->redis_prefix);
        call_lsn(c, ev->lsn);
    } else if (ev->op == OP_DELETE) {
        call_init(c, S_ROUND_DELETE, cfg->redis_prefix);
        call_int(c, ev->row.id);
        call_lsn(c, ev->lsn);
        call_int(c, cfg->version_ttl_s);
    } else {
        call_init(c, S_ROUND_UPSERT, cfg->redis_prefix);
        call_str(c, ev->op == OP_CREATE ? "c" : ev->op == OP_UPDATE ? "u" : "r");
        call_int(c, ev->row.id);
        call_lsn(c, ev->lsn);
        call_str(c, it->slug);
        call_str(c, it->type);
        call_str(c, it->json);
        call_int(c, cfg->history_max);
        call_int(c, cfg->version_ttl_s);
    }
}

/* Shared by apply and mark-published: build one call per item, run, collect statuses. */
static int run_round_calls(ds_redis *r, ds_round_apply *const *items, size_t n, bool mark)
{
    if (n == 0)
        return 0;
    script_call *calls = calloc(n, sizeof *calls);
    script_call **ptrs = calloc(n, sizeof *ptrs);
    ds_apply_status *status = calloc(n, sizeof *status);
    bool *publish = calloc(n, sizeof *publish);
    int rc = -1;
    if (!calls || !ptrs || !status || !publish)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = &calls[i];
        if (mark) {
            call_init(&calls[i], S_ROUND_PUBLISHED, r->cfg->redis_prefix);
            call_int(&calls[i], items[i]->ev->row.id);
            call_lsn(&calls[i], items[i]->ev->lsn);
        } else {
            build_round_call(r->cfg, items[i], &calls[i]);
        }
    }
    rc = run_status_calls(r, ptrs, n, status, publish);
    for (size_t i = 0; i < n && rc == 0 && !mark; i++) {
        items[i]->status = status[i];
        items[i]->publish = publish[i];
    }
out:
    free(calls);
    free(ptrs);
    free(status);
    free(publish);
    return rc;
}

int ds_redis_apply_rounds(ds_redis *r, ds_round_apply *items, size_t n)
{
    ds_round_apply **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!ptrs)
        return -1;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &items[i];
    int rc = run_round_calls(r, ptrs, n, false);
    free(ptrs);
    return rc;
}

int ds_redis_mark_published(ds_redis *r, ds_round_apply *const *items, size_t n)
{
    return run_round_calls(r, items, n, true);
}

int ds_redis_apply_game(ds_redis *r, const ds_game_event *ev, ds_apply_status *status)
{
    script_call *c = calloc(1, sizeof *c);
    char *json = NULL;
    int rc = -1;
    if (!c)
        return -1;
    if (ev->op == OP_DELETE) {
        call_init(c, S_GAME_DELETE, r->cfg->redis_prefix);
        call_int(c, ev->row.id);
        call_lsn(c, ev->lsn);
    } else {
        json = ds_game_json(&ev->row);
        if (!json)
            goto out;
        call_init(c, S_GAME_UPSERT, r->cfg->redis_prefix);
        call_int(c, ev->row.id);
        call_lsn(c, ev->lsn);
        call_str(c, ev->row.slug);
        call_str(c, json);
    }
    bool publish;
    rc = run_status_calls(r, &c, 1, status, &publish);
out:
    free(json);
    free(c);
    return rc;
}

static bool parse_game_entry(const redisReply *rep, int64_t id, ds_game_ref *out)
{
    if (rep->type != REDIS_REPLY_STRING)
        return false;
    json_t *obj = json_loadb(rep->str, rep->len, 0, NULL);
    const char *slug = json_string_value(json_object_get(obj, "slug"));
    const char *type = json_string_value(json_object_get(obj, "type"));
    bool ok = slug && type && ds_name_valid(slug) && ds_name_valid(type);
    if (ok) {
        out->id = id;
        memcpy(out->slug, slug, strlen(slug) + 1);
        memcpy(out->type, type, strlen(type) + 1);
    }
    json_decref(obj);
    return ok;
}

int ds_redis_lookup_games(ds_redis *r, const int64_t *ids, size_t n, ds_game_ref *out,
                          bool *found)
{
    memset(found, 0, sizeof(*found) * n);
    if (n == 0)
        return 0;
    size_t ncalls = (n + LOOKUP_IDS_PER_CALL - 1) / LOOKUP_IDS_PER_CALL;
    script_call *calls = calloc(ncalls, sizeof *calls);
    script_call **ptrs = calloc(ncalls, sizeof *ptrs);
    redisReply **replies = calloc(ncalls, sizeof *replies);
    int rc = -1;
    if (!calls || !ptrs || !replies)
        goto out;
    for (size_t k = 0; k < ncalls; k++) {
        ptrs[k] = &calls[k];
        call_init(&calls[k], S_GAMES_LOOKUP, r->cfg->redis_prefix);
        for (size_t i = k * LOOKUP_IDS_PER_CALL; i < n && i < (k + 1) * LOOKUP_IDS_PER_CALL; i++)
            call_int(&calls[k], ids[i]);
    }
    if (run_calls(r, ptrs, ncalls, replies) != 0)
        goto out;
    rc = 0;
    for (size_t k = 0; k < ncalls; k++) {
        const redisReply *rep = replies[k];
        size_t first = k * LOOKUP_IDS_PER_CALL;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)(calls[k].argc - 1)) {
            rc = -1;
            continue;
        }
        for (size_t j = 0; j < rep->elements; j++)
            found[first + j] = parse_game_entry(rep->element[j], ids[first + j], &out[first + j]);
    }
    for (size_t k = 0; k < ncalls; k++)
        freeReplyObject(replies[k]);
out:
    free(calls);
    free(ptrs);
    free(replies);
    return rc;
}
