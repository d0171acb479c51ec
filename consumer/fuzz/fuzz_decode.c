/* libFuzzer target: the decoder must reject or accept any bytes without crashing, leaking
 * or reading out of bounds, and mapping an accepted round must produce a string. */
#include "decode_debezium.h"
#include "round_map.h"

#include <stdint.h>
#include <stdlib.h>

static const ds_game_ref games[] = {{1, "crash", "multiplier"}, {7, "double", "color"}};
static const ds_game_registry registry = {games, 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[DS_REASON_MAX];
    ds_round_event ev;
    if (ds_decode_round((const char *)data, size, 1 << 20, &ev, reason) == DECODE_OK) {
        char *json = NULL;
        const char *slug, *type;
        if ((ev.op == OP_CREATE || ev.op == OP_UPDATE || ev.op == OP_READ) &&
            ds_round_map(&ev, &registry, &json, &slug, &type) == MAP_OK && !json)
            abort();
        free(json);
        ds_round_event_free(&ev);
    }
    ds_game_event gev;
    if (ds_decode_game((const char *)data, size, 1 << 20, &gev, reason) == DECODE_OK) {
        char *json = ds_game_json(&gev.row);
        free(json);
        ds_game_event_free(&gev);
    }
    return 0;
}
