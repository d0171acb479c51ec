/* libFuzzer target: the decoder must reject or accept any bytes without crashing, leaking
 * or reading out of bounds, and mapping an accepted round must produce a string. */
#include "decode_debezium.h"
#include "round_map.h"

#include <stdint.h>
#include <stdlib.h>

static const dsc_game_ref_t games[] = {{1, "crash", "multiplier"}, {7, "double", "color"}};
static const dsc_game_registry_t registry = {games, 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char reason[DSC_REASON_MAX];
    dsc_round_event_t ev;
    if (dsc_decode_round((const char *)data, size, 1 << 20, &ev, reason) == DSC_DECODE_OK) {
        char *json = NULL;
        const char *slug, *type;
        if (datastream_op_info(ev.op)->row == DATASTREAM_ROW_AFTER &&
            dsc_round_map(&ev, &registry, &json, &slug, &type) == DSC_MAP_OK && !json)
            abort();
        free(json);
        dsc_round_event_free(&ev);
    }
    dsc_game_event_t gev;
    if (dsc_decode_game((const char *)data, size, 1 << 20, &gev, reason) == DSC_DECODE_OK) {
        char *json = dsc_game_json(&gev.row);
        free(json);
        dsc_game_event_free(&gev);
    }
    return 0;
}
