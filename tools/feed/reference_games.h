/* The four reference games of the contract, and a plausible result for a
 * round of each game type. */
#ifndef DATASTREAM_FEED_REFERENCE_GAMES_H
#define DATASTREAM_FEED_REFERENCE_GAMES_H

#include <stddef.h>
#include "envelope.h"

#define FEED_REFERENCE_GAMES 4

extern const feed_game_t feed_reference_games[FEED_REFERENCE_GAMES];

/* Seconds between two rounds of game i at speed 1. */
extern const double feed_reference_period[FEED_REFERENCE_GAMES];

/* Writes extras jsonb text for a round of `game`; `roll` is in [0, 1). */
int feed_reference_extras(char *out, size_t cap, const feed_game_t *game, double roll);

#endif
