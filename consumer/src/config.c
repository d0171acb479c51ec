#include "config.h"

#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

typedef enum { KIND_TEXT, KIND_INT } var_kind;

typedef struct {
    const char *name;
    const char *def;
    var_kind kind;
    size_t offset;
    size_t size;        /* text: buffer size */
    int64_t min, max;   /* int: accepted range */
    const char *help;
} var_spec;

#define TEXT(n, d, field, h) {n, d, KIND_TEXT, offsetof(dsc_config_t, field), \
                              sizeof(((dsc_config_t *)0)->field), 0, 0, h}
/* The decimal text of a numeric macro, as the default of an INT variable. */
#define NUMBER(m) NUMBER_TEXT(m)
#define NUMBER_TEXT(m) #m
#define INT(n, d, field, lo, hi, h) {n, d, KIND_INT, offsetof(dsc_config_t, field), 0, lo, hi, h}

static const var_spec vars[] = {
    TEXT("NATS_URL", "nats://127.0.0.1:4222", nats_url, "NATS server URL(s), comma separated"),
    TEXT("NATS_USER", "", nats_user, "NATS user (the shipped nats-server.conf names it consumer)"),
    TEXT("NATS_PASSWORD", "", nats_password, "password of NATS_USER"),
    TEXT("REDIS_URL", "redis://127.0.0.1:6379/0", redis_url, "Redis, redis://host:port[/db]"),
    TEXT("REDIS_PREFIX", "ds:", redis_prefix, "prefix of every Redis key"),
    INT("NCHAN_BUFFER_LENGTH", "1000", nchan_buffer_length, 1, 100000,
        "messages each nchan channel keeps for resuming subscribers (written into nchan's "
        "storage on REDIS_URL)"),
    INT("NCHAN_MESSAGE_TIMEOUT", "3600", nchan_message_timeout_s, 1, 31536000,
        "seconds an nchan message is kept for resuming subscribers"),
    TEXT("PREFIX", "datastream", prefix, "Debezium topic prefix: subjects <PREFIX>.public.rounds|games"),
    TEXT("STREAM", "DebeziumStream", stream, "JetStream stream holding the change events"),
    TEXT("DURABLE_ROUNDS", "cdc-public-rounds", durable_rounds, "durable pull consumer for rounds"),
    TEXT("DURABLE_GAMES", "cdc-public-games", durable_games, "durable pull consumer for games"),
    INT("BATCH_SIZE", "64", batch_size, 1, 1000, "messages per fetch"),
    INT("FETCH_TIMEOUT_MS", "1000", fetch_timeout_ms, 100, 60000, "how long one fetch waits"),
    INT("ACK_WAIT", "30", ack_wait_s, 5, 3600, "seconds before an unacked message is redelivered"),
    INT("MAX_DELIVER", "1000", max_deliver, 2, 1000000,
        "deliveries per message before JetStream gives up (transient failures NAK with delay)"),
    INT("MAX_ACK_PENDING", "1000", max_ack_pending, 1, 100000, "unacked messages per durable"),
    /* At least what one /api/history page may ask for. */
    INT("HISTORY_MAX", NUMBER(DATASTREAM_HISTORY_KEEP_DEFAULT), history_max,
        DATASTREAM_HISTORY_LIMIT_MAX, 1000000, "rounds kept per game and per type"),
    INT("VERSION_TTL", "604800", version_ttl_s, 60, 31536000, "seconds a per-round version hash lives"),
    INT("MAX_MESSAGE_BYTES", "1048576", max_message_bytes, 1024, 67108864,
        "larger messages are dead-lettered"),
    INT("UNKNOWN_GAME_MAX_DELIVERIES", "5", unknown_game_max_deliveries, 1, 1000,
        "deliveries of a round with an unknown game before it is dead-lettered"),
    INT("NAK_DELAY_BASE_MS", "500", nak_delay_base_ms, 10, 600000,
        "redelivery delay after a first failure; doubles per delivery"),
    INT("NAK_DELAY_MAX_MS", "30000", nak_delay_max_ms, 10, 3600000, "cap of the redelivery delay"),
    INT("PUBLICATION_LEASE_MS", "10000", publication_lease_ms, 1000, 600000,
        "lifetime of a round's publication lease (renewed while held); bounds how long a killed "
        "replica delays the round"),
    INT("LEASE_WAIT_MS", "25", lease_wait_ms, 1, 60000,
        "redelivery delay of a round waiting for another replica's lease; doubles per delivery"),
    INT("SHUTDOWN_GRACE", "20", shutdown_grace_s, 1, 600, "seconds to finish in-flight work on SIGTERM"),
    INT("LAG_REFRESH_MS", "5000", lag_refresh_ms, 100, 600000, "how often consumer lag is read"),
    TEXT("METRICS_ADDR", "127.0.0.1", metrics_addr, "address of /healthz /readyz /metrics"),
    INT("METRICS_PORT", "8090", metrics_port, 1, 65535, "port of /healthz /readyz /metrics"),
    TEXT("LOG_LEVEL", "info", log_level, "debug, info, warn or error"),
    INT("CREATE_STREAM", "0", create_stream, 0, 1,
        "1: create the stream STREAM (subjects <PREFIX>.>, file storage) if missing"),
};

void dsc_config_usage(FILE *out)
{
    fprintf(out, "usage: datastream-consumer [--help]\n\n"
                 "Environment variables (default in brackets):\n");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        fprintf(out, "  %-28s %s [%s]\n", vars[i].name, vars[i].help, vars[i].def);
}

static int load_var(dsc_config_t *cfg, const var_spec *v, char *err, size_t err_size)
{
    const char *value = getenv(v->name);
    if (!value || !*value)
        value = v->def;
    char *dst = (char *)cfg + v->offset;
    if (v->kind == KIND_TEXT) {
        if (strlen(value) >= v->size) {
            snprintf(err, err_size, "%s: longer than %zu bytes", v->name, v->size - 1);
            return -1;
        }
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    if (errno || *end || end == value) {
        snprintf(err, err_size, "%s: '%s' is not an integer", v->name, value);
        return -1;
    }
    if (n < v->min || n > v->max) {
        snprintf(err, err_size, "%s: %lld is outside %lld..%lld", v->name, n,
                 (long long)v->min, (long long)v->max);
        return -1;
    }
    *(int64_t *)(void *)dst = n;
    return 0;
}

/* host:port[rest], port required; returns pointer to rest or NULL. */
static const char *split_host_port(const char *s, char *host, size_t host_size, int *port)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= host_size)
        return NULL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || p < 1 || p > 65535)
        return NULL;
    *port = (int)p;
    return end;
}

/* scheme followed by host:port[rest], as split_host_port. */
static const char *split_url(const char *url, const char *scheme, char *host, size_t host_size,
                             int *port)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 ? split_host_port(url + n, host, host_size, port) : NULL;
}

static int parse_redis_url(dsc_config_t *cfg, char *err, size_t err_size)
{
    const char *rest = split_url(cfg->redis_url, "redis://", cfg->redis_host,
                                 sizeof cfg->redis_host, &cfg->redis_port);
    cfg->redis_db = 0;
    if (rest && *rest == '/' && rest[1]) {
        char *end;
        long db = strtol(rest + 1, &end, 10);
        rest = (*end || db < 0 || db > 1000) ? NULL : end;
        cfg->redis_db = (int)db;
    } else if (rest && *rest == '/') {
        rest++;
    }
    if (!rest || *rest) {
        snprintf(err, err_size, "REDIS_URL: '%s' is not redis://host:port[/db]", cfg->redis_url);
        return -1;
    }
    return 0;
}

static bool subject_token_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* host:pid:random. The random part keeps a restarted process (same host, a reused pid) from
 * taking over the leases of its dead predecessor, whose batches were never published. */
/* A password in a URL's user info ("nats://user:password@host") must not reach the logs: each
 * one becomes "***" (the output is cut at size). */
static void redact_url_passwords(const char *url, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = url; *p && o + 1 < size;) {
        const char *scheme_end = strstr(p, "://");
        const char *authority = scheme_end ? scheme_end + 3 : NULL;
        size_t authority_len = authority ? strcspn(authority, "/,") : 0;
        const char *at = authority ? memrchr(authority, '@', authority_len) : NULL;
        const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
        const char *copy_end = colon ? colon + 1 : (authority ? authority + authority_len : p + strlen(p));
        while (p < copy_end && o + 1 < size)
            out[o++] = *p++;
        if (colon) {
            for (const char *mask = "***"; *mask && o + 1 < size; mask++)
                out[o++] = *mask;
            p = at;
        }
    }
    out[o] = '\0';
}

static int make_owner(dsc_config_t *cfg, char *err, size_t err_size)
{
    char host[DSC_HOST_MAX];
    uint64_t random_part;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    if (getrandom(&random_part, sizeof random_part, 0) != (ssize_t)sizeof random_part) {
        snprintf(err, err_size, "no random bytes for the owner id: %s", strerror(errno));
        return -1;
    }
    snprintf(cfg->owner, sizeof cfg->owner, "%s:%ld:%016llx", host, (long)getpid(),
             (unsigned long long)random_part);
    return 0;
}

int dsc_config_load(dsc_config_t *cfg, char *err, size_t err_size)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (load_var(cfg, &vars[i], err, err_size) != 0)
            return -1;
    if (parse_redis_url(cfg, err, err_size) != 0)
        return -1;
    if (!subject_token_valid(cfg->prefix)) {
        snprintf(err, err_size, "PREFIX: '%s' must be one subject token [A-Za-z0-9_-]+", cfg->prefix);
        return -1;
    }
    if (!subject_token_valid(cfg->stream) || !subject_token_valid(cfg->durable_rounds) ||
        !subject_token_valid(cfg->durable_games)) {
        snprintf(err, err_size, "STREAM, DURABLE_ROUNDS, DURABLE_GAMES must match [A-Za-z0-9_-]+");
        return -1;
    }
    if (dsc_log_set_level(cfg->log_level) != 0) {
        snprintf(err, err_size, "LOG_LEVEL: '%s' is not debug, info, warn or error", cfg->log_level);
        return -1;
    }
    if (cfg->fetch_timeout_ms >= cfg->ack_wait_s * 1000) {
        snprintf(err, err_size, "FETCH_TIMEOUT_MS must be below ACK_WAIT");
        return -1;
    }
    if (cfg->nak_delay_base_ms > cfg->nak_delay_max_ms) {
        snprintf(err, err_size, "NAK_DELAY_BASE_MS must not exceed NAK_DELAY_MAX_MS");
        return -1;
    }
    if (cfg->nats_password[0] && !cfg->nats_user[0]) {
        snprintf(err, err_size, "NATS_PASSWORD is set but NATS_USER is not");
        return -1;
    }
    if (!cfg->redis_prefix[0] || !cfg->metrics_addr[0] || !cfg->nats_url[0]) {
        snprintf(err, err_size, "REDIS_PREFIX, METRICS_ADDR and NATS_URL must not be empty");
        return -1;
    }
    redact_url_passwords(cfg->nats_url, cfg->nats_url_logged, sizeof cfg->nats_url_logged);
    return make_owner(cfg, err, err_size);
}
