/* Unit tests of the pure stages of datastream-cdc: pgoutput parsing and
 * Debezium's value encodings. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "debezium.h"
#include "pgoutput.h"
#include "tap.h"

static char *
encode(uint32_t oid, int32_t typmod, const char *text)
{
    dscdc_column_t col = { "c", oid, typmod, 0, 0, NULL };
    json_t        *v = dscdc_encode_value(&col, text, strlen(text));
    char          *out = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

    json_decref(v);
    return out;
}

static void
check(uint32_t oid, int32_t typmod, const char *text, const char *want, const char *what)
{
    char *got = encode(oid, typmod, text);

    is_str(got, want, "%s", what);
    free(got);
}

static size_t
put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24); p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);  p[3] = (unsigned char) v;
    return 4;
}

static void
test_pgoutput(void)
{
    static dscdc_msg_t m;
    unsigned char      buf[128];
    size_t             n = 0;

    /* INSERT into relation 16384 of (42, NULL, unchanged TOAST) */
    buf[n++] = 'I';
    n += put_u32(buf + n, 16384);
    buf[n++] = 'N';
    buf[n++] = 0; buf[n++] = 3;
    buf[n++] = 't';
    n += put_u32(buf + n, 2);
    memcpy(buf + n, "42", 2); n += 2;
    buf[n++] = 'n';
    buf[n++] = 'u';
    ok(dscdc_pgoutput_parse((char *) buf, n, &m) == 0, "insert parses");
    ok(m.kind == DSCDC_MSG_INSERT && m.u.change.relid == 16384 && !m.u.change.has_old,
       "insert: kind, relation, no old row");
    ok(m.u.change.new_tuple.ncolumns == 3 && m.u.change.new_tuple.values[0].kind == DSCDC_VALUE_TEXT
       && m.u.change.new_tuple.values[0].text.len == 2
       && memcmp(m.u.change.new_tuple.values[0].text.p, "42", 2) == 0, "insert: text value");
    ok(m.u.change.new_tuple.values[1].kind == DSCDC_VALUE_NULL
       && m.u.change.new_tuple.values[2].kind == DSCDC_VALUE_UNCHANGED_TOAST, "insert: null and unchanged TOAST");
    for (size_t cut = 0; cut < n; cut++) {
        if (dscdc_pgoutput_parse((char *) buf, cut, &m) == 0) {
            ok(0, "a message cut at %zu bytes is refused", cut);
            return;
        }
    }
    ok(1, "every truncation of the message is refused");

    /* DELETE with the key only */
    n = 0;
    buf[n++] = 'D';
    n += put_u32(buf + n, 7);
    buf[n++] = 'K';
    buf[n++] = 0; buf[n++] = 1;
    buf[n++] = 't';
    n += put_u32(buf + n, 1);
    buf[n++] = '9';
    ok(dscdc_pgoutput_parse((char *) buf, n, &m) == 0 && m.kind == DSCDC_MSG_DELETE
       && m.u.change.has_old && m.u.change.old_kind == 'K' && m.u.change.old_tuple.ncolumns == 1,
       "delete with the key parses");
    buf[0] = 'X';
    ok(dscdc_pgoutput_parse((char *) buf, n, &m) != 0, "an unknown message type is refused");
}

static void
test_values(void)
{
    const int32_t numeric_10_2 = ((10 << 16) | 2) + 4;

    check(1700, numeric_10_2, "2.35", "\"AOs=\"", "numeric(10,2) 2.35: base64 of 235 with a sign byte");
    check(1700, numeric_10_2, "12.75", "\"BPs=\"", "numeric(10,2) 12.75: base64 of 1275");
    check(1700, numeric_10_2, "-1.00", "\"nA==\"", "numeric(10,2) -1.00: -100 fits one byte");
    check(1700, numeric_10_2, "-2.00", "\"/zg=\"", "numeric(10,2) -2.00: -200 needs a sign byte");
    check(1700, numeric_10_2, "3", "\"ASw=\"", "numeric(10,2) 3: padded to the scale (300)");
    check(1700, numeric_10_2, "0.00", "\"AA==\"", "numeric(10,2) 0");
    check(1700, numeric_10_2, "-0.00", "\"AA==\"", "numeric(10,2) -0 is 0");
    check(1700, -1, "1.5", "{\"scale\":1,\"value\":\"Dw==\"}", "numeric without typmod: VariableScaleDecimal");
    check(1184, -1, "2025-11-14 13:49:52.418+00", "\"2025-11-14T13:49:52.418000Z\"",
          "timestamptz: ISO-8601 UTC, six fraction digits");
    check(1184, -1, "2026-01-17 03:45:42+00", "\"2026-01-17T03:45:42.000000Z\"", "timestamptz without fraction");
    check(1184, 3, "2026-01-17 03:45:42.7+00", "\"2026-01-17T03:45:42.700Z\"", "timestamptz(3): three digits");
    check(1114, -1, "2025-11-14 13:49:40", "1763128180000000", "timestamp: MicroTimestamp");
    check(1114, 3, "2025-11-14 13:49:40.5", "1763128180500", "timestamp(3): Timestamp in ms");
    check(1082, -1, "2025-11-14", "20406", "date: days since the epoch");
    check(3802, -1, "{\"bets\": 412}", "\"{\\\"bets\\\": 412}\"", "jsonb: a string of its text");
    check(20, -1, "90311", "90311", "bigint: a number");
    check(23, -1, "7", "7", "int: a number");
    check(16, -1, "t", "true", "boolean");
    check(17, -1, "\\x0a0b", "\"Cgs=\"", "bytea: base64");
    check(2950, -1, "0d6c5b1e-3f7a-4c8e-9a51-2f0c8e4b7d13", "\"0d6c5b1e-3f7a-4c8e-9a51-2f0c8e4b7d13\"", "uuid: its text");
    ok(encode(1700, numeric_10_2, "NaN") == NULL, "numeric NaN has no Decimal");
    ok(encode(1184, -1, "infinity") == NULL, "timestamptz infinity has no ISO form");
    ok(encode(23, -1, "x1") == NULL, "a non-number int is refused");
}

static void
test_defaults(void)
{
    dscdc_column_t jsonb = { "extras", 3802, -1, 0, 1, NULL };
    dscdc_column_t integer = { "n", 23, -1, 0, 1, NULL };
    json_t        *v;

    v = dscdc_encode_default(&jsonb, "'{}'::jsonb");
    ok(json_is_string(v) && strcmp(json_string_value(v), "{}") == 0, "'{}'::jsonb is the default {}");
    json_decref(v);
    v = dscdc_encode_default(&jsonb, "'it''s'::text");
    ok(json_is_string(v) && strcmp(json_string_value(v), "it's") == 0, "a doubled quote is one quote");
    json_decref(v);
    v = dscdc_encode_default(&integer, "0");
    ok(json_is_integer(v) && json_integer_value(v) == 0, "an unquoted number");
    json_decref(v);
    ok(dscdc_encode_default(&integer, "nextval('s'::regclass)") == NULL, "an expression has no default value");
}

int
main(void)
{
    test_pgoutput();
    test_values();
    test_defaults();
    return done_testing();
}
