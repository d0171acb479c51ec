/* Round event + games registry -> round object JSON (design.md "The round object"). Pure. */
#ifndef DSC_ROUND_MAP_H
#define DSC_ROUND_MAP_H

#include "event.h"

typedef struct {
    int64_t id;
    char slug[DATASTREAM_NAME_MAX + 1];
    char type[DATASTREAM_NAME_MAX + 1];
} dsc_game_ref_t;

typedef struct {
    const dsc_game_ref_t *games;
    size_t count;
} dsc_game_registry_t;

typedef enum { DSC_MAP_OK = 0, DSC_MAP_UNKNOWN_GAME, DSC_MAP_NO_MEMORY } dsc_map_result_e;

/* Columns carried by the row itself win over the registry. On DSC_MAP_OK, *json is owned by the
 * caller and slug/type point at the resolved names (valid while ev and registry live). */
dsc_map_result_e dsc_round_map(const dsc_round_event_t *ev, const dsc_game_registry_t *registry,
                               char **json, const char **slug, const char **type);

/* Registry entry stored in the games hash: {"id":..,"slug":..,"name":..,"type":..}. */
char *dsc_game_json(const dsc_game_row_t *row);

#endif
