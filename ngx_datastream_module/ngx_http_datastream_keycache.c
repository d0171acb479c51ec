/*
 * Per-worker cache of API key lookups, so most requests need no extra round
 * trip. Entries live datastream_key_cache_ttl (unknown keys at most a
 * second), which bounds how long a revoked key keeps working.
 * Direct-mapped: a colliding key simply replaces the older entry. The slot
 * depends only on the leading digits, which the key id (the first 16 hex
 * digits of the hash, carried by tokens) shares, so tokens find their key's
 * entry too.
 * A key's origins list lives in a buffer of its slot, grown to the longest
 * list the slot held (at most DATASTREAM_ORIGINS_MAX): the cache is bounded
 * by its slots, and a request gets a pool copy of just its key's list.
 */

#include "ngx_http_datastream_module.h"


#define DS_KEYCACHE_SLOTS       512
#define DS_KEYCACHE_NEG_TTL     1000


typedef struct {
    u_char        hash[DATASTREAM_APIKEY_HASH_HEX_LEN];
    ngx_msec_t    expires;
    unsigned      used:1;
    unsigned      known:1;
    unsigned      by_id:1;      /* only the key id is known (to be unknown) */
    ds_key_t      key;          /* key.origins points to origins */
    u_char       *origins;
    size_t        origins_size;
} ds_keycache_entry_t;


static ds_keycache_entry_t  ds_keycache[DS_KEYCACHE_SLOTS];


static ds_keycache_entry_t *
ds_keycache_slot(const u_char *hash)
{
    ngx_int_t  v;

    /* the hash is hex already validated; its leading digits are uniform */
    v = ngx_hextoi((u_char *) hash, 4);

    return &ds_keycache[(v < 0 ? 0 : v) % DS_KEYCACHE_SLOTS];
}


/* the entry's key, its origins copied into pool */
static ngx_int_t
ds_keycache_copy(ds_keycache_entry_t *e, ds_key_t *key, ngx_pool_t *pool)
{
    *key = e->key;

    if (e->key.origins_len == 0) {
        key->origins = NULL;
        return NGX_OK;
    }

    key->origins = ngx_pnalloc(pool, e->key.origins_len);
    if (key->origins == NULL) {
        return NGX_AGAIN;
    }

    ngx_memcpy(key->origins, e->key.origins, e->key.origins_len);

    return NGX_OK;
}


/* NGX_OK: known key; NGX_DECLINED: known to be unknown; NGX_AGAIN: ask Redis */
ngx_int_t
ds_keycache_get(const u_char *hash, ds_key_t *key, ngx_pool_t *pool)
{
    ds_keycache_entry_t  *e = ds_keycache_slot(hash);

    if (!e->used || e->by_id
        || ngx_memcmp(e->hash, hash, DATASTREAM_APIKEY_HASH_HEX_LEN) != 0
        || (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0)
    {
        return NGX_AGAIN;
    }

    if (!e->known) {
        return NGX_DECLINED;
    }

    return ds_keycache_copy(e, key, pool);
}


/*
 * The same by key id (a token's); on NGX_OK the key's hash is copied to
 * hash. Ids are 64 bits of a SHA-256: an unknown hash with that id means
 * an unknown id.
 */
ngx_int_t
ds_keycache_get_id(const u_char *id, ds_key_t *key, u_char *hash, ngx_pool_t *pool)
{
    ds_keycache_entry_t  *e = ds_keycache_slot(id);

    if (!e->used || ngx_memcmp(e->hash, id, DATASTREAM_APIKEY_ID_LEN) != 0
        || (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0)
    {
        return NGX_AGAIN;
    }

    if (!e->known) {
        return NGX_DECLINED;
    }

    if (ds_keycache_copy(e, key, pool) != NGX_OK) {
        return NGX_AGAIN;
    }

    ngx_memcpy(hash, e->hash, DATASTREAM_APIKEY_HASH_HEX_LEN);

    return NGX_OK;
}


/* key NULL records an unknown key */
void
ds_keycache_put(const u_char *hash, ds_key_t *key, ngx_msec_t ttl)
{
    ds_keycache_entry_t  *e = ds_keycache_slot(hash);
    u_char               *buf;

    /* a failed put leaves no entry: the next request asks Redis again */
    e->used = 0;

    if (key && key->origins_len > e->origins_size) {
        if (key->origins_len > DATASTREAM_ORIGINS_MAX) {
            return;
        }

        buf = ngx_alloc(key->origins_len, ngx_cycle->log);
        if (buf == NULL) {
            return;
        }

        ngx_free(e->origins);
        e->origins = buf;
        e->origins_size = key->origins_len;
    }

    ngx_memcpy(e->hash, hash, DATASTREAM_APIKEY_HASH_HEX_LEN);
    e->used = 1;
    e->by_id = 0;
    e->known = (key != NULL);

    if (key) {
        e->key = *key;
        e->key.origins = e->origins;
        if (key->origins_len) {
            ngx_memcpy(e->origins, key->origins, key->origins_len);
        }
    } else {
        ttl = ngx_min(ttl, DS_KEYCACHE_NEG_TTL);
    }

    e->expires = ngx_current_msec + ttl;
}


/* no key has this id (a token of a revoked key) */
void
ds_keycache_put_id_unknown(const u_char *id, ngx_msec_t ttl)
{
    ds_keycache_entry_t  *e = ds_keycache_slot(id);

    ngx_memset(e->hash, '-', DATASTREAM_APIKEY_HASH_HEX_LEN);
    ngx_memcpy(e->hash, id, DATASTREAM_APIKEY_ID_LEN);
    e->used = 1;
    e->by_id = 1;
    e->known = 0;
    e->expires = ngx_current_msec + ngx_min(ttl, DS_KEYCACHE_NEG_TTL);
}
