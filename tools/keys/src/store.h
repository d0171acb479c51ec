#ifndef DSK_STORE_H
#define DSK_STORE_H

#include "apikey.h"
#include "datastream_contract.h"
#include "redis_url.h"

#include <stdbool.h>
#include <stddef.h>

struct redisContext;

typedef struct {
    struct redisContext *redis;
    char prefix[DATASTREAM_REDIS_PREFIX_MAX + 1];
} dsk_store_t;

/* What Redis holds for one key (see docs/design.md): never the key itself. */
typedef struct {
    char hash[DATASTREAM_APIKEY_HASH_HEX_LEN + 1];
    char name[DATASTREAM_APIKEY_NAME_MAX + 1];
    char kind[3];
    long long rate_limit;
    char origins[DATASTREAM_ORIGINS_MAX + 1]; /* normalised to single spaces */
    long long created_at;
    char prefix[DATASTREAM_APIKEY_PREFIX_LEN + 1];
} dsk_apikey_record_t;

bool dsk_store_open(dsk_store_t *s, const dsk_redis_url_t *url, const char *prefix);
void dsk_store_close(dsk_store_t *s);

bool dsk_store_put(dsk_store_t *s, const dsk_apikey_record_t *rec);

/* All live keys, in no particular order; *out is malloc'd (free it). */
bool dsk_store_list(dsk_store_t *s, dsk_apikey_record_t **out, size_t *count);

/* Hashes of the live keys whose id starts the hash; returns how many matched
 * (copying the first into hash) or -1 on error. */
int dsk_store_find_by_id(dsk_store_t *s, const char *id, char hash[DATASTREAM_APIKEY_HASH_HEX_LEN + 1]);

/* 1 removed, 0 no such key, -1 error. */
int dsk_store_delete(dsk_store_t *s, const char *hash);

#endif
