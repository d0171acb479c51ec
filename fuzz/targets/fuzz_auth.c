/*
 * The credential and Origin decisions of ngx_http_datastream_auth.c, with
 * the request, Redis and replies replaced by stubs. Input: '\n'-separated
 * fields
 *   0 control byte: bit 0 WebSocket upgrade, bits 1-2 key lookup outcome
 *     (cached pk, cached sk, cached "no such key", Redis miss -> HGETALL
 *     answer built from fields 8/9)
 *   1 query string            2 X-API-Key        3 Authorization
 *   4 Sec-WebSocket-Protocol  5 Origin           6 Sec-Fetch-Site
 *   7 Referer                 8 origins of the key
 *   9 kind of the key in Redis (for the miss case)
 * (an empty field is an absent header; a subprotocol "SIGN:<payload>" is
 * replaced by a token for that payload, correctly signed with the target's
 * secret, so expiry, key lookup, kind and Origin checks behind the
 * signature are reached). Checks: every credential returned
 * points into what the client sent; every request ends exactly once, with
 * 401, 403 or 503, or is admitted; an admitted key is well formed, of the
 * kind stored, and a pk_ key only from an Origin listed exactly (the
 * Referer's origin stands in only with Sec-Fetch-Site: same-origin).
 */
#include "fuzz.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


static u_char  auth_secret[] = "fuzz-auth-secret";


#define NFIELDS  10

static struct {
    u_char     *data[NFIELDS];
    size_t      len[NFIELDS];
    int         lookup;             /* 0 pk, 1 sk, 2 declined, 3 miss */
    ngx_uint_t  status;             /* from ds_send_error / unavailable */
    int         finalized;
    int         admitted;
    ngx_table_elt_t  headers[6];
} st;

static const char  *header_names[] = {
    NULL, NULL, "X-API-Key", "Authorization", "Sec-WebSocket-Protocol",
    "Origin", "Sec-Fetch-Site", "Referer", NULL, NULL
};


/* ---------------------------------------------------------------- stubs */

ngx_str_t *
ds_header_in(ngx_http_request_t *r, const char *name, size_t len)
{
    int  i;

    for (i = 2; i <= 7; i++) {
        if (st.len[i] && strlen(header_names[i]) == len
            && strncasecmp(header_names[i], name, len) == 0)
        {
            return &st.headers[i - 2].value;
        }
    }

    return NULL;
}

ngx_int_t
ds_header_set(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    return NGX_OK;
}

ngx_int_t
ds_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *body)
{
    st.status = status;
    return NGX_OK;
}

ngx_int_t
ds_send_error(ngx_http_request_t *r, ngx_uint_t status, const char *fmt, ...)
{
    st.status = status;
    return NGX_OK;
}

ngx_int_t
ds_send_unavailable(ngx_http_request_t *r)
{
    st.status = NGX_HTTP_SERVICE_UNAVAILABLE;
    return NGX_OK;
}

void
ngx_http_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    FUZZ_CHECK(!st.finalized && !st.admitted);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        st.status = rc;
    }
    st.finalized = 1;
}

static ds_kind_e
key_kind(void)
{
    if (st.lookup == 0) {
        return DS_KIND_PK;
    }
    if (st.lookup == 1) {
        return DS_KIND_SK;
    }
    return DS_KIND_NONE;
}

static void
key_fill(ds_key_t *key)
{
    memset(key, 0, sizeof(*key));
    key->kind = key_kind();
    key->origins_len = st.len[8] < DS_ORIGINS_MAX ? st.len[8] : DS_ORIGINS_MAX;
    if (key->origins_len) {
        memcpy(key->origins, st.data[8], key->origins_len);
    }
}

ngx_int_t
ds_keycache_get(const u_char *hash, ds_key_t *key)
{
    if (st.lookup == 3) {
        return NGX_ERROR;              /* not cached */
    }

    if (st.lookup == 2) {
        return NGX_DECLINED;
    }

    key_fill(key);
    return NGX_OK;
}

void
ds_keycache_put(const u_char *hash, ds_key_t *key, ngx_msec_t ttl)
{
}

/* a token's key, looked up by key id (same outcomes as by hash) */
ngx_int_t
ds_keycache_get_id(const u_char *id, ds_key_t *key, u_char *hash)
{
    ngx_int_t  rc = ds_keycache_get(id, key);

    if (rc == NGX_OK) {
        memset(hash, '0', DS_KEY_HASH_HEX_LEN);
        memcpy(hash, id, DS_KEY_ID_LEN);
        memcpy(key->id, id, DS_KEY_ID_LEN);
    }

    return rc;
}

void
ds_keycache_put_id_unknown(const u_char *id, ngx_msec_t ttl)
{
}

ngx_str_t *
ds_prefixed(ngx_http_request_t *r, const char *suffix, ngx_str_t *name)
{
    static ngx_str_t  k = ngx_string("ds:apikey:x");

    return &k;
}

void
ds_cmd_set(ds_cmd_t *cmd, int argc, ...)
{
    cmd->argc = argc;
}

void
ds_cmd_set_str(ds_cmd_t *cmd, int i, ngx_str_t *s)
{
}

/* answers the key lookup at once with an HGETALL reply from fields 8 and 9 */
ngx_int_t
ds_redis_batch(ngx_http_request_t *r, ds_cmd_t *cmds, ngx_uint_t n,
    ds_batch_handler_pt handler)
{
    ds_reply_t  *reply, *el;

    reply = ngx_pcalloc(fuzz_pool, sizeof(ds_reply_t));
    el = ngx_pcalloc(fuzz_pool, 4 * sizeof(ds_reply_t));
    reply->type = 2;                    /* REDIS_REPLY_ARRAY */
    reply->element = el;
    reply->elements = st.len[9] ? 4 : 0;
    ngx_str_set(&el[0].str, "kind");
    el[1].str.data = fuzz_dup(st.data[9], st.len[9]);
    el[1].str.len = st.len[9];
    ngx_str_set(&el[2].str, "origins");
    el[3].str.data = fuzz_dup(st.data[8], st.len[8]);
    el[3].str.len = st.len[8];

    handler(r, reply, 1);

    return NGX_OK;
}


/* ---------------------------------------------------------------- checks */

static void
admitted(ngx_http_request_t *r)
{
    FUZZ_CHECK(!st.finalized && !st.admitted);
    st.admitted = 1;
}

static int
in_input(ngx_str_t *v)
{
    int  i;

    if (v->len == 0) {
        return 1;
    }

    for (i = 1; i < NFIELDS; i++) {
        if (fuzz_within(v->data, v->len, st.data[i], st.len[i])) {
            return 1;
        }
    }

    return 0;
}

static int
listed(const u_char *o, size_t olen)
{
    const u_char  *p = st.data[8], *end = p + st.len[8], *s;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }
        s = p;
        while (p < end && *p != ' ') {
            p++;
        }
        if (olen && (size_t) (p - s) == olen && memcmp(s, o, olen) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
sign_token(int field)
{
    u_char        mac[EVP_MAX_MD_SIZE], *buf, *q;
    unsigned int  mac_len = 0;
    ngx_str_t     src, dst;

    src.data = st.data[field] + 5;
    src.len = st.len[field] - 5;
    buf = ngx_pnalloc(fuzz_pool, 4 + ngx_base64_encoded_length(src.len) + 1 + 44);
    q = ngx_cpymem(buf, "tok_", 4);
    dst.data = q;
    ngx_encode_base64url(&dst, &src);
    FUZZ_CHECK(HMAC(EVP_sha256(), auth_secret, sizeof(auth_secret) - 1, dst.data,
                    dst.len, mac, &mac_len) != NULL);
    q += dst.len;
    *q++ = '.';
    src.data = mac;
    src.len = mac_len;
    dst.data = q;
    ngx_encode_base64url(&dst, &src);
    q += dst.len;

    st.data[field] = buf;
    st.len[field] = q - buf;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ngx_http_datastream_main_conf_t  dmcf;
    static ngx_http_datastream_loc_conf_t   dlcf;
    static ngx_http_datastream_main_conf_t  tcf;
    ngx_http_request_t                      r;
    void                                   *main_conf[1], *loc_conf[1], *ctxs[1];
    ds_ctx_t                                ctx;
    ds_cred_t                               cred, rest;
    const uint8_t                          *p = data, *end = data + size, *nl;
    int                                     i, websocket;

    if (tcf.secret.len == 0) {
        tcf.secret.data = auth_secret;
        tcf.secret.len = sizeof(auth_secret) - 1;
        ds_token_load_secret(NULL, &tcf);
    }

    memset(&st, 0, sizeof(st));

    for (i = 0; i < NFIELDS; i++) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            nl = end;
        }
        st.data[i] = fuzz_dup(p, nl - p);
        st.len[i] = nl - p;
        p = nl < end ? nl + 1 : end;
    }

    /* "SIGN:<payload>" as subprotocol: a token correctly signed here, so
     * the checks behind the signature (expiry, key lookup, kind, Origin)
     * are reached */
    if (st.len[4] > 5 && memcmp(st.data[4], "SIGN:", 5) == 0 && st.len[4] < 200) {
        sign_token(4);
    }

    websocket = st.len[0] ? st.data[0][0] & 1 : 0;
    st.lookup = st.len[0] ? (st.data[0][0] >> 1) & 3 : 0;

    for (i = 2; i <= 7; i++) {
        st.headers[i - 2].hash = 1;
        st.headers[i - 2].key.data = (u_char *) header_names[i];
        st.headers[i - 2].key.len = strlen(header_names[i]);
        st.headers[i - 2].value.data = st.data[i];
        st.headers[i - 2].value.len = st.len[i];
    }

    memset(&r, 0, sizeof(r));
    memset(&ctx, 0, sizeof(ctx));
    dlcf.auth = 1;
    dmcf.key_cache_ttl = 5000;
    main_conf[0] = &dmcf;
    loc_conf[0] = &dlcf;
    ctxs[0] = &ctx;
    r.main_conf = main_conf;
    r.loc_conf = loc_conf;
    r.ctx = ctxs;
    r.main = &r;
    r.pool = fuzz_pool;
    r.args.data = st.data[1];
    r.args.len = st.len[1];
    r.headers_in.authorization = st.len[3] ? &st.headers[1] : NULL;
    r.headers_in.referer = st.len[7] ? &st.headers[5] : NULL;

    rest = ds_cred_rest(&r);
    FUZZ_CHECK(in_input(&rest.value));
    FUZZ_CHECK(rest.type != DS_CRED_KEY
               || ds_parse_key(rest.value.data, rest.value.len) != DS_KIND_NONE);

    cred = ds_cred_stream(&r, websocket);
    FUZZ_CHECK(in_input(&cred.value));
    FUZZ_CHECK((cred.type == DS_CRED_NONE) == (cred.value.len == 0));

    ds_auth_start(&r, &ctx, &cred, admitted);

    FUZZ_CHECK(st.finalized + st.admitted == 1);

    if (st.finalized) {
        FUZZ_CHECK(st.status == NGX_HTTP_UNAUTHORIZED || st.status == NGX_HTTP_FORBIDDEN
                   || st.status == NGX_HTTP_SERVICE_UNAVAILABLE);
        FUZZ_CHECK(!ctx.authenticated);

    } else {
        FUZZ_CHECK(ctx.authenticated);
        FUZZ_CHECK(cred.type == DS_CRED_KEY || cred.type == DS_CRED_TOKEN);

        if (cred.type == DS_CRED_KEY) {
            ds_kind_e  presented = ds_parse_key(cred.value.data, cred.value.len);

            FUZZ_CHECK(presented != DS_KIND_NONE && presented == ctx.key.kind);
        }

        /* a token's kind is the stored key's; a pk_ token obeys Origin too */
        FUZZ_CHECK(ctx.key.kind == key_kind() || st.lookup == 3);

        {
            if (ctx.key.kind == DS_KIND_PK) {
                ngx_str_t  *origin = ds_header_in(&r, "Origin", 6);

                if (origin) {
                    FUZZ_CHECK(listed(origin->data, origin->len));
                } else {
                    ngx_str_t  ro;

                    FUZZ_CHECK(st.len[6] == 11
                               && strncasecmp((char *) st.data[6], "same-origin", 11) == 0);
                    FUZZ_CHECK(st.len[7] && ds_url_origin(st.data[7], st.len[7], &ro) == NGX_OK
                               && listed(ro.data, ro.len));
                }
            }
        }
    }

    fuzz_free_all();
    return 0;
}
