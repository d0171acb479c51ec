/*
 * Who is asking: credentials from headers, arguments or the WebSocket
 * subprotocol; API keys looked up by SHA-256 (cached per worker), tokens
 * verified by signature; Origin checks for publishable keys; CORS.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>


static ds_cred_t
ds_cred_classify(ngx_str_t *value)
{
    ds_cred_t  cred;

    cred.value = *value;

    if (value->len == 0) {
        cred.type = DS_CRED_NONE;
    } else if (ds_parse_key(value->data, value->len) != DS_KIND_NONE) {
        cred.type = DS_CRED_KEY;
    } else if (value->len > 4 && ngx_strncmp(value->data, "tok_", 4) == 0) {
        cred.type = DS_CRED_TOKEN;
    } else {
        cred.type = DS_CRED_MALFORMED;
    }

    return cred;
}


static ngx_int_t
ds_cred_bearer(ngx_http_request_t *r, ngx_str_t *out)
{
    ngx_str_t  *auth;

    auth = r->headers_in.authorization ? &r->headers_in.authorization->value : NULL;
    if (auth == NULL) {
        return NGX_DECLINED;
    }

    if (auth->len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->data, (u_char *) "Bearer ", sizeof("Bearer ") - 1) != 0)
    {
        /* an Authorization header of another scheme is not a credential */
        out->data = auth->data;
        out->len = auth->len;
        return NGX_OK;
    }

    out->data = auth->data + sizeof("Bearer ") - 1;
    out->len = auth->len - (sizeof("Bearer ") - 1);

    return NGX_OK;
}


ds_cred_t
ds_cred_rest(ngx_http_request_t *r)
{
    ngx_str_t  *h, value = ngx_null_string;

    h = ds_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1);
    if (h) {
        value = *h;
    } else if (ds_cred_bearer(r, &value) != NGX_OK) {
        ngx_str_null(&value);
    }

    return ds_cred_classify(&value);
}


ds_cred_t
ds_cred_stream(ngx_http_request_t *r, ngx_uint_t websocket)
{
    ngx_str_t  *h, value = ngx_null_string;
    ds_cred_t   cred;

    if (websocket) {
        h = ds_header_in(r, "Sec-WebSocket-Protocol",
                         sizeof("Sec-WebSocket-Protocol") - 1);
        if (h && ds_pick_subprotocol(h->data, h->len, &value) == NGX_OK) {
            /* an application subprotocol is no credential: look further */
            cred = ds_cred_classify(&value);
            if (cred.type == DS_CRED_TOKEN) {
                return cred;
            }

            /*
             * The chosen subprotocol is echoed in the handshake answer, so
             * only short-lived tokens may travel there, never a key.
             */
            if (cred.type == DS_CRED_KEY) {
                cred.type = DS_CRED_MALFORMED;
                return cred;
            }
        }
    }

    h = ds_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1);
    if (h) {
        value = *h;
    } else if (ds_cred_bearer(r, &value) == NGX_OK) {
        /* value set */
    } else if (ngx_http_arg(r, (u_char *) "token", sizeof("token") - 1, &value)
               == NGX_OK)
    {
        /* value set */
    } else if (ngx_http_arg(r, (u_char *) "api_key", sizeof("api_key") - 1, &value)
               != NGX_OK)
    {
        ngx_str_null(&value);
    }

    return ds_cred_classify(&value);
}


/*
 * The Origin of a request; browsers send none on same-origin GET requests
 * (fetch, EventSource). Then the origin of the Referer stands in, but only
 * with "Sec-Fetch-Site: same-origin", which page scripts cannot set.
 */
static ngx_str_t *
ds_origin(ngx_http_request_t *r)
{
    ngx_str_t  *origin, *site, *referer;

    origin = ds_header_in(r, "Origin", sizeof("Origin") - 1);
    if (origin) {
        return origin;
    }

    site = ds_header_in(r, "Sec-Fetch-Site", sizeof("Sec-Fetch-Site") - 1);
    if (site == NULL || site->len != sizeof("same-origin") - 1
        || ngx_strncasecmp(site->data, (u_char *) "same-origin", site->len) != 0)
    {
        return NULL;
    }

    referer = r->headers_in.referer ? &r->headers_in.referer->value : NULL;
    if (referer == NULL) {
        return NULL;
    }

    origin = ngx_palloc(r->pool, sizeof(ngx_str_t));
    if (origin == NULL) {
        return NULL;
    }

    if (ds_url_origin(referer->data, referer->len, origin) != NGX_OK) {
        return NULL;
    }

    return origin;
}


/* the key is known: its kind must match, a publishable key its Origin */
static void
ds_auth_key_found(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ngx_str_t  *origin;

    if (ctx->key.kind != ctx->kind) {
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                  ctx->token ? "Invalid token" : "Invalid API key"));
        return;
    }

    if (ctx->key.kind == DS_KIND_PK) {
        origin = ctx->has_origin ? &ctx->origin : NULL;

        if (origin == NULL) {
            ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_FORBIDDEN,
                                      "Origin header required for this API key"));
            return;
        }

        if (ds_origin_listed(ctx->key.origins, ctx->key.origins_len,
                             origin->data, origin->len) != NGX_OK)
        {
            ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_FORBIDDEN,
                                      "Origin not allowed for this API key"));
            return;
        }

        ctx->allow_origin = 1;
    }

    ctx->authenticated = 1;
    ctx->next(r);
}


static ngx_str_t *
ds_hash_field(ds_reply_t *hash, const char *name)
{
    size_t  i, len = ngx_strlen(name);

    for (i = 0; i + 1 < hash->elements; i += 2) {
        if (hash->element[i].str.len == len
            && ngx_strncmp(hash->element[i].str.data, name, len) == 0)
        {
            return &hash->element[i + 1].str;
        }
    }

    return NULL;
}


/* NGX_DECLINED: no such key (or an unusable record) */
static ngx_int_t
ds_key_from_hash(ds_reply_t *hash, ds_key_t *key)
{
    ngx_str_t  *kind, *limit, *origins;
    ngx_int_t   n;

    if (hash->type != REDIS_REPLY_ARRAY || hash->elements == 0) {
        return NGX_DECLINED;
    }

    kind = ds_hash_field(hash, "kind");
    if (kind == NULL || kind->len != 2) {
        return NGX_DECLINED;
    }

    if (ngx_strncmp(kind->data, "sk", 2) == 0) {
        key->kind = DS_KIND_SK;
    } else if (ngx_strncmp(kind->data, "pk", 2) == 0) {
        key->kind = DS_KIND_PK;
    } else {
        return NGX_DECLINED;
    }

    key->rate_limit = 0;
    limit = ds_hash_field(hash, "rate_limit");
    if (limit && limit->len) {
        n = ngx_atoi(limit->data, limit->len);
        if (n > 0) {
            key->rate_limit = n;
        }
    }

    key->origins_len = 0;
    origins = ds_hash_field(hash, "origins");
    if (origins) {
        if (origins->len > DS_ORIGINS_MAX) {
            return NGX_DECLINED;
        }
        key->origins_len = origins->len;
        ngx_memcpy(key->origins, origins->data, origins->len);
    }

    return NGX_OK;
}


static void
ds_auth_lookup_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    ds_ctx_t                         *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    if (replies == NULL) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    if (ds_key_from_hash(&replies[0], &ctx->key) != NGX_OK) {
        ds_keycache_put(ctx->key_hash, NULL, dmcf->key_cache_ttl);
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Invalid API key"));
        return;
    }

    ngx_memcpy(ctx->key.id, ctx->key_hash, DS_KEY_ID_LEN);
    ds_keycache_put(ctx->key_hash, &ctx->key, dmcf->key_cache_ttl);

    ds_auth_key_found(r, ctx);
}


static void
ds_auth_key(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_str_t *value)
{
    u_char     digest[SHA256_DIGEST_LENGTH];
    ngx_str_t  hash, *redis_key;
    ds_cmd_t   cmd;
    ngx_int_t  rc;

    ctx->kind = ds_parse_key(value->data, value->len);

    if (SHA256(value->data, value->len, digest) == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_hex_dump(ctx->key_hash, digest, SHA256_DIGEST_LENGTH);

    rc = ds_keycache_get(ctx->key_hash, &ctx->key);

    if (rc == NGX_OK) {
        ds_auth_key_found(r, ctx);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Invalid API key"));
        return;
    }

    hash.data = ctx->key_hash;
    hash.len = DS_KEY_HASH_HEX_LEN;

    redis_key = ds_prefixed(r, "apikey:", &hash);
    if (redis_key == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ds_cmd_set(&cmd, 2, "HGETALL", "");
    ds_cmd_set_str(&cmd, 1, redis_key);

    if (ds_redis_batch(r, &cmd, 1, ds_auth_lookup_done) != NGX_OK) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
    }
}


/*
 * A token names its key by id only (the first 16 hex digits of the key's
 * hash). On a cache miss one script finds the key among the live keys and
 * reads its record: a single round trip, read only, run once per key and
 * cache lifetime.
 */
static const char  ds_key_by_id_script[] =
    "local c = '0' "
    "repeat "
      "local r = redis.call('SSCAN', KEYS[1], c, 'MATCH', ARGV[1] .. '*', "
                           "'COUNT', 1000) "
      "c = r[1] "
      "for _, h in ipairs(r[2]) do "
        "local v = redis.call('HGETALL', ARGV[2] .. h) "
        "if #v > 0 then return {h, v} end "
      "end "
    "until c == '0' "
    "return {}";


static void
ds_auth_token_lookup_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    ds_ctx_t                         *ctx;
    ds_reply_t                       *found;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    if (replies == NULL) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    found = &replies[0];

    if (found->type != REDIS_REPLY_ARRAY) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    if (found->elements != 2
        || found->element[0].type != REDIS_REPLY_STRING
        || found->element[0].str.len != DS_KEY_HASH_HEX_LEN
        || ngx_strncmp(found->element[0].str.data, ctx->key.id, DS_KEY_ID_LEN) != 0
        || ds_key_from_hash(&found->element[1], &ctx->key) != NGX_OK)
    {
        /* revoked: the key of this token is gone */
        ds_keycache_put_id_unknown(ctx->key.id, dmcf->key_cache_ttl);
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Invalid token"));
        return;
    }

    ngx_memcpy(ctx->key_hash, found->element[0].str.data, DS_KEY_HASH_HEX_LEN);
    ds_keycache_put(ctx->key_hash, &ctx->key, dmcf->key_cache_ttl);

    ds_auth_key_found(r, ctx);
}


/* a valid token is honoured only while its key exists */
static void
ds_auth_token(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    u_char      id[DS_KEY_ID_LEN];
    ngx_str_t  *keys, *prefix, idstr;
    ds_cmd_t    cmd;
    ngx_int_t   rc;

    ctx->token = 1;
    ctx->kind = ctx->key.kind;
    ngx_memcpy(id, ctx->key.id, DS_KEY_ID_LEN);

    rc = ds_keycache_get_id(id, &ctx->key, ctx->key_hash);

    if (rc == NGX_OK) {
        ds_auth_key_found(r, ctx);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Invalid token"));
        return;
    }

    keys = ds_prefixed(r, "apikeys", NULL);
    prefix = ds_prefixed(r, "apikey:", NULL);

    idstr.data = ngx_pnalloc(r->pool, DS_KEY_ID_LEN);

    if (keys == NULL || prefix == NULL || idstr.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(idstr.data, id, DS_KEY_ID_LEN);
    idstr.len = DS_KEY_ID_LEN;

    ds_cmd_set(&cmd, 6, "EVAL", ds_key_by_id_script, "1", "", "", "");
    ds_cmd_set_str(&cmd, 3, keys);
    ds_cmd_set_str(&cmd, 4, &idstr);
    ds_cmd_set_str(&cmd, 5, prefix);

    if (ds_redis_batch(r, &cmd, 1, ds_auth_token_lookup_done) != NGX_OK) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
    }
}


/*
 * Authenticates, then calls next(r); every failure is answered here.
 * The caller holds a reference on the request (r->main->count).
 */
void
ds_auth_start(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cred_t *cred,
    ds_continue_pt next)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    const char                      *err;
    ngx_str_t                       *origin;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);
    ctx->next = next;

    /*
     * Copied now: a subscriber's headers belong to nchan's subscriber
     * request, which a client that goes away frees while Redis answers.
     */
    origin = ds_origin(r);

    if (origin) {
        ctx->origin.data = ngx_pnalloc(r->pool, origin->len);
        if (ctx->origin.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(ctx->origin.data, origin->data, origin->len);
        ctx->origin.len = origin->len;
        ctx->has_origin = 1;
    }

    if (!dlcf->auth) {
        next(r);
        return;
    }

    switch (cred->type) {

    case DS_CRED_NONE:
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Missing API key"));
        return;

    case DS_CRED_MALFORMED:
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                   "Invalid API key"));
        return;

    case DS_CRED_TOKEN:
        if (ds_token_verify(r, &cred->value, &ctx->key, &err) != NGX_OK) {
            ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                                       "%s", err));
            return;
        }

        ds_auth_token(r, ctx);
        return;

    case DS_CRED_KEY:
        ds_auth_key(r, ctx, &cred->value);
        return;
    }
}


ngx_int_t
ds_cors_preflight(ngx_http_request_t *r)
{
    ngx_str_t   *origin, v;

    origin = ds_header_in(r, "Origin", sizeof("Origin") - 1);
    if (origin) {
        v = *origin;
    } else {
        ngx_str_set(&v, "*");
    }

    if (ds_header_set(r, "Access-Control-Allow-Origin", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "GET, POST, OPTIONS");
    if (ds_header_set(r, "Access-Control-Allow-Methods", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "X-API-Key, Authorization, Content-Type");
    if (ds_header_set(r, "Access-Control-Allow-Headers", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "600");
    if (ds_header_set(r, "Access-Control-Max-Age", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_set(&v, "Origin");
    if (ds_header_set(r, "Vary", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    return ds_send(r, NGX_HTTP_NO_CONTENT, NULL);
}


/* answers to a publishable key from an allowed Origin may be read by it */
ngx_int_t
ds_cors_headers(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ngx_str_t  *origin, vary = ngx_string("Origin");

    if (!ctx->allow_origin || r != r->main) {
        return NGX_OK;
    }

    origin = ds_header_in(r, "Origin", sizeof("Origin") - 1);
    if (origin == NULL) {
        return NGX_OK;
    }

    if (ds_header_set(r, "Access-Control-Allow-Origin", origin) != NGX_OK) {
        return NGX_ERROR;
    }

    return ds_header_set(r, "Vary", &vary);
}
