#ifndef DSK_ORIGINS_H
#define DSK_ORIGINS_H

#include <stdbool.h>
#include <stddef.h>

/* The backend compares the browser's Origin header byte for byte with each
 * stored origin, so only the exact form a browser sends is accepted:
 * http(s)://host[:port], lowercase host, no path, no default port. */

/* Checks one origin; on failure writes the reason into why. */
bool dsk_origin_is_valid(const char *origin, char *why, size_t why_len);

/* Validates a whitespace-separated list and writes it back normalised to single
 * spaces, without duplicates, into out. Returns the number of origins, or -1
 * with the reason in why. */
int dsk_origins_normalise(const char *list, char *out, size_t out_len, char *why, size_t why_len);

#endif
