/*
 * Redis key names of the read model, built in a pool by the contract's
 * datastream_keys.h: the only place the module names a key.
 */

#include "ngx_http_datastream_module.h"


/* a key name of the Redis layout, in the pool */
ngx_str_t *
ds_key_name(ngx_pool_t *pool, ngx_str_t *prefix, datastream_key_e key,
    ngx_str_t *parts, ngx_uint_t nparts)
{
    datastream_key_part_t   kp[DATASTREAM_KEY_PARTS_MAX];
    ngx_str_t              *s;
    size_t                  size, len;
    ngx_uint_t              i;

    if (nparts > DATASTREAM_KEY_PARTS_MAX) {
        return NULL;
    }

    len = 0;
    for (i = 0; i < nparts; i++) {
        kp[i].data = (const char *) parts[i].data;
        kp[i].len = parts[i].len;
        len += parts[i].len;
    }

    size = datastream_key_size(prefix->len, key, len);

    s = ngx_palloc(pool, sizeof(ngx_str_t));
    if (s == NULL || size == 0) {
        return NULL;
    }

    s->data = ngx_pnalloc(pool, size);
    if (s->data == NULL) {
        return NULL;
    }

    /* 0 also when nparts is not the key's: a caller's mistake */
    s->len = datastream_key_build((char *) s->data, size, (const char *) prefix->data,
                                  prefix->len, key, kp, nparts);

    return s->len ? s : NULL;
}


/* a key name with the configured prefix, as sent to Redis */
ngx_str_t *
ds_redis_key(ngx_http_request_t *r, datastream_key_e key, ngx_str_t *parts,
    ngx_uint_t nparts)
{
    ngx_http_datastream_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    return ds_key_name(r->pool, &dmcf->prefix, key, parts, nparts);
}


/*
 * The history of a game or a type; without the prefix it is also the
 * history's field in DATASTREAM_KEY_HISTORY_REVISIONS and its cache name.
 */
ngx_str_t *
ds_history_key(ngx_http_request_t *r, ngx_uint_t by_type, ngx_str_t *name,
    ngx_uint_t prefixed)
{
    datastream_key_e  key;

    static ngx_str_t  none = ngx_string("");

    key = by_type ? DATASTREAM_KEY_HISTORY_TYPE : DATASTREAM_KEY_HISTORY_GAME;

    if (prefixed) {
        return ds_redis_key(r, key, name, 1);
    }

    return ds_key_name(r->pool, &none, key, name, 1);
}
