/* Unit tests of games_cache.c: what a batch may take from the cache, and when it must look up. */
#include "games_cache.h"
#include "tap.h"

#include <stdbool.h>

static const dsc_game_ref_t crash = {1, "crash", "multiplier"}, dbl = {7, "double", "color"};

int main(void)
{
    dsc_games_cache_t *c = dsc_games_cache_new();
    dsc_game_ref_t out[2];
    int64_t ids[2] = {1, 7};

    ok(c != NULL, "created");
    ok(!dsc_games_cache_get(c, ids, 1, out), "empty: a lookup is needed");
    ok(dsc_games_cache_revision(c) == NULL, "empty: no revision");

    dsc_game_ref_t refs[2] = {crash, dbl};
    bool found[2] = {true, false};
    ok(dsc_games_cache_put(c, "100.5.1", refs, found, 2) == 0, "a lookup's answer taken");
    is_str(dsc_games_cache_revision(c), "100.5.1", "its revision kept");
    ok(dsc_games_cache_get(c, ids, 1, out) && out[0].id == 1 && strcmp(out[0].slug, "crash") == 0,
       "a game found is served");
    ok(!dsc_games_cache_get(c, ids, 2, out), "a game not found is looked up again");

    found[0] = false;
    found[1] = true;
    ok(dsc_games_cache_put(c, "100.5.1", refs, found, 2) == 0, "the same revision adds to it");
    ok(dsc_games_cache_get(c, ids, 2, out) && strcmp(out[1].type, "color") == 0, "both served");

    dsc_game_ref_t renamed = {1, "crash-x", "multiplier"};
    bool one = true;
    ok(dsc_games_cache_put(c, "101.0.2", &renamed, &one, 1) == 0, "a new revision taken");
    ok(!dsc_games_cache_get(c, ids + 1, 1, out), "a new revision drops what was read before it");
    ok(dsc_games_cache_get(c, ids, 1, out) && strcmp(out[0].slug, "crash-x") == 0,
       "and serves what was read at it");

    dsc_games_cache_clear(c);
    ok(!dsc_games_cache_get(c, ids, 1, out), "cleared: a lookup is needed");

    char long_rev[DSC_REGISTRY_REV_MAX + 1];
    memset(long_rev, '9', sizeof long_rev - 1);
    long_rev[sizeof long_rev - 1] = '\0';
    ok(dsc_games_cache_put(c, long_rev, &renamed, &one, 1) == -1, "a revision too long is refused");
    ok(!dsc_games_cache_get(c, ids, 1, out), "and leaves the cache empty");

    dsc_games_cache_free(c);
    return done_testing();
}
