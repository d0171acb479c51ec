#include "round_map.h"

#include "json_text.h"

#include <string.h>

static const dsc_game_ref_t *registry_find(const dsc_game_registry_t *r, int64_t id)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->games[i].id == id)
            return &r->games[i];
    return NULL;
}

dsc_map_result_e dsc_round_map(const dsc_round_event_t *ev, const dsc_game_registry_t *registry,
                               char **json, const char **slug, const char **type)
{
    const dsc_round_row_t *row = &ev->row;
    const dsc_game_ref_t *game = registry_find(registry, row->game_id);
    *slug = row->game_slug[0] ? row->game_slug : game ? game->slug : NULL;
    *type = row->game_type[0] ? row->game_type : game ? game->type : NULL;
    if (!*slug || !*type)
        return DSC_MAP_UNKNOWN_GAME;

    dsc_text_t t = {0};
    dsc_text_raw(&t, "{\"round_id\":");
    dsc_text_int(&t, row->id);
    dsc_text_raw(&t, ",\"game_id\":");
    dsc_text_int(&t, row->game_id);
    dsc_text_raw(&t, ",\"game_slug\":");
    dsc_text_string(&t, *slug);
    dsc_text_raw(&t, ",\"game_type\":");
    dsc_text_string(&t, *type);
    dsc_text_raw(&t, ",\"finished_at\":");
    if (row->has_finished_at)
        dsc_text_string(&t, row->finished_at);
    else
        dsc_text_raw(&t, "null");
    dsc_text_raw(&t, ",\"extras\":");
    dsc_text_string(&t, row->extras ? row->extras : "{}");
    dsc_text_raw(&t, ",\"timestamp\":");
    dsc_text_int(&t, ev->source_ts_ms);
    dsc_text_raw(&t, "}");
    *json = dsc_text_finish(&t);
    return *json ? DSC_MAP_OK : DSC_MAP_NO_MEMORY;
}

char *dsc_game_json(const dsc_game_row_t *row)
{
    dsc_text_t t = {0};
    dsc_text_raw(&t, "{\"id\":");
    dsc_text_int(&t, row->id);
    dsc_text_raw(&t, ",\"slug\":");
    dsc_text_string(&t, row->slug);
    dsc_text_raw(&t, ",\"name\":");
    dsc_text_string(&t, row->name ? row->name : "");
    dsc_text_raw(&t, ",\"type\":");
    dsc_text_string(&t, row->type);
    dsc_text_raw(&t, "}");
    return dsc_text_finish(&t);
}
