#include "debezium.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* PostgreSQL type OIDs (pg_type.dat); stable across versions. */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26,
    OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_DATE = 1082, OID_TIME = 1083,
    OID_TIMESTAMP = 1114, OID_TIMESTAMPTZ = 1184, OID_NUMERIC = 1700, OID_UUID = 2950,
    OID_JSONB = 3802,
};

#define VARHDRSZ 4

/* What a column becomes in Debezium's schema: Kafka Connect type plus logical name. */
typedef struct {
    const char *type;
    const char *name;   /* NULL: a plain type */
} kind_t;

static int
time_precision(const dscdc_column_t *col)
{
    return col->typmod >= 0 && col->typmod <= 6 ? col->typmod : 6;
}

static kind_t
column_kind(const dscdc_column_t *col)
{
    switch (col->type_oid) {
    case OID_BOOL:    return (kind_t) { "boolean", NULL };
    case OID_INT2:    return (kind_t) { "int16", NULL };
    case OID_INT4:    return (kind_t) { "int32", NULL };
    case OID_INT8:
    case OID_OID:     return (kind_t) { "int64", NULL };
    case OID_FLOAT4:  return (kind_t) { "float", NULL };
    case OID_FLOAT8:  return (kind_t) { "double", NULL };
    case OID_BYTEA:   return (kind_t) { "bytes", NULL };
    case OID_NUMERIC:
        return col->typmod >= VARHDRSZ
            ? (kind_t) { "bytes", "org.apache.kafka.connect.data.Decimal" }
            : (kind_t) { "struct", "io.debezium.data.VariableScaleDecimal" };
    case OID_UUID:    return (kind_t) { "string", "io.debezium.data.Uuid" };
    case OID_JSON:
    case OID_JSONB:   return (kind_t) { "string", "io.debezium.data.Json" };
    case OID_TIMESTAMPTZ: return (kind_t) { "string", "io.debezium.time.ZonedTimestamp" };
    case OID_DATE:    return (kind_t) { "int32", "io.debezium.time.Date" };
    case OID_TIMESTAMP:
        return time_precision(col) <= 3 ? (kind_t) { "int64", "io.debezium.time.Timestamp" }
                                        : (kind_t) { "int64", "io.debezium.time.MicroTimestamp" };
    case OID_TIME:
        return time_precision(col) <= 3 ? (kind_t) { "int32", "io.debezium.time.Time" }
                                        : (kind_t) { "int64", "io.debezium.time.MicroTime" };
    default:          return (kind_t) { "string", NULL };
    }
}

/* ---------------------------------------------------------------- values */

static json_t *
integer_value(const char *text, size_t len)
{
    char      buf[32];
    char     *end;
    long long v;

    if (len == 0 || len >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    v = strtoll(buf, &end, 10);
    return *end || errno ? NULL : json_integer(v);
}

static json_t *
real_value(const char *text, size_t len)
{
    char   buf[64];
    char  *end;
    double v;

    if (len == 0 || len >= sizeof(buf)) {
        return NULL;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    v = strtod(buf, &end);
    return *end ? NULL : json_real(v);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *
base64_value(const unsigned char *in, size_t n)
{
    char   *out = malloc(4 * ((n + 2) / 3) + 1);
    size_t  o = 0;
    json_t *v;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t) in[i] << 16;
        if (i + 1 < n) w |= (uint32_t) in[i + 1] << 8;
        if (i + 2 < n) w |= in[i + 2];
        out[o++] = b64[(w >> 18) & 63];
        out[o++] = b64[(w >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    out[o] = '\0';
    v = json_string(out);
    free(out);
    return v;
}

#define DECIMAL_BYTES_MAX 64

/* mag = mag * 10 + digit over a big-endian magnitude; -1 on overflow. */
static int
mul10_add(unsigned char *mag, int digit)
{
    for (int b = DECIMAL_BYTES_MAX - 1; b >= 0; b--) {
        int v = mag[b] * 10 + digit;
        mag[b] = (unsigned char) (v & 0xff);
        digit = v >> 8;
    }
    return digit == 0 ? 0 : -1;
}

/* Java's BigInteger.toByteArray of the unscaled value, base64: minimal
 * big-endian two's complement. The text is brought to `scale` fraction digits;
 * scale < 0 keeps it as written and stores its scale in *found_scale. */
static json_t *
decimal_bytes(const char *text, size_t len, int scale, int *found_scale)
{
    unsigned char mag[DECIMAL_BYTES_MAX] = { 0 };
    int           negative = 0, seen_point = 0, frac = 0, digits = 0;
    size_t        i = 0, start;

    if (len > 0 && (text[0] == '-' || text[0] == '+')) {
        negative = text[0] == '-';
        i = 1;
    }
    for (; i < len; i++) {
        if (text[i] == '.' && !seen_point) {
            seen_point = 1;
            continue;
        }
        if (text[i] < '0' || text[i] > '9') {
            return NULL;   /* NaN, Infinity: no Decimal holds them */
        }
        if (seen_point) {
            frac++;
        }
        digits++;
        if (mul10_add(mag, text[i] - '0') != 0) {
            return NULL;
        }
    }
    if (digits == 0 || (scale >= 0 && frac > scale)) {
        return NULL;
    }
    for (; scale >= 0 && frac < scale; frac++) {
        if (mul10_add(mag, 0) != 0) {
            return NULL;
        }
    }
    if (found_scale != NULL) {
        *found_scale = frac;
    }
    for (start = 0; start < DECIMAL_BYTES_MAX && mag[start] == 0; start++) {
    }
    if (start == DECIMAL_BYTES_MAX) {
        negative = 0;   /* -0.00 is 0 */
    }
    if (negative) {
        int carry = 1;
        for (int b = DECIMAL_BYTES_MAX - 1; b >= 0; b--) {
            int v = (unsigned char) ~mag[b] + carry;
            mag[b] = (unsigned char) (v & 0xff);
            carry = v >> 8;
        }
    }
    /* Leading bytes that only repeat the sign go. */
    for (start = 0; start + 1 < DECIMAL_BYTES_MAX; start++) {
        unsigned char fill = negative ? 0xff : 0x00;
        if (mag[start] != fill || ((mag[start + 1] & 0x80) != 0) != negative) break;
    }
    return base64_value(mag + start, DECIMAL_BYTES_MAX - start);
}

static json_t *
variable_scale_decimal(const char *text, size_t len)
{
    int     scale = 0;
    json_t *bytes = decimal_bytes(text, len, -1, &scale);

    return bytes ? json_pack("{s:i,s:o}", "scale", scale, "value", bytes) : NULL;
}

static json_t *
bytea_value(const char *text, size_t len)
{
    unsigned char *raw;
    size_t         n;
    json_t        *v;

    if (len < 2 || text[0] != '\\' || text[1] != 'x' || (len - 2) % 2 != 0) {
        return NULL;   /* bytea_output=hex is PostgreSQL's default */
    }
    n = (len - 2) / 2;
    if ((raw = malloc(n ? n : 1)) == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned int byte;
        if (sscanf(text + 2 + 2 * i, "%2x", &byte) != 1) {
            free(raw);
            return NULL;
        }
        raw[i] = (unsigned char) byte;
    }
    v = base64_value(raw, n);
    free(raw);
    return v;
}

/* "YYYY-MM-DD HH:MM:SS[.f]" then optionally "+00": Unix microseconds. */
static int
parse_timestamp(const char *text, size_t len, int with_zone, int64_t *us)
{
    char      buf[64];
    struct tm tm;
    int       n = 0, frac_digits = 0;
    long      frac = 0;
    char     *p;

    if (len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(&tm, 0, sizeof(tm));
    if (sscanf(buf, "%4d-%2d-%2d %2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
    {
        return -1;
    }
    p = buf + n;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
            if (frac_digits < 6) frac = frac * 10 + (*p - '0');
        }
        for (int i = frac_digits; i < 6; i++) frac *= 10;
    }
    if (with_zone) {
        /* The replication session runs with TimeZone=UTC. */
        if (strcmp(p, "+00") != 0) return -1;
    } else if (*p != '\0') {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *us = (int64_t) timegm(&tm) * 1000000 + frac;
    return 0;
}

static json_t *
zoned_timestamp(const dscdc_column_t *col, const char *text, size_t len)
{
    int64_t   us;
    time_t    secs;
    struct tm tm;
    char      date[32], out[48];
    int       precision = time_precision(col);
    long      frac;

    if (parse_timestamp(text, len, 1, &us) != 0) {
        return NULL;
    }
    secs = (time_t) (us / 1000000);
    frac = (long) (us % 1000000);
    if (gmtime_r(&secs, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return NULL;
    }
    if (precision == 0) {
        snprintf(out, sizeof(out), "%sZ", date);
    } else {
        for (int i = precision; i < 6; i++) frac /= 10;
        snprintf(out, sizeof(out), "%s.%0*ldZ", date, precision, frac);
    }
    return json_string(out);
}

static json_t *
local_timestamp(const dscdc_column_t *col, const char *text, size_t len)
{
    int64_t us;

    if (parse_timestamp(text, len, 0, &us) != 0) {
        return NULL;
    }
    return json_integer(time_precision(col) <= 3 ? us / 1000 : us);
}

static json_t *
date_value(const char *text, size_t len)
{
    int64_t us;
    char    buf[32];

    if (len + sizeof(" 00:00:00") > sizeof(buf)) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%.*s 00:00:00", (int) len, text);
    if (parse_timestamp(buf, strlen(buf), 0, &us) != 0) {
        return NULL;
    }
    return json_integer(us / 86400000000LL);
}

static json_t *
time_value(const dscdc_column_t *col, const char *text, size_t len)
{
    int64_t us;
    char    buf[48];

    if (len + sizeof("1970-01-01 ") > sizeof(buf)) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "1970-01-01 %.*s", (int) len, text);
    if (parse_timestamp(buf, strlen(buf), 0, &us) != 0) {
        return NULL;
    }
    return json_integer(time_precision(col) <= 3 ? us / 1000 : us);
}

json_t *
dscdc_encode_value(const dscdc_column_t *col, const char *text, size_t len)
{
    switch (col->type_oid) {
    case OID_BOOL:
        return len == 1 && (text[0] == 't' || text[0] == 'f') ? json_boolean(text[0] == 't') : NULL;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return integer_value(text, len);
    case OID_FLOAT4:
    case OID_FLOAT8:
        return real_value(text, len);
    case OID_NUMERIC:
        return col->typmod >= VARHDRSZ
            ? decimal_bytes(text, len, (col->typmod - VARHDRSZ) & 0xffff, NULL)
            : variable_scale_decimal(text, len);
    case OID_BYTEA:
        return bytea_value(text, len);
    case OID_TIMESTAMPTZ:
        return zoned_timestamp(col, text, len);
    case OID_TIMESTAMP:
        return local_timestamp(col, text, len);
    case OID_DATE:
        return date_value(text, len);
    case OID_TIME:
        return time_value(col, text, len);
    default:
        return json_stringn(text, len);
    }
}

json_t *
dscdc_encode_default(const dscdc_column_t *col, const char *expr)
{
    const char *end;
    char       *literal;
    size_t      n = 0;
    json_t     *v;

    if (expr[0] != '\'') {
        /* An unquoted number, or an expression (nextval, now()) that has no value to show. */
        size_t len = strspn(expr, "-+0123456789.");
        return len > 0 && expr[len] == '\0' ? dscdc_encode_value(col, expr, len) : NULL;
    }
    if ((literal = malloc(strlen(expr))) == NULL) {
        return NULL;
    }
    for (end = expr + 1; *end; end++) {
        if (*end == '\'') {
            if (end[1] != '\'') break;
            end++;   /* '' inside a literal is one quote */
        }
        literal[n++] = *end;
    }
    /* Only a literal with an optional cast: '{}'::jsonb */
    v = *end == '\'' && (end[1] == '\0' || strncmp(end + 1, "::", 2) == 0)
        ? dscdc_encode_value(col, literal, n) : NULL;
    free(literal);
    return v;
}

/* ---------------------------------------------------------------- schema */

static json_t *
field_schema(const dscdc_column_t *col)
{
    kind_t  k = column_kind(col);
    json_t *f = json_object();

    if (f == NULL) {
        return NULL;
    }
    json_object_set_new(f, "type", json_string(k.type));
    json_object_set_new(f, "optional", json_boolean(!col->not_null));
    if (k.name != NULL) {
        json_object_set_new(f, "name", json_string(k.name));
        json_object_set_new(f, "version", json_integer(1));
    }
    if (col->type_oid == OID_NUMERIC && col->typmod >= VARHDRSZ) {
        char scale[16], precision[16];
        snprintf(scale, sizeof(scale), "%d", (col->typmod - VARHDRSZ) & 0xffff);
        snprintf(precision, sizeof(precision), "%d", ((col->typmod - VARHDRSZ) >> 16) & 0xffff);
        json_object_set_new(f, "parameters",
                            json_pack("{s:s,s:s}", "scale", scale, "connect.decimal.precision", precision));
    } else if (col->type_oid == OID_NUMERIC) {
        json_object_set_new(f, "doc", json_string("Variable scaled decimal"));
        json_object_set_new(f, "fields", json_pack("[{s:s,s:b,s:s},{s:s,s:b,s:s}]",
                            "type", "int32", "optional", 0, "field", "scale",
                            "type", "bytes", "optional", 0, "field", "value"));
    }
    if (col->default_value != NULL) {
        json_object_set(f, "default", col->default_value);
    }
    json_object_set_new(f, "field", json_string(col->name));
    return f;
}

/* The parts of the envelope schema that are the same for every table. */
static const char source_and_tail_schema[] =
    "[{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
    "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"
    "\"default\":\"false\",\"field\":\"snapshot\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],"
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,\"field\":\"source\"},"
    "{\"type\":\"struct\",\"fields\":["
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}]";

static json_t *
row_schema(const dscdc_table_t *t, const char *value_name, const char *field)
{
    json_t *fields = json_array();

    if (fields == NULL) {
        return NULL;
    }
    for (uint16_t i = 0; i < t->ncolumns; i++) {
        json_t *f = field_schema(&t->columns[i]);
        if (f == NULL || json_array_append_new(fields, f) != 0) {
            json_decref(fields);
            return NULL;
        }
    }
    return json_pack("{s:s,s:o,s:b,s:s,s:s}", "type", "struct", "fields", fields,
                     "optional", 1, "name", value_name, "field", field);
}

int
dscdc_table_finish(dscdc_table_t *t, const char *prefix)
{
    char          value_name[3 * DSCDC_NAME_MAX + 16], envelope_name[3 * DSCDC_NAME_MAX + 16];
    json_error_t  err;
    json_t       *fields, *before, *after, *tail;

    snprintf(value_name, sizeof(value_name), "%s.%s.%s.Value", prefix, t->schema, t->table);
    snprintf(envelope_name, sizeof(envelope_name), "%s.%s.%s.Envelope", prefix, t->schema, t->table);
    before = row_schema(t, value_name, "before");
    after = row_schema(t, value_name, "after");
    tail = json_loads(source_and_tail_schema, 0, &err);
    fields = json_array();
    if (before == NULL || after == NULL || tail == NULL || fields == NULL
        || json_array_append_new(fields, before) != 0 || json_array_append_new(fields, after) != 0
        || json_array_extend(fields, tail) != 0)
    {
        json_decref(fields);
        json_decref(tail);
        return -1;
    }
    json_decref(tail);
    json_decref(t->envelope_schema);
    t->envelope_schema = json_pack("{s:s,s:o,s:b,s:s,s:i}", "type", "struct", "fields", fields,
                                   "optional", 0, "name", envelope_name, "version", 2);
    return t->envelope_schema ? 0 : -1;
}

void
dscdc_table_clear(dscdc_table_t *t)
{
    for (uint16_t i = 0; i < t->ncolumns; i++) {
        json_decref(t->columns[i].default_value);
        t->columns[i].default_value = NULL;
    }
    json_decref(t->envelope_schema);
    t->envelope_schema = NULL;
    t->ncolumns = 0;
}

/* ---------------------------------------------------------------- envelope */

/* What Debezium shows for a NOT NULL column absent from a key-only row. */
static json_t *
filler(const dscdc_column_t *col)
{
    kind_t k = column_kind(col);

    if (col->default_value != NULL) {
        return json_incref(col->default_value);
    }
    if (k.name != NULL && strcmp(k.name, "io.debezium.time.ZonedTimestamp") == 0) {
        return json_string("1970-01-01T00:00:00Z");
    }
    if (strcmp(k.type, "string") == 0 || strcmp(k.type, "bytes") == 0) {
        return json_string("");
    }
    if (strcmp(k.type, "boolean") == 0) {
        return json_false();
    }
    if (strcmp(k.type, "float") == 0 || strcmp(k.type, "double") == 0) {
        return json_real(0.0);
    }
    return strcmp(k.type, "struct") == 0 ? json_null() : json_integer(0);
}

static json_t *
row_json(const dscdc_table_t *t, dscdc_row_kind_e kind, const dscdc_tuple_t *tuple,
         char *errmsg, size_t errmsg_cap)
{
    json_t *row;

    if (kind == DSCDC_ROW_NONE) {
        return json_null();
    }
    if (tuple->ncolumns != t->ncolumns) {
        snprintf(errmsg, errmsg_cap, "%s.%s: row has %u columns, relation %u",
                 t->schema, t->table, tuple->ncolumns, t->ncolumns);
        return NULL;
    }
    if ((row = json_object()) == NULL) {
        return NULL;
    }
    for (uint16_t i = 0; i < t->ncolumns; i++) {
        const dscdc_column_t *col = &t->columns[i];
        const dscdc_value_t  *v = &tuple->values[i];
        json_t               *jv;

        if (v->kind == DSCDC_VALUE_TEXT) {
            jv = dscdc_encode_value(col, v->text.p, v->text.len);
            if (jv == NULL) {
                /* NaN, infinity and the like have no encoding of their type: the
                 * text is kept, so nothing is lost, and the caller is told. */
                snprintf(errmsg, errmsg_cap, "%s.%s.%s: \"%.*s\" sent as text", t->schema,
                         t->table, col->name, (int) (v->text.len > 64 ? 64 : v->text.len), v->text.p);
                jv = json_stringn(v->text.p, v->text.len);
            }
        } else if (v->kind == DSCDC_VALUE_UNCHANGED_TOAST) {
            jv = json_string(DSCDC_UNAVAILABLE_VALUE);
        } else if (kind == DSCDC_ROW_KEY_ONLY && col->not_null && !col->key) {
            jv = filler(col);
        } else {
            jv = json_null();
        }
        json_object_set_new(row, col->name, jv);
    }
    return row;
}

static json_t *
source_json(const dscdc_table_t *t, const dscdc_source_t *src)
{
    char    sequence[64];
    int64_t ts_us = src->commit_time_us;

    if (src->last_commit_lsn != 0) {
        snprintf(sequence, sizeof(sequence), "[\"%llu\",\"%llu\"]",
                 (unsigned long long) src->last_commit_lsn, (unsigned long long) src->lsn);
    } else {
        snprintf(sequence, sizeof(sequence), "[null,\"%llu\"]", (unsigned long long) src->lsn);
    }
    /* version names the stand-in: a reader of the stream can tell it from Debezium Server. */
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:I,s:I,s:n}",
                     "version", "3.4.2.Final+datastream-cdc", "connector", "postgresql",
                     "name", src->prefix, "ts_ms", (json_int_t) (ts_us / 1000),
                     "snapshot", src->snapshot, "db", src->db, "sequence", sequence,
                     "ts_us", (json_int_t) ts_us, "ts_ns", (json_int_t) ts_us * 1000,
                     "schema", t->schema, "table", t->table, "txId", (json_int_t) src->xid,
                     "lsn", (json_int_t) src->lsn, "xmin");
}

char *
dscdc_envelope(const dscdc_table_t *t, const dscdc_change_t *chg, const dscdc_source_t *src,
               int with_schema, char *errmsg, size_t errmsg_cap)
{
    char    op[2] = { chg->op, '\0' };
    json_t *before, *after, *source, *payload, *value;
    char   *text;

    errmsg[0] = '\0';
    before = row_json(t, chg->before_kind, chg->before, errmsg, errmsg_cap);
    after = before ? row_json(t, chg->after_kind, chg->after, errmsg, errmsg_cap) : NULL;
    source = after ? source_json(t, src) : NULL;
    if (source == NULL) {
        json_decref(before);
        json_decref(after);
        return NULL;
    }
    payload = json_pack("{s:o,s:o,s:o,s:n,s:s,s:I,s:I,s:I}", "before", before, "after", after,
                        "source", source, "transaction", "op", op,
                        "ts_ms", (json_int_t) (src->now_us / 1000), "ts_us", (json_int_t) src->now_us,
                        "ts_ns", (json_int_t) src->now_us * 1000);
    if (payload == NULL) {
        return NULL;
    }
    value = with_schema ? json_pack("{s:O,s:o}", "schema", t->envelope_schema, "payload", payload)
                        : payload;
    text = value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(value);
    return text;
}
