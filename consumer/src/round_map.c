#include "round_map.h"

#include "json_text.h"

#include <string.h>

static const ds_game_ref *registry_find(const ds_game_registry *r, int64_t id)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->games[i].id == id)
            return &r->games[i];
    return NULL;
}

ds_map_result ds_round_map(const ds_round_event *ev, const ds_game_registry *registry,
                           char **json, const char **slug, const char **type)
{
    const ds_round_row *row = &ev->row;
    const ds_game_ref *game = registry_find(registry, row->game_id);
    *slug = row->game_slug[0] ? row->game_slug : game ? game->slug : NULL;
    *type = row->game_type[0] ? row->game_type : game ? game->type : NULL;
    if (!*slug || !*type)
        return MAP_UNKNOWN_GAME;

    ds_text t = {0};
    ds_text_raw(&t, "{\"round_id\":");
    ds_text_int(&t, row->id);
    ds_text_raw(&t, ",\"game_id\":");
    ds_text_int(&t, row->game_id);
    ds_text_raw(&t, ",\"game_slug\":");
    ds_text_string(&t, *slug);
    ds_text_raw(&t, ",\"game_type\":");
    ds_text_string(&t, *type);
    ds_text_raw(&t, ",\"finished_at\":");
    if (row->has_finished_at)
        ds_text_string(&t, row->finished_at);
    else
        ds_text_raw(&t, "null");
    ds_text_raw(&t, ",\"extras\":");
    ds_text_string(&t, row->extras ? row->extras : "{}");
    ds_text_raw(&t, ",\"timestamp\":");
    ds_text_int(&t, ev->source_ts_ms);
    ds_text_raw(&t, "}");
    *json = ds_text_finish(&t);
    return *json ? MAP_OK : MAP_NO_MEMORY;
}

char *ds_game_json(const ds_game_row *row)
{
    ds_text t = {0};
    ds_text_raw(&t, "{\"id\":");
    ds_text_int(&t, row->id);
    ds_text_raw(&t, ",\"slug\":");
    ds_text_string(&t, row->slug);
    ds_text_raw(&t, ",\"name\":");
    ds_text_string(&t, row->name ? row->name : "");
    ds_text_raw(&t, ",\"type\":");
    ds_text_string(&t, row->type);
    ds_text_raw(&t, "}");
    return ds_text_finish(&t);
}
