/* The games registry as this process last read it, with the registry's revision at that read.
 * The read model's scripts change the revision with every change of the registry, and
 * rounds_apply.lua refuses a batch whose names were resolved at another revision, so a batch
 * resolved from the cache is as current as one looked up for itself, without the round trip.
 * Only games found are kept: an unknown game is looked up again each time. Pure data. */
#ifndef DSC_GAMES_CACHE_H
#define DSC_GAMES_CACHE_H

#include "round_map.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "<s>.<us>.<counter>" as the scripts write it, or empty: no registry yet. */
#define DSC_REGISTRY_REV_MAX 64

typedef struct dsc_games_cache_s dsc_games_cache_t;

dsc_games_cache_t *dsc_games_cache_new(void);
void dsc_games_cache_free(dsc_games_cache_t *c);

/* Fills out[i] for every id, true when all are cached at a known revision. */
bool dsc_games_cache_get(const dsc_games_cache_t *c, const int64_t *ids, size_t n,
                         dsc_game_ref_t *out);
/* Takes a lookup's answer: the entries found, read at revision rev. A revision other than the
 * cached one drops every entry first. -1 when out of memory or rev too long (the cache is then
 * empty). */
int dsc_games_cache_put(dsc_games_cache_t *c, const char *rev, const dsc_game_ref_t *refs,
                        const bool *found, size_t n);
/* The revision the cached entries were read at; NULL while nothing was read. */
const char *dsc_games_cache_revision(const dsc_games_cache_t *c);
/* Forgets everything: the next batch looks its games up. */
void dsc_games_cache_clear(dsc_games_cache_t *c);

#endif
