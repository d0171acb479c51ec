#include "envelope.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A bounded appender: every write is checked once, at the end. */
typedef struct {
    char   *buf;
    size_t  cap;
    size_t  len;
    int     overflow;
} sbuf_t;

static void
sb_printf(sbuf_t *sb, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (sb->overflow) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sb->cap - sb->len) {
        sb->overflow = 1;
        return;
    }
    sb->len += (size_t) n;
}

/* JSON string escaping for the few characters jsonb text can carry. */
static void
sb_json_string(sbuf_t *sb, const char *s)
{
    sb_printf(sb, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            sb_printf(sb, "\\%c", c);
        } else if (c < 0x20) {
            sb_printf(sb, "\\u%04x", c);
        } else {
            sb_printf(sb, "%c", c);
        }
    }
    sb_printf(sb, "\"");
}

static void
sb_iso8601_us(sbuf_t *sb, int64_t us)
{
    time_t    secs = (time_t) (us / 1000000);
    struct tm tm;
    char      date[32];

    if (gmtime_r(&secs, &tm) == NULL
        || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
    {
        sb->overflow = 1;
        return;
    }
    sb_printf(sb, "\"%s.%06lldZ\"", date, (long long) (us % 1000000));
}

static void
sb_source(sbuf_t *sb, const dsf_change_t *chg, const char *table)
{
    sb_printf(sb, "\"source\":{\"version\":\"3.4.2.Final\",\"connector\":\"postgresql\","
              "\"name\":\"%s\",\"ts_ms\":%lld,\"snapshot\":\"%s\",\"db\":\"datastream\","
              "\"sequence\":\"[null,\\\"%lld\\\"]\",\"schema\":\"public\",\"table\":\"%s\","
              "\"txId\":%lld,\"lsn\":%lld,\"xmin\":null}",
              chg->prefix, (long long) chg->ts_ms, chg->op == DATASTREAM_OP_READ ? "true" : "false",
              (long long) chg->lsn, table, (long long) (chg->lsn / 16), (long long) chg->lsn);
}

static void
sb_envelope_tail(sbuf_t *sb, const dsf_change_t *chg)
{
    const datastream_op_t *op = datastream_op_info(chg->op);

    if (op == NULL) {
        sb->overflow = 1;
        return;
    }
    sb_printf(sb, ",\"transaction\":null,\"op\":\"%c\",\"ts_ms\":%lld}",
              op->letter, (long long) chg->ts_ms);
}

static const char round_schema[] =
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"game_id\"},"
    "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1,\"field\":\"finished_at\"},"
    "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Json\",\"version\":1,\"default\":\"{}\",\"field\":\"extras\"}],"
    "\"optional\":true,\"name\":\"%s.public.rounds.Value\",\"field\":\"before\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int64\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int32\",\"optional\":false,\"field\":\"game_id\"},"
    "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.time.ZonedTimestamp\",\"version\":1,\"field\":\"finished_at\"},"
    "{\"type\":\"string\",\"optional\":false,\"name\":\"io.debezium.data.Json\",\"version\":1,\"default\":\"{}\",\"field\":\"extras\"}],"
    "\"optional\":true,\"name\":\"%s.public.rounds.Value\",\"field\":\"after\"},"
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},{\"type\":\"string\",\"optional\":true,\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],\"optional\":false,"
    "\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"}],"
    "\"optional\":false,\"name\":\"%s.public.rounds.Envelope\",\"version\":2}";

static void
sb_round_row(sbuf_t *sb, const dsf_round_t *round, int key_only)
{
    if (key_only) {
        /* Default replica identity: only the key survives in `before`;
         * NOT NULL columns show as filler. */
        sb_printf(sb, "{\"id\":%lld,\"game_id\":0,\"finished_at\":\"1970-01-01T00:00:00Z\",\"extras\":\"{}\"}",
                  (long long) round->id);
        return;
    }
    sb_printf(sb, "{\"id\":%lld,\"game_id\":%d,\"finished_at\":",
              (long long) round->id, round->game_id);
    sb_iso8601_us(sb, round->finished_at_us);
    sb_printf(sb, ",\"extras\":");
    sb_json_string(sb, round->extras);
    sb_printf(sb, "}");
}

int
dsf_envelope_round(char *out, size_t cap, const dsf_change_t *chg,
                    const dsf_round_t *round)
{
    sbuf_t sb = { out, cap, 0, 0 };

    if (chg->with_schema) {
        sb_printf(&sb, "{\"schema\":");
        sb_printf(&sb, round_schema, chg->prefix, chg->prefix, chg->prefix);
        sb_printf(&sb, ",\"payload\":");
    }
    sb_printf(&sb, "{\"before\":");
    if (chg->op == DATASTREAM_OP_DELETE) {
        sb_round_row(&sb, round, 1);
        sb_printf(&sb, ",\"after\":null,");
    } else {
        sb_printf(&sb, "null,\"after\":");
        sb_round_row(&sb, round, 0);
        sb_printf(&sb, ",");
    }
    sb_source(&sb, chg, "rounds");
    sb_envelope_tail(&sb, chg);
    if (chg->with_schema) {
        sb_printf(&sb, "}");
    }
    return sb.overflow ? -1 : (int) sb.len;
}

int
dsf_envelope_game(char *out, size_t cap, const dsf_change_t *chg,
                   const dsf_game_t *game)
{
    sbuf_t sb = { out, cap, 0, 0 };

    /* A slug or type outside the contract's grammar would be dead-lettered by
     * the consumer; it also needs no JSON escaping once valid. */
    if (!datastream_name_valid(game->slug, strlen(game->slug))
        || !datastream_name_valid(game->type, strlen(game->type)))
    {
        return -1;
    }
    if (chg->op == DATASTREAM_OP_DELETE) {
        sb_printf(&sb, "{\"before\":{\"id\":%d,\"slug\":\"\",\"name\":\"\",\"type\":\"\"},\"after\":null,",
                  game->id);
    } else {
        sb_printf(&sb, "{\"before\":null,\"after\":{\"id\":%d,\"slug\":\"%s\",\"name\":",
                  game->id, game->slug);
        sb_json_string(&sb, game->name);
        sb_printf(&sb, ",\"type\":\"%s\"},", game->type);
    }
    sb_source(&sb, chg, "games");
    sb_envelope_tail(&sb, chg);
    return sb.overflow ? -1 : (int) sb.len;
}
