/* Unit tests of decode_debezium.c: every op, both envelope forms, every encoding and every
 * rejection reason. */
#include "decode_debezium.h"
#include "fixtures.h"
#include "tap.h"

#include <inttypes.h>

#define MAX_BYTES 65536

static const char *const forms[] = {"rounds.schemas-disabled.jsonl", "rounds.schemas-enabled.jsonl"};

typedef struct {
    int line;
    char op;
    int64_t id;
    int64_t game_id;
    uint64_t lsn;
    int64_t ts_ms;
    const char *finished_at;    /* NULL: SQL NULL */
    const char *extras;
} expected_round;

static const expected_round fixture_rounds[] = {
    {1, 'r', 90311, 7, 2231405832u, 1763128200112, "2025-11-14T13:49:52.418000Z",
     "{\"bets\": 412, \"crash_at\": 2.35, \"seed_hash\": \"9f2c1ab4\"}"},
    {2, 'r', 90312, 7, 2231405832u, 1763128200112, NULL, "{\"bets\": 388}"},
    {3, 'c', 90313, 7, 2231409920u, 1763128221004, NULL, "{\"bets\": 0}"},
    {4, 'u', 90313, 7, 2231412736u, 1763128239772, "2025-11-14T13:50:39.771203Z",
     "{\"bets\": 455, \"top_win\": {\"user\": 5512, \"amount\": \"840.00\"}, \"crash_at\": 12.75}"},
    {5, 'u', 90313, 7, 2231412736u, 1763128239772, "2025-11-14T13:50:39.771203Z",
     "{\"bets\": 455, \"top_win\": {\"user\": 5512, \"amount\": \"840.00\"}, \"crash_at\": 12.75}"},
    {6, 'd', 90311, 0, 2231420552u, 1763128302450, NULL, NULL},
    {7, 'd', 90311, 0, 2231420552u, 1763128302450, NULL, NULL},
};

static void test_fixtures(void)
{
    for (size_t f = 0; f < 2; f++) {
        for (size_t i = 0; i < sizeof fixture_rounds / sizeof fixture_rounds[0]; i++) {
            const expected_round *x = &fixture_rounds[i];
            char *line = fixture_line(forms[f], x->line);
            dsc_round_event_t ev;
            char reason[DSC_REASON_MAX];
            bool decoded = line && dsc_decode_round(line, strlen(line), MAX_BYTES, &ev, reason) == DSC_DECODE_OK;
            ok(decoded, "%s line %d decodes (%s)", forms[f], x->line, decoded ? "" : reason);
            if (!decoded) {
                free(line);
                continue;
            }
            bool fields = datastream_op_info(ev.op)->letter == x->op && ev.row.id == x->id &&
                          ev.row.game_id == x->game_id && ev.lsn == x->lsn &&
                          ev.source_ts_ms == x->ts_ms;
            ok(fields, "%s line %d: op %c id %" PRId64 " lsn %" PRIu64, forms[f], x->line, x->op,
               x->id, x->lsn);
            ok(ev.row.has_finished_at == (x->finished_at != NULL) &&
                   (!x->finished_at || strcmp(ev.row.finished_at, x->finished_at) == 0),
               "%s line %d: finished_at", forms[f], x->line);
            if (x->extras)
                is_str(ev.row.extras, x->extras, "%s line %d: extras unchanged", forms[f], x->line);
            dsc_round_event_free(&ev);
            free(line);
        }
    }
}

static dsc_decode_result_e decode(const char *json, dsc_round_event_t *ev, char *reason)
{
    dsc_decode_result_e r = dsc_decode_round(json, strlen(json), MAX_BYTES, ev, reason);
    return r;
}

static void accepts(const char *json, const char *what)
{
    dsc_round_event_t ev;
    char reason[DSC_REASON_MAX];
    dsc_decode_result_e r = decode(json, &ev, reason);
    ok(r == DSC_DECODE_OK, "accepts %s%s%s", what, r == DSC_DECODE_OK ? "" : ": ", r == DSC_DECODE_OK ? "" : reason);
    if (r == DSC_DECODE_OK)
        dsc_round_event_free(&ev);
}

static void rejects(const char *json, const char *want_reason)
{
    dsc_round_event_t ev;
    char reason[DSC_REASON_MAX];
    ok(decode(json, &ev, reason) == DSC_DECODE_REJECTED, "rejects: %s", want_reason);
    is_str(reason, want_reason, "reason is exact: %s", want_reason);
}

#define SRC "\"source\":{\"ts_ms\":1768621542123,\"lsn\":100}"
#define AFTER(cols) "{\"op\":\"c\",\"before\":null,\"after\":{" cols "}," SRC "}"
#define GOOD_COLS "\"id\":512,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42.735266Z\",\"extras\":\"{}\""

static void test_ops_and_encodings(void)
{
    dsc_round_event_t ev;
    char reason[DSC_REASON_MAX];

    ok(decode("{\"op\":\"t\",\"before\":null,\"after\":null," SRC "}", &ev, reason) ==
               DSC_DECODE_OK && ev.op == DATASTREAM_OP_TRUNCATE && ev.lsn == 100,
       "truncate decodes with its lsn");
    ok(decode("{\"op\":\"m\",\"message\":{\"prefix\":\"x\"}}", &ev, reason) == DSC_DECODE_OK &&
           ev.op == DATASTREAM_OP_MESSAGE,
       "logical message decodes as op m");

    ok(decode(AFTER(GOOD_COLS ",\"game_slug\":\"crash\",\"game_type\":\"multiplier\""), &ev, reason) ==
               DSC_DECODE_OK &&
           strcmp(ev.row.game_slug, "crash") == 0 && strcmp(ev.row.game_type, "multiplier") == 0,
       "game_slug / game_type columns are carried");
    dsc_round_event_free(&ev);

    ok(decode(AFTER("\"id\":512,\"game_id\":1"), &ev, reason) == DSC_DECODE_OK &&
           !ev.row.has_finished_at && strcmp(ev.row.extras, "{}") == 0,
       "missing finished_at and extras: null and {}");
    dsc_round_event_free(&ev);

    ok(decode(AFTER("\"id\":512,\"game_id\":1,\"extras\":null,\"finished_at\":null"), &ev, reason) ==
               DSC_DECODE_OK && strcmp(ev.row.extras, "{}") == 0,
       "null extras becomes {}");
    dsc_round_event_free(&ev);

    accepts(AFTER("\"id\":512,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42Z\""),
            "timestamp with 0 fraction digits");
    accepts(AFTER("\"id\":512,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42.123456789Z\""),
            "timestamp with 9 fraction digits");
    accepts(AFTER(GOOD_COLS ",\"status\":\"x\",\"multiplier\":\"AOs=\""), "extra columns");
    accepts("{\"op\":\"d\",\"before\":{\"id\":512,\"game_id\":0,\"extras\":null},\"after\":null," SRC "}",
            "delete with key-only before (game_id filler 0)");

    /* numeric(20,0) primary keys arrive as Decimal when the schema says so */
    const char *decimal =
        "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"field\":\"after\",\"fields\":["
        "{\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"0\"},\"field\":\"id\"},"
        "{\"type\":\"bytes\",\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"2\"},\"field\":\"game_id\"}]}]},"
        "\"payload\":{\"op\":\"c\",\"after\":{\"id\":\"AWDH\",\"game_id\":\"Arw=\",\"extras\":\"{}\"}," SRC "}}";
    ok(decode(decimal, &ev, reason) == DSC_DECODE_OK && ev.row.id == 90311 && ev.row.game_id == 7,
       "Decimal id and game_id (scale 0 and 2) decode: %s", reason);
    dsc_round_event_free(&ev);
}

static void test_games(void)
{
    dsc_game_event_t g;
    char reason[DSC_REASON_MAX];
    const char *c = "{\"op\":\"c\",\"before\":null,\"after\":{\"id\":1,\"slug\":\"crash\",\"name\":\"Crash\","
                    "\"type\":\"multiplier\"}," SRC "}";
    ok(dsc_decode_game(c, strlen(c), MAX_BYTES, &g, reason) == DSC_DECODE_OK && g.row.id == 1 &&
           strcmp(g.row.slug, "crash") == 0 && strcmp(g.row.name, "Crash") == 0 &&
           strcmp(g.row.type, "multiplier") == 0 && g.lsn == 100,
       "games insert decodes");
    dsc_game_event_free(&g);
    const char *d = "{\"op\":\"d\",\"before\":{\"id\":4,\"slug\":\"\",\"name\":\"\",\"type\":\"\"},\"after\":null," SRC "}";
    ok(dsc_decode_game(d, strlen(d), MAX_BYTES, &g, reason) == DSC_DECODE_OK &&
           g.op == DATASTREAM_OP_DELETE && g.row.id == 4,
       "games delete decodes with the key only");
    dsc_game_event_free(&g);
    const char *bad = "{\"op\":\"c\",\"after\":{\"id\":1,\"slug\":\"Crash!\",\"name\":\"Crash\",\"type\":\"multiplier\"}," SRC "}";
    ok(dsc_decode_game(bad, strlen(bad), MAX_BYTES, &g, reason) == DSC_DECODE_REJECTED, "bad slug rejected");
    is_str(reason, "after.slug: not a valid name", "bad slug reason");
    const char *noname = "{\"op\":\"u\",\"after\":{\"id\":1,\"slug\":\"crash\",\"type\":\"multiplier\"}," SRC "}";
    ok(dsc_decode_game(noname, strlen(noname), MAX_BYTES, &g, reason) == DSC_DECODE_REJECTED, "missing name rejected");
    is_str(reason, "after.name: missing", "missing name reason");
}

#define NAME_64 "a123456789b123456789c123456789d123456789e123456789f123456789g123"
#define NAME_65 NAME_64 "4"

/* Inputs each refused with exactly this reason. */
static const struct {
    const char *json;
    const char *reason;
} rejections[] = {
    {"{\"op\":", "message: invalid JSON at position 6: unexpected token near end of file"},
    {"{\"op\":\"c\",\"x\":\"\xff\"}",
     "message: invalid JSON at position 15: unable to decode byte 0xff near '\"'"},
    {"[1,2]", "message: not a JSON object"},
    {"{\"op\":\"c\",\"op\":\"u\"}",
     "message: invalid JSON at position 14: duplicate object key near '\"op\"'"},
    {"{\"schema\":{},\"payload\":null}", "payload: not an object"},
    {"{\"before\":null}", "op: missing"},
    {"{\"op\":\"x\"," SRC "}", "op: unknown value"},
    {"{\"op\":\"c\",\"after\":{}}", "source: missing"},
    {"{\"op\":\"c\",\"after\":{},\"source\":{\"ts_ms\":1}}", "source.lsn: missing"},
    {"{\"op\":\"c\",\"after\":{},\"source\":{\"ts_ms\":1,\"lsn\":\"12\"}}",
     "source.lsn: not an integer"},
    {"{\"op\":\"c\",\"after\":{},\"source\":{\"ts_ms\":1,\"lsn\":-1}}", "source.lsn: out of range"},
    {"{\"op\":\"c\",\"after\":{},\"source\":{\"lsn\":1}}", "source.ts_ms: missing"},
    {"{\"op\":\"c\",\"after\":null," SRC "}", "after: missing"},
    {"{\"op\":\"u\"," SRC "}", "after: missing"},
    {"{\"op\":\"d\",\"before\":null," SRC "}", "before: missing"},
    {"{\"op\":\"d\",\"before\":{\"game_id\":0}," SRC "}", "before.id: missing"},
    {AFTER("\"game_id\":1"), "after.id: missing"},
    {AFTER("\"id\":\"512\",\"game_id\":1"), "after.id: not an integer"},
    {AFTER("\"id\":5.5,\"game_id\":1"), "after.id: not an integer"},
    {AFTER("\"id\":1e30,\"game_id\":1"), "after.id: not an integer"},
    {AFTER("\"id\":0,\"game_id\":1"), "after.id: out of range"},
    {AFTER("\"id\":99999999999999999999,\"game_id\":1"),
     "message: invalid JSON at position 58: too big integer near '99999999999999999999'"},
    {AFTER("\"id\":1"), "after.game_id: missing"},
    {AFTER("\"id\":1,\"game_id\":2147483648"), "after.game_id: out of range"},
    {AFTER("\"id\":1,\"game_id\":0"), "after.game_id: out of range"},
    {AFTER("\"id\":1,\"game_id\":1,\"finished_at\":17"), "after.finished_at: not a string"},
    {AFTER("\"id\":1,\"game_id\":1,\"finished_at\":\"2026-01-17 03:45:42Z\""),
     "after.finished_at: not an ISO-8601 UTC timestamp"},
    {AFTER("\"id\":1,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42.1234567890Z\""),
     "after.finished_at: not an ISO-8601 UTC timestamp"},
    {AFTER("\"id\":1,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42+01:00\""),
     "after.finished_at: not an ISO-8601 UTC timestamp"},
    {AFTER("\"id\":1,\"game_id\":1,\"extras\":{\"a\":1}"), "after.extras: not a string"},
    {AFTER("\"id\":1,\"game_id\":1,\"game_slug\":\"Bad Slug\""),
     "after.game_slug: not a valid name"},
    {AFTER("\"id\":1,\"game_id\":1,\"game_type\":7"), "after.game_type: not a string"},
    {AFTER("\"id\":1,\"game_id\":1,\"game_slug\":\"" NAME_65 "\""),
     "after.game_slug: not a valid name"},
    {"{\"op\":\"cu\"," SRC "}", "op: unknown value"},
    {"{\"op\":\"\"," SRC "}", "op: unknown value"},
};

static void test_rejections(void)
{
    char big[2048];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '{';
    big[sizeof big - 2] = '}';
    dsc_round_event_t ev;
    char reason[DSC_REASON_MAX];
    ok(dsc_decode_round(big, strlen(big), 1024, &ev, reason) == DSC_DECODE_REJECTED, "oversized rejected");
    is_str(reason, "message: too large (2047 bytes, limit 1024)", "oversized reason");

    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    rejects(deep, "message: nested deeper than 32 levels");
    for (size_t i = 0; i < sizeof rejections / sizeof rejections[0]; i++)
        rejects(rejections[i].json, rejections[i].reason);
    accepts(AFTER("\"id\":1,\"game_id\":1,\"game_slug\":\"" NAME_64 "\""),
            "a game_slug of DATASTREAM_NAME_MAX bytes");
    const char *bad_decimal =
        "{\"schema\":{\"fields\":[{\"field\":\"after\",\"fields\":[{\"name\":\"org.apache.kafka.connect.data.Decimal\","
        "\"parameters\":{\"scale\":\"0\"},\"field\":\"id\"}]}]},"
        "\"payload\":{\"op\":\"c\",\"after\":{\"id\":\"@@@@\",\"game_id\":1}," SRC "}}";
    rejects(bad_decimal, "after.id: invalid decimal");
}

int main(void)
{
    test_fixtures();
    test_ops_and_encodings();
    test_games();
    test_rejections();
    return done_testing();
}
