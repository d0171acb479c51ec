#include "store.h"

#include "datastream_keys.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for the longest prefix, a key name's stem and a hash. */
#define KEY_MAX (DATASTREAM_REDIS_PREFIX_MAX + 32 + DATASTREAM_APIKEY_HASH_HEX_LEN + 1)

static const struct timeval TIMEOUT = {.tv_sec = 5, .tv_usec = 0};

static const char *const FIELDS[] = {"name", "kind", "rate_limit", "origins", "created_at", "prefix"};
enum { N_FIELDS = sizeof FIELDS / sizeof FIELDS[0] };

/* Key names come from the contract (datastream_keys.h); false (logged) when one does not fit. */
static bool key_name(const dsk_store_t *s, datastream_key_e key, const char *hash, char out[KEY_MAX])
{
    datastream_key_part_t part = {hash, hash ? strlen(hash) : 0};
    if (datastream_key_build(out, KEY_MAX, s->prefix, strlen(s->prefix), key, &part, hash ? 1 : 0) == 0) {
        dsk_log_error("redis key name too long");
        return false;
    }
    return true;
}

static bool record_key(const dsk_store_t *s, const char *hash, char out[KEY_MAX])
{
    return key_name(s, DATASTREAM_KEY_APIKEY, hash, out);
}

static bool set_key(const dsk_store_t *s, char out[KEY_MAX])
{
    return key_name(s, DATASTREAM_KEY_APIKEYS, NULL, out);
}

/* Reads one reply; a transport failure or a Redis error reply is logged and
 * reported as NULL so callers have a single failure path. */
static redisReply *read_reply(dsk_store_t *s)
{
    void *raw = NULL;
    if (redisGetReply(s->redis, &raw) != REDIS_OK) {
        dsk_log_error("redis: %s", s->redis->errstr[0] ? s->redis->errstr : "connection lost");
        return NULL;
    }
    redisReply *r = raw;
    if (r->type == REDIS_REPLY_ERROR) {
        dsk_log_error("redis: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisReply *command(dsk_store_t *s, int argc, const char **argv)
{
    if (redisAppendCommandArgv(s->redis, argc, argv, NULL) != REDIS_OK) {
        dsk_log_error("redis: cannot queue command");
        return NULL;
    }
    return read_reply(s);
}

struct argv_cmd {
    int argc;
    const char **argv;
};

/* MULTI … EXEC so a key and its listing entry appear and vanish together.
 * Returns the EXEC array (free it) or NULL. */
static redisReply *transaction(dsk_store_t *s, const struct argv_cmd *cmds, size_t n)
{
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    bool queued = redisAppendCommandArgv(s->redis, 1, multi, NULL) == REDIS_OK;
    for (size_t i = 0; queued && i < n; i++)
        queued = redisAppendCommandArgv(s->redis, cmds[i].argc, cmds[i].argv, NULL) == REDIS_OK;
    if (!queued || redisAppendCommandArgv(s->redis, 1, exec, NULL) != REDIS_OK) {
        dsk_log_error("redis: cannot queue transaction");
        return NULL;
    }
    bool ok = true;
    for (size_t i = 0; i < n + 1; i++) {
        redisReply *r = read_reply(s);
        ok = ok && r != NULL;
        freeReplyObject(r);
    }
    redisReply *result = read_reply(s);
    if (!result)
        return NULL;
    for (size_t i = 0; ok && result->type == REDIS_REPLY_ARRAY && i < result->elements; i++)
        ok = result->element[i]->type != REDIS_REPLY_ERROR;
    if (!ok || result->type != REDIS_REPLY_ARRAY || result->elements != n) {
        dsk_log_error("redis: transaction aborted");
        freeReplyObject(result);
        return NULL;
    }
    return result;
}

static bool authenticate(dsk_store_t *s, const dsk_redis_url_t *url)
{
    if (!url->password[0])
        return true;
    const char *with_user[] = {"AUTH", url->user, url->password};
    const char *without_user[] = {"AUTH", url->password};
    redisReply *r = url->user[0] ? command(s, 3, with_user) : command(s, 2, without_user);
    bool ok = r != NULL;
    freeReplyObject(r);
    return ok;
}

static bool select_db(dsk_store_t *s, int db)
{
    if (db == 0)
        return true;
    char text[16];
    snprintf(text, sizeof text, "%d", db);
    const char *argv[] = {"SELECT", text};
    redisReply *r = command(s, 2, argv);
    bool ok = r != NULL;
    freeReplyObject(r);
    return ok;
}

bool dsk_store_open(dsk_store_t *s, const dsk_redis_url_t *url, const char *prefix)
{
    memset(s, 0, sizeof *s);
    if (strlen(prefix) > DATASTREAM_REDIS_PREFIX_MAX) {
        dsk_log_error("redis prefix longer than %d bytes", DATASTREAM_REDIS_PREFIX_MAX);
        return false;
    }
    strcpy(s->prefix, prefix);

    s->redis = redisConnectWithTimeout(url->host, url->port, TIMEOUT);
    if (!s->redis) {
        dsk_log_error("redis: out of memory");
        return false;
    }
    if (s->redis->err) {
        dsk_log_error("redis: cannot connect to %s:%d: %s", url->host, url->port, s->redis->errstr);
        dsk_store_close(s);
        return false;
    }
    if (redisSetTimeout(s->redis, TIMEOUT) != REDIS_OK) {
        dsk_log_error("redis: cannot set the socket timeout");
        dsk_store_close(s);
        return false;
    }
    /* These log their own failure. */
    if (!authenticate(s, url) || !select_db(s, url->db)) {
        dsk_store_close(s);
        return false;
    }
    return true;
}

void dsk_store_close(dsk_store_t *s)
{
    if (s->redis)
        redisFree(s->redis);
    s->redis = NULL;
}

bool dsk_store_put(dsk_store_t *s, const dsk_apikey_record_t *rec)
{
    char key[KEY_MAX], set[KEY_MAX], rate[24], created[24];
    if (!record_key(s, rec->hash, key) || !set_key(s, set))
        return false;
    snprintf(rate, sizeof rate, "%lld", rec->rate_limit);
    snprintf(created, sizeof created, "%lld", rec->created_at);

    const char *hset[] = {"HSET", key,
                          FIELDS[0], rec->name, FIELDS[1], rec->kind, FIELDS[2], rate,
                          FIELDS[3], rec->origins, FIELDS[4], created, FIELDS[5], rec->prefix};
    const char *sadd[] = {"SADD", set, rec->hash};
    const struct argv_cmd cmds[] = {{sizeof hset / sizeof *hset, hset}, {3, sadd}};
    redisReply *r = transaction(s, cmds, 2);
    bool ok = r != NULL;
    freeReplyObject(r);
    return ok;
}

static void copy_field(char *dst, size_t cap, const redisReply *r)
{
    dst[0] = '\0';
    if (r->type == REDIS_REPLY_STRING && r->len < cap)
        memcpy(dst, r->str, r->len + 1);
}

static long long int_field(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static bool fill_record(dsk_apikey_record_t *rec, const char *hash, const redisReply *fields)
{
    if (fields->type != REDIS_REPLY_ARRAY || fields->elements != N_FIELDS ||
        fields->element[1]->type != REDIS_REPLY_STRING)
        return false; /* listed but its hash is gone: revoked meanwhile */
    memset(rec, 0, sizeof *rec);
    snprintf(rec->hash, sizeof rec->hash, "%s", hash);
    copy_field(rec->name, sizeof rec->name, fields->element[0]);
    copy_field(rec->kind, sizeof rec->kind, fields->element[1]);
    rec->rate_limit = int_field(fields->element[2]);
    copy_field(rec->origins, sizeof rec->origins, fields->element[3]);
    rec->created_at = int_field(fields->element[4]);
    copy_field(rec->prefix, sizeof rec->prefix, fields->element[5]);
    return true;
}

static redisReply *members(dsk_store_t *s)
{
    char set[KEY_MAX];
    if (!set_key(s, set))
        return NULL;
    const char *argv[] = {"SMEMBERS", set};
    redisReply *r = command(s, 2, argv);
    if (r && r->type != REDIS_REPLY_ARRAY) {
        dsk_log_error("redis: %s is not a set", set);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static bool is_hash_hex(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING && r->len == DATASTREAM_APIKEY_HASH_HEX_LEN;
}

bool dsk_store_list(dsk_store_t *s, dsk_apikey_record_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    redisReply *set = members(s);
    if (!set)
        return false;

    bool ok = true;
    for (size_t i = 0; ok && i < set->elements; i++) {
        char key[KEY_MAX];
        if (!is_hash_hex(set->element[i]))
            continue;
        ok = record_key(s, set->element[i]->str, key);
        if (!ok)
            break;
        const char *argv[2 + N_FIELDS] = {"HMGET", key};
        memcpy(argv + 2, FIELDS, sizeof FIELDS);
        ok = redisAppendCommandArgv(s->redis, 2 + N_FIELDS, argv, NULL) == REDIS_OK;
    }
    dsk_apikey_record_t *recs = ok ? calloc(set->elements + 1, sizeof *recs) : NULL;
    if (!recs) {
        dsk_log_error("redis: cannot queue listing");
        freeReplyObject(set);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < set->elements; i++) {
        if (!is_hash_hex(set->element[i]))
            continue;
        redisReply *fields = read_reply(s);
        ok = ok && fields != NULL;
        if (fields && fill_record(&recs[n], set->element[i]->str, fields))
            n++;
        freeReplyObject(fields);
    }
    freeReplyObject(set);
    if (!ok) {
        free(recs);
        return false;
    }
    *out = recs;
    *count = n;
    return true;
}

int dsk_store_find_by_id(dsk_store_t *s, const char *id, char hash[DATASTREAM_APIKEY_HASH_HEX_LEN + 1])
{
    redisReply *set = members(s);
    if (!set)
        return -1;
    int matches = 0;
    for (size_t i = 0; i < set->elements; i++) {
        const redisReply *m = set->element[i];
        if (!is_hash_hex(m) || strncmp(m->str, id, DATASTREAM_APIKEY_ID_LEN) != 0)
            continue;
        if (matches++ == 0)
            memcpy(hash, m->str, DATASTREAM_APIKEY_HASH_HEX_LEN + 1);
    }
    freeReplyObject(set);
    return matches;
}

int dsk_store_delete(dsk_store_t *s, const char *hash)
{
    char key[KEY_MAX], set[KEY_MAX];
    if (!record_key(s, hash, key) || !set_key(s, set))
        return -1;
    const char *del[] = {"DEL", key};
    const char *srem[] = {"SREM", set, hash};
    const struct argv_cmd cmds[] = {{2, del}, {3, srem}};
    redisReply *r = transaction(s, cmds, 2);
    if (!r)
        return -1;
    long long removed = 0;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_INTEGER)
            removed += r->element[i]->integer;
    freeReplyObject(r);
    return removed > 0 ? 1 : 0;
}
