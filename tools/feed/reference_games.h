/* The four reference games of the contract, and a plausible result for a
 * round of each game type. */
#ifndef DSF_REFERENCE_GAMES_H
#define DSF_REFERENCE_GAMES_H

#include <stddef.h>
#include "envelope.h"

#define DSF_REFERENCE_GAMES 4

extern const dsf_game_t dsf_reference_games[DSF_REFERENCE_GAMES];

/* Seconds between two rounds of game i at speed 1. */
extern const double dsf_reference_period[DSF_REFERENCE_GAMES];

/* The game the demo adds while it writes rows, as an operator would add one: not a reference
 * game of the contract, so `gen games` and the envelope demo leave it out. */
extern const dsf_game_t dsf_added_game;
extern const double     dsf_added_game_period;

/* Writes extras jsonb text for a round of `game`; `roll` is in [0, 1). */
int dsf_reference_extras(char *out, size_t cap, const dsf_game_t *game, double roll);

#endif
