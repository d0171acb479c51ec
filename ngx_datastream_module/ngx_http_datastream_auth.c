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


/*
 * The whole decision, from plain facts: no request, no I/O. A key or token
 * is admitted only once its record is found, of the kind presented, and a
 * publishable one only from a listed origin.
 */
ds_auth_verdict_t
ds_auth_decide(const ds_auth_facts_t *f)
{
    ds_auth_verdict_t  v = { DS_VERDICT_REFUSE, NGX_HTTP_UNAUTHORIZED, NULL, 0 };
    const char        *invalid;

    invalid = f->cred == DS_CRED_TOKEN ? "Invalid token" : "Invalid API key";

    switch (f->cred) {

    case DS_CRED_NONE:
        v.error = "Missing API key";
        return v;

    case DS_CRED_MALFORMED:
        v.error = "Invalid API key";
        return v;

    case DS_CRED_TOKEN:
        if (f->token_rc != NGX_OK) {
            v.error = f->token_err ? f->token_err : invalid;
            return v;
        }
        break;

    case DS_CRED_KEY:
        break;
    }

    switch (f->lookup) {

    case DS_LOOKUP_NONE:
        v.verdict = DS_VERDICT_LOOKUP;
        v.status = 0;
        return v;

    case DS_LOOKUP_FAILED:
        v.status = NGX_HTTP_SERVICE_UNAVAILABLE;
        v.error = "Redis unavailable";
        return v;

    case DS_LOOKUP_UNKNOWN:
        v.error = invalid;
        return v;

    case DS_LOOKUP_FOUND:
        break;
    }

    if (f->key == NULL || f->key->kind != f->kind) {
        v.error = invalid;
        return v;
    }

    if (f->key->kind == DS_KIND_PK) {
        v.status = NGX_HTTP_FORBIDDEN;

        if (f->origin == NULL) {
            v.error = "Origin header required for this API key";
            return v;
        }

        /* an empty list, held as no list at all, allows no origin */
        if (f->key->origins_len == 0
            || ds_origin_listed(f->key->origins, f->key->origins_len,
                                f->origin->data, f->origin->len) != NGX_OK)
        {
            v.error = "Origin not allowed for this API key";
            return v;
        }

        v.allow_origin = 1;
    }

    v.verdict = DS_VERDICT_ADMIT;
    v.status = 0;

    return v;
}


/* answers to a publishable key from an allowed Origin may be read by it */
static ngx_int_t
ds_cors_headers(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_uint_t status, off_t len)
{
    ngx_str_t  *origin, vary = ngx_string("Origin");

    if (r != r->main) {
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


/*
 * Decides on what ctx holds and the lookup's outcome; NGX_AGAIN: the key
 * must be looked up first, anything else is answered or admitted here.
 */
static ngx_int_t
ds_auth_conclude(ngx_http_request_t *r, ds_ctx_t *ctx, ds_lookup_e lookup)
{
    ds_auth_facts_t    f;
    ds_auth_verdict_t  v;

    ngx_memzero(&f, sizeof(ds_auth_facts_t));
    f.cred = ctx->token ? DS_CRED_TOKEN : DS_CRED_KEY;
    f.kind = ctx->kind;
    f.token_rc = NGX_OK;
    f.lookup = lookup;
    f.key = &ctx->key;
    f.origin = ctx->has_origin ? &ctx->origin : NULL;

    v = ds_auth_decide(&f);

    switch (v.verdict) {

    case DS_VERDICT_LOOKUP:
        return NGX_AGAIN;

    case DS_VERDICT_REFUSE:
        ngx_http_finalize_request(r, ds_send_error(r, v.status, "%s", v.error));
        return NGX_OK;

    case DS_VERDICT_ADMIT:
        break;
    }

    if (v.allow_origin && ds_answer_hook_add(ctx, ds_cors_headers) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_OK;
    }

    ctx->authenticated = 1;
    ctx->next(r);

    return NGX_OK;
}


/* the key cache's answer as a lookup outcome */
static ds_lookup_e
ds_auth_cached(ngx_int_t rc)
{
    switch (rc) {
    case NGX_OK:
        return DS_LOOKUP_FOUND;
    case NGX_DECLINED:
        return DS_LOOKUP_UNKNOWN;
    default:
        return DS_LOOKUP_NONE;
    }
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
    key->origins = NULL;
    origins = ds_hash_field(hash, "origins");
    if (origins) {
        if (origins->len > DATASTREAM_ORIGINS_MAX) {
            return NGX_DECLINED;
        }
        key->origins_len = origins->len;
        key->origins = origins->data;
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
        (void) ds_auth_conclude(r, ctx, DS_LOOKUP_FAILED);
        return;
    }

    if (ds_key_from_hash(&replies[0], &ctx->key) != NGX_OK) {
        ds_keycache_put(ctx->key_hash, NULL, dmcf->key_cache_ttl);
        (void) ds_auth_conclude(r, ctx, DS_LOOKUP_UNKNOWN);
        return;
    }

    ngx_memcpy(ctx->key.id, ctx->key_hash, DATASTREAM_APIKEY_ID_LEN);
    ds_keycache_put(ctx->key_hash, &ctx->key, dmcf->key_cache_ttl);

    (void) ds_auth_conclude(r, ctx, DS_LOOKUP_FOUND);
}


static void
ds_auth_key(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_str_t *value)
{
    u_char     digest[SHA256_DIGEST_LENGTH];
    ngx_str_t  hash, *redis_key;
    ds_cmd_t   cmd;
    ds_cmds_t  cmds;
    ngx_int_t  rc;

    ctx->kind = ds_parse_key(value->data, value->len);

    if (SHA256(value->data, value->len, digest) == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_hex_dump(ctx->key_hash, digest, SHA256_DIGEST_LENGTH);

    rc = ds_keycache_get(ctx->key_hash, &ctx->key, r->pool);

    if (ds_auth_conclude(r, ctx, ds_auth_cached(rc)) != NGX_AGAIN) {
        return;
    }

    hash.data = ctx->key_hash;
    hash.len = DATASTREAM_APIKEY_HASH_HEX_LEN;

    redis_key = ds_redis_key(r, DATASTREAM_KEY_APIKEY, &hash, 1);
    if (redis_key == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ds_cmds_init(&cmds, &cmd, 1, r->connection->log);

    if (ds_cmds_push(&cmds, "HGETALL", 1, redis_key) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ds_redis_batch(r, &cmds, ds_auth_lookup_done) != NGX_OK) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
    }
}


static void
ds_auth_token_lookup_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    ds_ctx_t                         *ctx;
    ds_reply_t                       *found;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    found = replies ? &replies[0] : NULL;

    if (found == NULL || found->type != REDIS_REPLY_ARRAY) {
        (void) ds_auth_conclude(r, ctx, DS_LOOKUP_FAILED);
        return;
    }

    if (found->elements != 2
        || found->element[0].type != REDIS_REPLY_STRING
        || found->element[0].str.len != DATASTREAM_APIKEY_HASH_HEX_LEN
        || ngx_strncmp(found->element[0].str.data, ctx->key.id, DATASTREAM_APIKEY_ID_LEN) != 0
        || ds_key_from_hash(&found->element[1], &ctx->key) != NGX_OK)
    {
        /* revoked: the key of this token is gone */
        ds_keycache_put_id_unknown(ctx->key.id, dmcf->key_cache_ttl);
        (void) ds_auth_conclude(r, ctx, DS_LOOKUP_UNKNOWN);
        return;
    }

    ngx_memcpy(ctx->key_hash, found->element[0].str.data, DATASTREAM_APIKEY_HASH_HEX_LEN);
    ds_keycache_put(ctx->key_hash, &ctx->key, dmcf->key_cache_ttl);

    (void) ds_auth_conclude(r, ctx, DS_LOOKUP_FOUND);
}


/* a valid token is honoured only while its key exists */
static void
ds_auth_token(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    u_char      id[DATASTREAM_APIKEY_ID_LEN];
    ngx_str_t  *keys, *prefix, idstr, script, none = ngx_string("");
    ds_cmd_t    cmd;
    ds_cmds_t   cmds;
    ngx_int_t   rc;

    static ngx_str_t  two = ngx_string("2");

    ctx->token = 1;
    ctx->kind = ctx->key.kind;
    ngx_memcpy(id, ctx->key.id, DATASTREAM_APIKEY_ID_LEN);

    rc = ds_keycache_get_id(id, &ctx->key, ctx->key_hash, r->pool);

    if (ds_auth_conclude(r, ctx, ds_auth_cached(rc)) != NGX_AGAIN) {
        return;
    }

    keys = ds_redis_key(r, DATASTREAM_KEY_APIKEYS, NULL, 0);
    /* a key's record without its hash: the script appends the hashes it finds */
    prefix = ds_redis_key(r, DATASTREAM_KEY_APIKEY, &none, 1);

    idstr.data = ngx_pnalloc(r->pool, DATASTREAM_APIKEY_ID_LEN);

    if (keys == NULL || prefix == NULL || idstr.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(idstr.data, id, DATASTREAM_APIKEY_ID_LEN);
    idstr.len = DATASTREAM_APIKEY_ID_LEN;

    script.data = (u_char *) ds_lua_key_by_id;
    script.len = ngx_strlen(ds_lua_key_by_id);

    ds_cmds_init(&cmds, &cmd, 1, r->connection->log);

    if (ds_cmds_push(&cmds, "EVAL", 5, &script, &two, keys, prefix, &idstr)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ds_redis_batch(r, &cmds, ds_auth_token_lookup_done) != NGX_OK) {
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
    ds_auth_facts_t                  f;
    ds_auth_verdict_t                v;
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

    ngx_memzero(&f, sizeof(ds_auth_facts_t));
    f.cred = cred->type;
    f.lookup = DS_LOOKUP_NONE;

    if (cred->type == DS_CRED_TOKEN) {
        f.token_rc = ds_token_verify(r, &cred->value, &ctx->key, &f.token_err);
    }

    v = ds_auth_decide(&f);

    if (v.verdict != DS_VERDICT_LOOKUP) {
        ngx_http_finalize_request(r, ds_send_error(r, v.status, "%s", v.error));
        return;
    }

    if (cred->type == DS_CRED_TOKEN) {
        ds_auth_token(r, ctx);

    } else {
        ds_auth_key(r, ctx, &cred->value);
    }
}


ngx_int_t
ds_cors_preflight(ngx_http_request_t *r)
{
    ngx_str_t   *origin, any = ngx_string("*");
    ngx_uint_t   i;

    /* fixed for every preflight: only the allowed Origin echoes the request */
    static struct {
        const char  *name;
        ngx_str_t    value;
    } headers[] = {
        { "Access-Control-Allow-Methods", ngx_string("GET, POST, OPTIONS") },
        { "Access-Control-Allow-Headers",
          ngx_string("X-API-Key, Authorization, Content-Type") },
        { "Access-Control-Max-Age", ngx_string("600") },
        { "Vary", ngx_string("Origin") },
    };

    origin = ds_header_in(r, "Origin", sizeof("Origin") - 1);
    if (origin == NULL) {
        origin = &any;
    }

    if (ds_header_set(r, "Access-Control-Allow-Origin", origin) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        if (ds_header_set(r, headers[i].name, &headers[i].value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ds_send(r, NGX_HTTP_NO_CONTENT, NULL);
}
