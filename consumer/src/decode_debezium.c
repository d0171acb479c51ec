#include "decode_debezium.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECIMAL_TYPE "org.apache.kafka.connect.data.Decimal"
#define GAME_NAME_MAX 256

typedef struct {
    json_t *root;
    const json_t *payload;
    const json_t *schema;   /* envelope schema, NULL without the wrapper */
    char *reason;
} envelope;

static dsc_decode_result_e reject(char *reason, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static dsc_decode_result_e reject(char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, DSC_REASON_MAX, fmt, ap);
    va_end(ap);
    return DSC_DECODE_REJECTED;
}

/* jansson's own limit is 2048 levels; a change event never needs more than a handful,
 * so deeper input is refused before it reaches the parser. */
static size_t nesting_depth(const char *data, size_t len)
{
    size_t depth = 0, max = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

static const json_t *schema_field(const json_t *schema_struct, const char *name)
{
    const json_t *fields = json_object_get(schema_struct, "fields");
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f) {
        const char *fname = json_string_value(json_object_get(f, "field"));
        if (fname && strcmp(fname, name) == 0)
            return f;
    }
    return NULL;
}

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Kafka Connect Decimal: base64 of the big-endian two's-complement unscaled integer. */
static bool decode_decimal(const char *b64, long scale, int64_t *out)
{
    unsigned char bytes[8];
    size_t nbytes = 0, len = strlen(b64);
    if (len == 0 || len % 4 != 0 || scale < 0 || scale > 18)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (b64[i] == '=') {
            if (i < len - 2)
                return false;
            continue;
        }
        int v = base64_value(b64[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (nbytes == sizeof bytes)
                return false;
            bytes[nbytes++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (nbytes == 0)
        return false;
    uint64_t u = (bytes[0] & 0x80) ? UINT64_MAX : 0;
    for (size_t i = 0; i < nbytes; i++)
        u = (u << 8) | bytes[i];
    int64_t unscaled = (int64_t)u;
    int64_t divisor = 1;
    for (long i = 0; i < scale; i++)
        divisor *= 10;
    if (unscaled % divisor != 0)
        return false;
    *out = unscaled / divisor;
    return true;
}

static long decimal_scale(const json_t *field_schema)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(field_schema, "parameters"), "scale"));
    if (!s)
        return 0;
    char *end;
    long scale = strtol(s, &end, 10);
    return (*end == '\0') ? scale : -1;
}

/* Reads an integer column, accepting the Decimal encoding when the schema declares it. */
static dsc_decode_result_e get_int(const envelope *env, const char *section, const json_t *row,
                                   const char *name, int64_t min, int64_t max, int64_t *out)
{
    const json_t *v = json_object_get(row, name);
    if (!v || json_is_null(v))
        return reject(env->reason, "%s.%s: missing", section, name);
    int64_t n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const json_t *fs = schema_field(schema_field(env->schema, section), name);
        const char *type = json_string_value(json_object_get(fs, "name"));
        if (!type || strcmp(type, DECIMAL_TYPE) != 0)
            return reject(env->reason, "%s.%s: not an integer", section, name);
        if (!decode_decimal(json_string_value(v), decimal_scale(fs), &n))
            return reject(env->reason, "%s.%s: invalid decimal", section, name);
    } else {
        return reject(env->reason, "%s.%s: not an integer", section, name);
    }
    if (n < min || n > max)
        return reject(env->reason, "%s.%s: out of range", section, name);
    *out = n;
    return DSC_DECODE_OK;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z, as Debezium's ZonedTimestamp renders timestamptz. */
static bool timestamp_valid(const char *s)
{
    size_t len = strlen(s);
    if (len < 20 || len >= DSC_TIMESTAMP_MAX)
        return false;
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) ||
        s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2) || s[len - 1] != 'Z')
        return false;
    if (len == 20)
        return true;
    size_t frac = len - 21;
    return s[19] == '.' && frac >= 1 && frac <= 9 && digits(s + 20, frac);
}

/* Optional name column (game_slug/game_type on rounds): absent or null leaves dst empty. */
static dsc_decode_result_e get_name(const envelope *env, const char *section, const json_t *row,
                                    const char *name, bool required,
                                    char dst[DATASTREAM_NAME_MAX + 1])
{
    const json_t *v = json_object_get(row, name);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return required ? reject(env->reason, "%s.%s: missing", section, name) : DSC_DECODE_OK;
    const char *s = json_string_value(v);
    if (!s)
        return reject(env->reason, "%s.%s: not a string", section, name);
    size_t n = json_string_length(v);
    if (!datastream_name_valid(s, n))
        return reject(env->reason, "%s.%s: not a valid name", section, name);
    memcpy(dst, s, n + 1);
    return DSC_DECODE_OK;
}

static dsc_decode_result_e open_envelope(envelope *env, const char *data, size_t len,
                                         size_t max_bytes, datastream_op_e *op, uint64_t *lsn)
{
    if (len > max_bytes)
        return reject(env->reason, "message: too large (%zu bytes, limit %zu)", len, max_bytes);
    if (nesting_depth(data, len) > DSC_DECODE_NESTING_MAX)
        return reject(env->reason, "message: nested deeper than %d levels", DSC_DECODE_NESTING_MAX);
    json_error_t err;
    env->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!env->root)
        return reject(env->reason, "message: invalid JSON at position %d: %s", err.position,
                      err.text);
    if (!json_is_object(env->root))
        return reject(env->reason, "message: not a JSON object");
    const json_t *payload = json_object_get(env->root, "payload");
    if (payload && json_object_get(env->root, "schema")) {
        if (!json_is_object(payload))
            return reject(env->reason, "payload: not an object");
        env->payload = payload;
        env->schema = json_object_get(env->root, "schema");
    } else {
        env->payload = env->root;
    }
    const char *ops = json_string_value(json_object_get(env->payload, "op"));
    if (!ops)
        return reject(env->reason, "op: missing");
    *op = strlen(ops) == 1 ? datastream_op_parse(ops[0]) : DATASTREAM_OP_COUNT;
    if (*op == DATASTREAM_OP_COUNT)
        return reject(env->reason, "op: unknown value");
    if (*op == DATASTREAM_OP_MESSAGE)
        return DSC_DECODE_OK;
    const json_t *source = json_object_get(env->payload, "source");
    if (!json_is_object(source))
        return reject(env->reason, "source: missing");
    int64_t l;
    if (get_int(env, "source", source, "lsn", 0, INT64_MAX, &l) != DSC_DECODE_OK)
        return DSC_DECODE_REJECTED;
    *lsn = (uint64_t)l;
    return DSC_DECODE_OK;
}

/* Which of the envelope's rows the op carries. */
static datastream_row_e op_row(datastream_op_e op)
{
    return datastream_op_info(op)->row;
}

static const json_t *row_section(const envelope *env, const char *section)
{
    const json_t *row = json_object_get(env->payload, section);
    return json_is_object(row) ? row : NULL;
}

static dsc_decode_result_e decode_round_after(const envelope *env, const json_t *row,
                                              void *round)
{
    dsc_round_row_t *out = round;
    if (get_int(env, "after", row, "id", 1, INT64_MAX, &out->id) != DSC_DECODE_OK ||
        get_int(env, "after", row, "game_id", 1, INT32_MAX, &out->game_id) != DSC_DECODE_OK)
        return DSC_DECODE_REJECTED;

    const json_t *fin = json_object_get(row, "finished_at");
    if (fin && !json_is_null(fin)) {
        const char *s = json_string_value(fin);
        if (!s)
            return reject(env->reason, "after.finished_at: not a string");
        if (!timestamp_valid(s))
            return reject(env->reason, "after.finished_at: not an ISO-8601 UTC timestamp");
        memcpy(out->finished_at, s, strlen(s) + 1);
        out->has_finished_at = true;
    }

    const json_t *extras = json_object_get(row, "extras");
    const char *text = "{}";
    if (extras && !json_is_null(extras)) {
        text = json_string_value(extras);
        if (!text)
            return reject(env->reason, "after.extras: not a string");
    }
    if (get_name(env, "after", row, "game_slug", false, out->game_slug) != DSC_DECODE_OK ||
        get_name(env, "after", row, "game_type", false, out->game_type) != DSC_DECODE_OK)
        return DSC_DECODE_REJECTED;
    out->extras = strdup(text);
    if (!out->extras)
        return reject(env->reason, "message: out of memory");
    return DSC_DECODE_OK;
}

static dsc_decode_result_e decode_game_after(const envelope *env, const json_t *row,
                                             void *game)
{
    dsc_game_row_t *out = game;
    if (get_int(env, "after", row, "id", 1, INT32_MAX, &out->id) != DSC_DECODE_OK ||
        get_name(env, "after", row, "slug", true, out->slug) != DSC_DECODE_OK ||
        get_name(env, "after", row, "type", true, out->type) != DSC_DECODE_OK)
        return DSC_DECODE_REJECTED;
    const json_t *name = json_object_get(row, "name");
    if (!name || json_is_null(name))
        return reject(env->reason, "after.name: missing");
    if (!json_is_string(name))
        return reject(env->reason, "after.name: not a string");
    if (json_string_length(name) > GAME_NAME_MAX)
        return reject(env->reason, "after.name: longer than %d bytes", GAME_NAME_MAX);
    out->name = strdup(json_string_value(name));
    if (!out->name)
        return reject(env->reason, "message: out of memory");
    return DSC_DECODE_OK;
}

/* Reads the row a table's decoder takes from `after`. */
typedef dsc_decode_result_e (*after_decoder)(const envelope *env, const json_t *row, void *out);

/* Where one table's change events go: the tables differ only in their row and key range. */
typedef struct {
    datastream_op_e *op;
    uint64_t *lsn;
    int64_t *source_ts_ms;  /* NULL: the table does not keep it */
    after_decoder decode_after;
    void *row;
    int64_t *id;            /* the row's key, all a delete carries */
    int64_t id_max;
} event_target;

/* The row of the op: the whole of it from `after`, or only the key from `before`; ops without a
 * row leave it untouched. */
static dsc_decode_result_e decode_op_row(const envelope *env, const event_target *t)
{
    if (op_row(*t->op) == DATASTREAM_ROW_AFTER) {
        const json_t *after = row_section(env, "after");
        return after ? t->decode_after(env, after, t->row) : reject(env->reason, "after: missing");
    }
    if (op_row(*t->op) == DATASTREAM_ROW_BEFORE_KEY) {
        /* Default replica identity: only the key is meaningful in `before`. */
        const json_t *before = row_section(env, "before");
        return before ? get_int(env, "before", before, "id", 1, t->id_max, t->id)
                      : reject(env->reason, "before: missing");
    }
    return DSC_DECODE_OK;
}

static dsc_decode_result_e decode_event(const char *data, size_t len, size_t max_bytes,
                                        const event_target *t, char reason[DSC_REASON_MAX])
{
    reason[0] = '\0';
    envelope env = {.reason = reason};
    dsc_decode_result_e r = open_envelope(&env, data, len, max_bytes, t->op, t->lsn);
    if (r == DSC_DECODE_OK && t->source_ts_ms && *t->op != DATASTREAM_OP_MESSAGE) {
        const json_t *source = json_object_get(env.payload, "source");
        r = get_int(&env, "source", source, "ts_ms", 0, INT64_MAX, t->source_ts_ms);
    }
    if (r == DSC_DECODE_OK)
        r = decode_op_row(&env, t);
    json_decref(env.root);
    return r;
}

dsc_decode_result_e dsc_decode_round(const char *data, size_t len, size_t max_bytes,
                                     dsc_round_event_t *out, char reason[DSC_REASON_MAX])
{
    memset(out, 0, sizeof *out);
    const event_target t = {.op = &out->op, .lsn = &out->lsn, .source_ts_ms = &out->source_ts_ms,
                            .decode_after = decode_round_after, .row = &out->row,
                            .id = &out->row.id, .id_max = INT64_MAX};
    dsc_decode_result_e r = decode_event(data, len, max_bytes, &t, reason);
    if (r != DSC_DECODE_OK)
        dsc_round_event_free(out);
    return r;
}

dsc_decode_result_e dsc_decode_game(const char *data, size_t len, size_t max_bytes,
                                    dsc_game_event_t *out, char reason[DSC_REASON_MAX])
{
    memset(out, 0, sizeof *out);
    const event_target t = {.op = &out->op, .lsn = &out->lsn, .decode_after = decode_game_after,
                            .row = &out->row, .id = &out->row.id, .id_max = INT32_MAX};
    dsc_decode_result_e r = decode_event(data, len, max_bytes, &t, reason);
    if (r != DSC_DECODE_OK)
        dsc_game_event_free(out);
    return r;
}
