/* Round event + games registry -> round object JSON (design.md "The round object"). Pure. */
#ifndef DS_ROUND_MAP_H
#define DS_ROUND_MAP_H

#include "event.h"

typedef struct {
    int64_t id;
    char slug[DS_NAME_MAX + 1];
    char type[DS_NAME_MAX + 1];
} ds_game_ref;

typedef struct {
    const ds_game_ref *games;
    size_t count;
} ds_game_registry;

typedef enum { MAP_OK = 0, MAP_UNKNOWN_GAME, MAP_NO_MEMORY } ds_map_result;

/* Columns carried by the row itself win over the registry. On MAP_OK, *json is owned by the
 * caller and slug/type point at the resolved names (valid while ev and registry live). */
ds_map_result ds_round_map(const ds_round_event *ev, const ds_game_registry *registry,
                           char **json, const char **slug, const char **type);

/* Registry entry stored in the games hash: {"id":..,"slug":..,"name":..,"type":..}. */
char *ds_game_json(const ds_game_row *row);

#endif
