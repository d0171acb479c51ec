/* Unit tests of round_map.c: the exact bytes of the round object and registry entries. */
#include "decode_debezium.h"
#include "fixtures.h"
#include "round_map.h"
#include "tap.h"

static const dsc_game_ref_t games[] = {
    {1, "crash", "multiplier"},
    {7, "double", "color"},
};
static const dsc_game_registry_t registry = {games, 2};

static char *map_json(const char *event, dsc_map_result_e *result)
{
    dsc_round_event_t ev;
    char reason[DSC_REASON_MAX];
    char *json = NULL;
    const char *slug, *type;
    if (dsc_decode_round(event, strlen(event), 65536, &ev, reason) != DSC_DECODE_OK) {
        printf("# decode failed: %s\n", reason);
        *result = DSC_MAP_NO_MEMORY;
        return NULL;
    }
    *result = dsc_round_map(&ev, &registry, &json, &slug, &type);
    dsc_round_event_free(&ev);
    return json;
}

static void check(const char *event, const char *want, const char *what)
{
    dsc_map_result_e r;
    char *json = map_json(event, &r);
    ok(r == DSC_MAP_OK, "%s: mapped", what);
    is_str(json, want, "%s: exact JSON", what);
    free(json);
}

#define SRC "\"source\":{\"ts_ms\":1768621542123,\"lsn\":100}"

int main(void)
{
    check("{\"op\":\"c\",\"after\":{\"id\":512,\"game_id\":1,\"finished_at\":\"2026-01-17T03:45:42.735266Z\","
          "\"extras\":\"{\\\"point\\\": \\\"11.72\\\"}\"}," SRC "}",
          "{\"round_id\":512,\"game_id\":1,\"game_slug\":\"crash\",\"game_type\":\"multiplier\","
          "\"finished_at\":\"2026-01-17T03:45:42.735266Z\",\"extras\":\"{\\\"point\\\": \\\"11.72\\\"}\","
          "\"timestamp\":1768621542123}",
          "contract example");

    for (int form = 0; form < 2; form++) {
        char *line = fixture_line(form ? "rounds.schemas-enabled.jsonl" : "rounds.schemas-disabled.jsonl", 4);
        check(line,
              "{\"round_id\":90313,\"game_id\":7,\"game_slug\":\"double\",\"game_type\":\"color\","
              "\"finished_at\":\"2025-11-14T13:50:39.771203Z\",\"extras\":\"{\\\"bets\\\": 455, \\\"top_win\\\": "
              "{\\\"user\\\": 5512, \\\"amount\\\": \\\"840.00\\\"}, \\\"crash_at\\\": 12.75}\",\"timestamp\":1763128239772}",
              form ? "fixture update, schemas enabled" : "fixture update, schemas disabled");
        free(line);
    }

    check("{\"op\":\"r\",\"after\":{\"id\":3,\"game_id\":1,\"finished_at\":null,\"extras\":null}," SRC "}",
          "{\"round_id\":3,\"game_id\":1,\"game_slug\":\"crash\",\"game_type\":\"multiplier\","
          "\"finished_at\":null,\"extras\":\"{}\",\"timestamp\":1768621542123}",
          "null finished_at and extras");

    check("{\"op\":\"c\",\"after\":{\"id\":4,\"game_id\":99,\"game_slug\":\"slot\",\"game_type\":\"slots\"}," SRC "}",
          "{\"round_id\":4,\"game_id\":99,\"game_slug\":\"slot\",\"game_type\":\"slots\","
          "\"finished_at\":null,\"extras\":\"{}\",\"timestamp\":1768621542123}",
          "row columns need no registry");

    check("{\"op\":\"c\",\"after\":{\"id\":5,\"game_id\":1,\"game_slug\":\"wall-street\"}," SRC "}",
          "{\"round_id\":5,\"game_id\":1,\"game_slug\":\"wall-street\",\"game_type\":\"multiplier\","
          "\"finished_at\":null,\"extras\":\"{}\",\"timestamp\":1768621542123}",
          "row slug wins, type from registry");

    check("{\"op\":\"c\",\"after\":{\"id\":6,\"game_id\":1,\"extras\":\"{\\\"s\\\":\\\"a\\\\\\\\b\\\\nc\\\\u0001é\\\"}\"}," SRC "}",
          "{\"round_id\":6,\"game_id\":1,\"game_slug\":\"crash\",\"game_type\":\"multiplier\","
          "\"finished_at\":null,\"extras\":\"{\\\"s\\\":\\\"a\\\\\\\\b\\\\nc\\\\u0001é\\\"}\",\"timestamp\":1768621542123}",
          "extras with escapes and UTF-8 kept verbatim");

    check("{\"op\":\"c\",\"after\":{\"id\":8,\"game_id\":1,\"extras\":\"line\\nbreak\\t\\u0002\"}," SRC "}",
          "{\"round_id\":8,\"game_id\":1,\"game_slug\":\"crash\",\"game_type\":\"multiplier\","
          "\"finished_at\":null,\"extras\":\"line\\nbreak\\t\\u0002\",\"timestamp\":1768621542123}",
          "control characters escaped");

    dsc_map_result_e r;
    char *json = map_json("{\"op\":\"c\",\"after\":{\"id\":9,\"game_id\":42}," SRC "}", &r);
    ok(r == DSC_MAP_UNKNOWN_GAME && json == NULL, "unknown game is reported");
    json = map_json("{\"op\":\"c\",\"after\":{\"id\":9,\"game_id\":42,\"game_slug\":\"x\"}," SRC "}", &r);
    ok(r == DSC_MAP_UNKNOWN_GAME && json == NULL, "slug column alone is not enough for an unknown game");

    dsc_game_row_t row = {1, "crash", "multiplier", (char *)"Crash \"X\""};
    char *g = dsc_game_json(&row);
    is_str(g, "{\"id\":1,\"slug\":\"crash\",\"name\":\"Crash \\\"X\\\"\",\"type\":\"multiplier\"}",
           "registry entry JSON");
    free(g);
    return done_testing();
}
