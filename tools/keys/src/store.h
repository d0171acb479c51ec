#ifndef DS_KEYS_STORE_H
#define DS_KEYS_STORE_H

#include "apikey.h"
#include "redis_url.h"

#include <stdbool.h>
#include <stddef.h>

#define STORE_PREFIX_MAX 64
#define APIKEY_NAME_MAX 128
#define APIKEY_ORIGINS_MAX 4096

struct redisContext;

struct store {
    struct redisContext *redis;
    char prefix[STORE_PREFIX_MAX + 1];
};

/* What Redis holds for one key (see docs/design.md): never the key itself. */
struct apikey_record {
    char hash[APIKEY_HASH_HEX_LEN + 1];
    char name[APIKEY_NAME_MAX + 1];
    char kind[3];
    long long rate_limit;
    char origins[APIKEY_ORIGINS_MAX];
    long long created_at;
    char prefix[APIKEY_PREFIX_LEN + 1];
};

bool store_open(struct store *s, const struct redis_url *url, const char *prefix);
void store_close(struct store *s);

bool store_put(struct store *s, const struct apikey_record *rec);

/* All live keys, in no particular order; *out is malloc'd (free it). */
bool store_list(struct store *s, struct apikey_record **out, size_t *count);

/* Hashes of the live keys whose id starts the hash; returns how many matched
 * (copying the first into hash) or -1 on error. */
int store_find_by_id(struct store *s, const char *id, char hash[APIKEY_HASH_HEX_LEN + 1]);

/* 1 removed, 0 no such key, -1 error. */
int store_delete(struct store *s, const char *hash);

#endif
