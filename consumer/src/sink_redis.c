#include "sink_redis.h"

#include "datastream_keys.h"
#include "log.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char lua_rounds_apply[], lua_rounds_published[], lua_rounds_lease[],
    lua_game_upsert[], lua_game_delete[], lua_games_lookup[];

typedef enum {
    S_ROUNDS_APPLY, S_ROUNDS_PUBLISHED, S_ROUNDS_LEASE, S_GAME_UPSERT, S_GAME_DELETE,
    S_GAMES_LOOKUP, S_COUNT
} script_id;

static const char *const script_source[S_COUNT] = {
    lua_rounds_apply, lua_rounds_published, lua_rounds_lease, lua_game_upsert, lua_game_delete,
    lua_games_lookup,
};

#define NUM_MAX 24
/* EVALSHA sha numkeys: the words before a script's own arguments. */
#define CALL_HEAD 3
/* rounds_apply.lua: prefix, history_max, version_ttl, owner, lease_ms, registry_rev,
 * nchan_prefix, nchan_buffer, nchan_ttl, then op, live, id, lsn, slug, type, json per event. */
#define APPLY_FIXED_ARGS 9
#define APPLY_ARGS_PER_EVENT 7

struct dsc_redis_s {
    const dsc_config_t *cfg;
    redisContext *ctx;
    char sha[S_COUNT][41];
};

/* One script invocation: EVALSHA sha 0 args... The words are laid out with room for the
 * head, so the command goes to hiredis without copying; numeric args live in nums. */
typedef struct {
    script_id script;
    size_t argc, cap;       /* arguments after the head */
    bool invalid;           /* an argument did not fit or was unknown: not sent */
    const char **words;     /* CALL_HEAD + cap */
    size_t *lens;
    char (*nums)[NUM_MAX];  /* one slot per argument */
} script_call;

dsc_redis_t *dsc_redis_new(const dsc_config_t *cfg)
{
    dsc_redis_t *r = calloc(1, sizeof *r);
    if (r)
        r->cfg = cfg;
    return r;
}

static void drop_connection(dsc_redis_t *r, const char *why)
{
    if (r->ctx) {
        dsc_log(DSC_LOG_WARN, "redis connection lost", "{s:s, s:s}", "error",
                r->ctx->err ? r->ctx->errstr : why, "context", why);
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void dsc_redis_free(dsc_redis_t *r)
{
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    free(r);
}

static int load_scripts(dsc_redis_t *r)
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

int dsc_redis_ensure(dsc_redis_t *r)
{
    if (r->ctx)
        return 0;
    struct timeval connect_timeout = {2, 0}, io_timeout = {5, 0};
    r->ctx = redisConnectWithTimeout(r->cfg->redis_host, r->cfg->redis_port, connect_timeout);
    if (!r->ctx || r->ctx->err) {
        dsc_log(DSC_LOG_WARN, "redis connect failed", "{s:s}", "error",
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
    dsc_log(DSC_LOG_INFO, "redis connected", "{s:s, s:i}", "host", r->cfg->redis_host, "port",
            r->cfg->redis_port);
    return 0;
}

/* The value of "name:<integer>" on a line of an INFO reply, or -1. */
static int64_t info_field(const char *info, const char *name)
{
    size_t len = strlen(name);
    const char *p = info;
    while (p) {
        if (strncmp(p, name, len) == 0 && p[len] == ':') {
            char *end;
            long long v = strtoll(p + len + 1, &end, 10);
            return end != p + len + 1 && v >= 0 ? (int64_t)v : -1;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

int dsc_redis_probe_memory(dsc_redis_t *r, int64_t *used, int64_t *max)
{
    if (dsc_redis_ensure(r) != 0)
        return -1;
    redisReply *rep = redisCommand(r->ctx, "INFO memory");
    bool ok = rep && rep->type == REDIS_REPLY_STRING;
    if (ok) {
        *used = info_field(rep->str, "used_memory");
        *max = info_field(rep->str, "maxmemory");
        ok = *used >= 0 && *max >= 0;
    }
    if (rep)
        freeReplyObject(rep);
    if (!ok)
        drop_connection(r, "info memory");
    return ok ? 0 : -1;
}

static void call_str(script_call *c, const char *s)
{
    if (c->argc == c->cap) {
        c->invalid = true;
        return;
    }
    c->words[CALL_HEAD + c->argc] = s;
    c->lens[CALL_HEAD + c->argc++] = strlen(s);
}

/* An argument formatted into the call's own slot, so it lives as long as the call. */
static void call_fmt(script_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void call_fmt(script_call *c, const char *fmt, ...)
{
    if (c->argc == c->cap) {
        c->invalid = true;
        return;
    }
    char *n = c->nums[c->argc];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n, NUM_MAX, fmt, ap);
    va_end(ap);
    call_str(c, n);
}

static void call_int(script_call *c, int64_t v)
{
    call_fmt(c, "%" PRId64, v);
}

/* Zero-padded so that Lua compares LSNs as strings without losing precision. */
static void call_lsn(script_call *c, uint64_t lsn)
{
    call_fmt(c, "%020" PRIu64, lsn);
}

/* cap: how many arguments will follow the prefix. */
static int call_init(script_call *c, script_id script, const char *prefix, size_t cap)
{
    *c = (script_call){.script = script, .cap = cap + 1};
    c->words = calloc(CALL_HEAD + c->cap, sizeof *c->words);
    c->lens = calloc(CALL_HEAD + c->cap, sizeof *c->lens);
    c->nums = calloc(c->cap, sizeof *c->nums);
    if (!c->words || !c->lens || !c->nums)
        return -1;
    call_str(c, prefix);
    return 0;
}

static void call_free(script_call *c)
{
    free(c->words);
    free(c->lens);
    free(c->nums);
}

static int append_call(dsc_redis_t *r, script_call *c, bool by_sha)
{
    if (c->invalid)
        return -1;
    c->words[0] = by_sha ? "EVALSHA" : "EVAL";
    c->words[1] = by_sha ? r->sha[c->script] : script_source[c->script];
    c->words[2] = "0";
    for (int i = 0; i < CALL_HEAD; i++)
        c->lens[i] = strlen(c->words[i]);
    return redisAppendCommandArgv(r->ctx, (int)(CALL_HEAD + c->argc), c->words, c->lens) == REDIS_OK
               ? 0
               : -1;
}

static bool is_noscript(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* One attempt; on failure the connection is dropped and *closed tells whether the server had
 * closed it (as opposed to a timeout or an error of the call itself). */
static int call_once(dsc_redis_t *r, script_call *c, redisReply **reply, bool *closed)
{
    void *rep = NULL;
    *reply = NULL;
    *closed = false;
    if (dsc_redis_ensure(r) != 0)
        return -1;
    if (append_call(r, c, true) != 0 || redisGetReply(r->ctx, &rep) != REDIS_OK || !rep)
        goto fail;
    if (is_noscript(rep)) {
        freeReplyObject(rep);
        rep = NULL;
        if (append_call(r, c, false) != 0 || redisGetReply(r->ctx, &rep) != REDIS_OK || !rep)
            goto fail;
    }
    *reply = rep;
    return 0;
fail:
    *closed = r->ctx->err == REDIS_ERR_EOF ||
              (r->ctx->err == REDIS_ERR_IO && (errno == ECONNRESET || errno == EPIPE));
    if (rep)
        freeReplyObject(rep);
    drop_connection(r, "script call");
    return -1;
}

/* Runs one call; *reply is owned by the caller on success. A NOSCRIPT (script cache flushed)
 * is retried with EVAL. A connection that sat idle while Redis restarted is only found closed
 * when used: the call is then retried once on a new connection (every script is idempotent),
 * so a Redis restart does not fail the first batch after it. */
static int run_call(dsc_redis_t *r, script_call *c, redisReply **reply)
{
    bool reused = r->ctx != NULL, closed = false;
    if (call_once(r, c, reply, &closed) == 0)
        return 0;
    if (!reused || !closed)
        return -1;
    return call_once(r, c, reply, &closed);
}

/* Takes element i of an array reply into the caller's output; -1 rejects the whole reply. */
typedef int (*element_parser)(const redisReply *el, size_t i, void *out);

/* Runs one call whose reply must be an array of n elements and hands each element to parse;
 * an error reply starting with refusal (when given) returns refused instead of failing. */
static int run_array_call_or(dsc_redis_t *r, script_call *c, size_t n, element_parser parse,
                             void *out, const char *refusal, int refused)
{
    redisReply *reply = NULL;
    int rc = -1;
    if (run_call(r, c, &reply) != 0)
        goto out;
    if (reply->type == REDIS_REPLY_ERROR && refusal &&
        strncmp(reply->str, refusal, strlen(refusal)) == 0) {
        rc = refused;
        goto out;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        dsc_log(DSC_LOG_ERROR, "redis script error", "{s:s}", "error", reply->str);
        goto out;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (parse(reply->element[i], i, out) != 0)
            goto out;
    rc = 0;
out:
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static int run_array_call(dsc_redis_t *r, script_call *c, size_t n, element_parser parse, void *out)
{
    return run_array_call_or(r, c, n, parse, out, NULL, 0);
}

static int parse_status(const redisReply *rep, dsc_apply_status_e *status,
                        dsc_publish_due_e *publish)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        dsc_log(DSC_LOG_ERROR, "redis script error", "{s:s}", "error", rep->str);
        return -1;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_INTEGER)
        return -1;
    const char *s = rep->element[0]->str;
    *status = strcmp(s, "applied") == 0 ? DSC_APPLY_APPLIED
              : strcmp(s, "duplicate") == 0 ? DSC_APPLY_DUPLICATE : DSC_APPLY_STALE;
    long long due = rep->element[1]->integer;
    *publish = due == 1 ? DSC_PUBLISH_OWED : due == 2 ? DSC_PUBLISH_LEASE_BUSY : DSC_PUBLISH_NONE;
    return 0;
}

/* Runs one call whose reply is {status, publish}. */
static int run_status_call(dsc_redis_t *r, script_call *c, dsc_apply_status_e *status,
                           dsc_publish_due_e *publish)
{
    redisReply *reply = NULL;
    int rc = run_call(r, c, &reply);
    if (rc == 0)
        rc = parse_status(reply, status, publish);
    if (reply)
        freeReplyObject(reply);
    return rc;
}

static void call_char(script_call *c, char ch)
{
    call_fmt(c, "%c", ch);
}

/* Whether a version is published live is the contract's decision (datastream_op_info), not
 * the script's: it gets the flag with each event and keeps it in the version hash. */
static void add_round_event(script_call *c, const dsc_round_apply_t *it)
{
    const dsc_round_event_t *ev = it->ev;
    const datastream_op_t *op = datastream_op_info(ev->op);
    bool after = op->row == DATASTREAM_ROW_AFTER;
    /* Logical decoding messages are settled before the read model; the script has no such op. */
    if (ev->op == DATASTREAM_OP_MESSAGE) {
        c->invalid = true;
        return;
    }
    call_char(c, op->letter);
    call_str(c, op->is_live ? "1" : "0");
    if (op->row == DATASTREAM_ROW_NONE)
        call_str(c, "");
    else
        call_int(c, ev->row.id);
    call_lsn(c, ev->lsn);
    call_str(c, after ? it->slug : "");
    call_str(c, after ? it->type : "");
    call_str(c, after ? it->json : "");
}

static int parse_apply(const redisReply *el, size_t i, void *out)
{
    dsc_round_apply_t *items = out;
    return parse_status(el, &items[i].status, &items[i].publish);
}

int dsc_redis_apply_rounds(dsc_redis_t *r, dsc_round_apply_t *items, size_t n,
                           const char *registry_rev)
{
    if (n == 0)
        return 0;
    script_call call;
    int rc = -1;
    if (call_init(&call, S_ROUNDS_APPLY, r->cfg->redis_prefix,
                  APPLY_FIXED_ARGS + APPLY_ARGS_PER_EVENT * n) == 0) {
        call_int(&call, r->cfg->history_max);
        call_int(&call, r->cfg->version_ttl_s);
        call_str(&call, r->cfg->owner);
        call_int(&call, r->cfg->publication_lease_ms);
        call_str(&call, registry_rev);
        call_str(&call, DATASTREAM_NCHAN_CHANNEL_KEY);
        call_int(&call, r->cfg->nchan_buffer_length);
        call_int(&call, r->cfg->nchan_message_timeout_s);
        for (size_t i = 0; i < n; i++)
            add_round_event(&call, &items[i]);
        rc = run_array_call_or(r, &call, n, parse_apply, items, "REGISTRY_CHANGED",
                               DSC_REDIS_REGISTRY_CHANGED);
    }
    call_free(&call);
    return rc;
}

/* Adds round_id, lsn of each version. */
static void add_versions(script_call *c, dsc_round_apply_t *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        call_int(c, items[i]->ev->row.id);
        call_lsn(c, items[i]->ev->lsn);
    }
}

int dsc_redis_mark_published(dsc_redis_t *r, dsc_round_apply_t *const *items, size_t n)
{
    if (n == 0)
        return 0;
    script_call call;
    dsc_apply_status_e status;
    dsc_publish_due_e publish;
    int rc = -1;
    if (call_init(&call, S_ROUNDS_PUBLISHED, r->cfg->redis_prefix, 1 + 2 * n) == 0) {
        call_str(&call, r->cfg->owner);
        add_versions(&call, items, n);
        rc = run_status_call(r, &call, &status, &publish);
    }
    call_free(&call);
    return rc;
}

static int parse_lease(const redisReply *el, size_t i, void *out)
{
    bool *keep = out;
    if (el->type != REDIS_REPLY_INTEGER)
        return -1;
    keep[i] = el->integer == 1;
    return 0;
}

int dsc_redis_hold_leases(dsc_redis_t *r, dsc_round_apply_t *const *items, size_t n, bool *keep)
{
    if (n == 0)
        return 0;
    script_call call;
    int rc = -1;
    if (call_init(&call, S_ROUNDS_LEASE, r->cfg->redis_prefix, 2 + 2 * n) == 0) {
        call_str(&call, r->cfg->owner);
        call_int(&call, r->cfg->publication_lease_ms);
        add_versions(&call, items, n);
        rc = run_array_call(r, &call, n, parse_lease, keep);
    }
    call_free(&call);
    return rc;
}

int dsc_redis_apply_game(dsc_redis_t *r, const dsc_game_event_t *ev, dsc_apply_status_e *status)
{
    script_call call;
    char *json = NULL;
    dsc_publish_due_e publish;
    int rc = -1;
    if (ev->op == DATASTREAM_OP_DELETE) {
        if (call_init(&call, S_GAME_DELETE, r->cfg->redis_prefix, 2) != 0)
            goto out;
        call_int(&call, ev->row.id);
        call_lsn(&call, ev->lsn);
    } else {
        if (call_init(&call, S_GAME_UPSERT, r->cfg->redis_prefix, 4) != 0)
            goto out;
        json = dsc_game_json(&ev->row);
        if (!json)
            goto out;
        call_int(&call, ev->row.id);
        call_lsn(&call, ev->lsn);
        call_str(&call, ev->row.slug);
        call_str(&call, json);
    }
    rc = run_status_call(r, &call, status, &publish);
out:
    free(json);
    call_free(&call);
    return rc;
}

/* Copies field of obj into dst when it is a slug or type by the contract's grammar. */
static bool copy_name(const json_t *obj, const char *field, char dst[DATASTREAM_NAME_MAX + 1])
{
    const json_t *v = json_object_get(obj, field);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!s || !datastream_name_valid(s, n))
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

static bool parse_game_entry(const redisReply *rep, int64_t id, dsc_game_ref_t *out)
{
    if (rep->type != REDIS_REPLY_STRING)
        return false;
    json_t *obj = json_loadb(rep->str, rep->len, 0, NULL);
    bool ok = copy_name(obj, "slug", out->slug) && copy_name(obj, "type", out->type);
    out->id = id;
    json_decref(obj);
    return ok;
}

typedef struct {
    const int64_t *ids;
    dsc_game_ref_t *refs;
    bool *found;
    char *rev;
} games_lookup;

/* Element 0 is the registry's revision, then one entry per id. */
static int parse_lookup(const redisReply *el, size_t i, void *out)
{
    games_lookup *g = out;
    if (i == 0) {
        if (el->type != REDIS_REPLY_STRING || el->len >= DSC_REGISTRY_REV_MAX)
            return -1;
        memcpy(g->rev, el->str, el->len + 1);
        return 0;
    }
    g->found[i - 1] = parse_game_entry(el, g->ids[i - 1], &g->refs[i - 1]);
    return 0;
}

int dsc_redis_lookup_games(dsc_redis_t *r, const int64_t *ids, size_t n, dsc_game_ref_t *out,
                           bool *found, char rev[DSC_REGISTRY_REV_MAX])
{
    memset(found, 0, sizeof(*found) * n);
    script_call call;
    games_lookup lookup = {ids, out, found, rev};
    int rc = -1;
    if (call_init(&call, S_GAMES_LOOKUP, r->cfg->redis_prefix, n) == 0) {
        for (size_t i = 0; i < n; i++)
            call_int(&call, ids[i]);
        rc = run_array_call(r, &call, n + 1, parse_lookup, &lookup);
    }
    call_free(&call);
    return rc;
}
