#include "reference_games.h"

#include <stdio.h>
#include <string.h>

const dsf_game_t dsf_reference_games[DSF_REFERENCE_GAMES] = {
    { 1, "crash",       "Crash",        "multiplier" },
    { 2, "double",      "Double",       "color" },
    { 3, "slot",        "Slot Machine", "slots" },
    { 4, "wall-street", "Wall Street",  "trending" },
};

const double dsf_reference_period[DSF_REFERENCE_GAMES] = { 4.0, 6.0, 1.5, 3.0 };

const dsf_game_t dsf_added_game = { 5, "plinko", "Plinko", "drop" };
const double     dsf_added_game_period = 2.0;

int
dsf_reference_extras(char *out, size_t cap, const dsf_game_t *game, double roll)
{
    static const char *colors[] = { "red", "black", "white" };
    static const char *symbols[] = { "cherry", "lemon", "bell", "seven", "bar" };
    int n;

    if (strcmp(game->type, "multiplier") == 0) {
        /* Crash points are heavy-tailed: most rounds bust early. */
        double point = 0.99 / (1.0 - roll * 0.99);
        n = snprintf(out, cap, "{\"point\": \"%.2f\"}", point < 1.0 ? 1.0 : point);
    } else if (strcmp(game->type, "color") == 0) {
        int number = (int) (roll * 15.0);
        n = snprintf(out, cap, "{\"color\": \"%s\", \"number\": %d}",
                     number == 0 ? colors[2] : colors[number % 2], number);
    } else if (strcmp(game->type, "slots") == 0) {
        int r = (int) (roll * 125.0);
        n = snprintf(out, cap, "{\"result\": \"%s-%s-%s\", \"payout\": \"%.2f\"}",
                     symbols[r % 5], symbols[(r / 5) % 5], symbols[(r / 25) % 5],
                     r % 31 == 0 ? 10.0 : 0.0);
    } else if (strcmp(game->type, "drop") == 0) {
        /* A ball falls through 16 rows of pegs: the slot is binomial, the edges pay most. */
        static const char *payouts[] = { "16", "9", "2", "1.4", "1.4", "1.2", "1.1", "1", "0.5" };
        unsigned bits = (unsigned) (roll * 65536.0);
        int      slot = __builtin_popcount(bits);
        n = snprintf(out, cap, "{\"slot\": %d, \"multiplier\": \"%s\"}",
                     slot, payouts[slot > 8 ? 16 - slot : slot]);
    } else {
        double change = (roll - 0.5) * 6.0;
        n = snprintf(out, cap, "{\"result\": \"%s\", \"change\": \"%+.2f\"}",
                     change >= 0 ? "up" : "down", change);
    }
    return (n < 0 || (size_t) n >= cap) ? -1 : n;
}
