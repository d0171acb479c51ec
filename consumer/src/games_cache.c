#include "games_cache.h"

#include <stdlib.h>
#include <string.h>

/* More games than any deployment has; past it the cache starts over instead of growing. */
#define GAMES_CACHE_MAX 4096

struct dsc_games_cache_s {
    bool known;                     /* rev holds a revision read from Redis */
    char rev[DSC_REGISTRY_REV_MAX];
    dsc_game_ref_t *games;
    size_t count, cap;
};

dsc_games_cache_t *dsc_games_cache_new(void)
{
    return calloc(1, sizeof(dsc_games_cache_t));
}

void dsc_games_cache_free(dsc_games_cache_t *c)
{
    if (c)
        free(c->games);
    free(c);
}

void dsc_games_cache_clear(dsc_games_cache_t *c)
{
    c->known = false;
    c->count = 0;
}

static const dsc_game_ref_t *find(const dsc_games_cache_t *c, int64_t id)
{
    for (size_t i = 0; i < c->count; i++)
        if (c->games[i].id == id)
            return &c->games[i];
    return NULL;
}

bool dsc_games_cache_get(const dsc_games_cache_t *c, const int64_t *ids, size_t n,
                         dsc_game_ref_t *out)
{
    if (!c->known)
        return false;
    for (size_t i = 0; i < n; i++) {
        const dsc_game_ref_t *g = find(c, ids[i]);
        if (!g)
            return false;
        out[i] = *g;
    }
    return true;
}

static int add(dsc_games_cache_t *c, const dsc_game_ref_t *g)
{
    dsc_game_ref_t *cur = (dsc_game_ref_t *)find(c, g->id);
    if (cur) {
        *cur = *g;
        return 0;
    }
    if (c->count == GAMES_CACHE_MAX)
        c->count = 0;
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        dsc_game_ref_t *games = realloc(c->games, cap * sizeof *games);
        if (!games)
            return -1;
        c->games = games;
        c->cap = cap;
    }
    c->games[c->count++] = *g;
    return 0;
}

int dsc_games_cache_put(dsc_games_cache_t *c, const char *rev, const dsc_game_ref_t *refs,
                        const bool *found, size_t n)
{
    size_t len = strlen(rev);
    if (len >= sizeof c->rev) {
        dsc_games_cache_clear(c);
        return -1;
    }
    if (!c->known || strcmp(c->rev, rev) != 0) {
        c->count = 0;
        memcpy(c->rev, rev, len + 1);
        c->known = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (found[i] && add(c, &refs[i]) != 0) {
            dsc_games_cache_clear(c);
            return -1;
        }
    }
    return 0;
}

const char *dsc_games_cache_revision(const dsc_games_cache_t *c)
{
    return c->known ? c->rev : NULL;
}
