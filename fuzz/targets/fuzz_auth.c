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
#include <openssl/sha.h>


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


/* ------------------------------------- nginx runtime and Redis stand-ins */

/* the answer ds_send_body hands to nginx's filters */
ngx_int_t
ngx_http_send_header(ngx_http_request_t *r)
{
    st.status = r->headers_out.status;
    return NGX_OK;
}

ngx_int_t
ngx_http_output_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
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

/* a key record (HGETALL reply) from fields 8 and 9 */
static void
record(ds_reply_t *reply)
{
    ds_reply_t  *el;

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
}

/*
 * Redis, answering at once: HGETALL of a key with its record, the key-by-id
 * script of a token with {hash of the id, record}, or {} when field 9 is
 * empty (a revoked key)
 */
ngx_int_t
ds_redis_batch(ngx_http_request_t *r, ds_cmds_t *cmds, ds_batch_handler_pt handler)
{
    ds_reply_t  *reply, *found;
    ds_cmd_t    *cmd = &cmds->cmd[0];
    u_char      *hash;

    FUZZ_CHECK(cmds->n == 1);

    reply = ngx_pcalloc(fuzz_pool, sizeof(ds_reply_t));

    if (cmd->argvlen[0] == 7 && memcmp(cmd->argv[0], "HGETALL", 7) == 0) {
        record(reply);
        handler(r, reply, 1);
        return NGX_OK;
    }

    /* the script's one argument, last: the key id */
    FUZZ_CHECK(cmd->argc == 6 && cmd->argvlen[5] == DATASTREAM_APIKEY_ID_LEN);

    reply->type = 2;
    if (st.len[9]) {
        found = ngx_pcalloc(fuzz_pool, 2 * sizeof(ds_reply_t));
        hash = ngx_pnalloc(fuzz_pool, DATASTREAM_APIKEY_HASH_HEX_LEN);
        memset(hash, '0', DATASTREAM_APIKEY_HASH_HEX_LEN);
        memcpy(hash, cmd->argv[5], DATASTREAM_APIKEY_ID_LEN);
        found[0].type = 1;              /* REDIS_REPLY_STRING */
        found[0].str.data = hash;
        found[0].str.len = DATASTREAM_APIKEY_HASH_HEX_LEN;
        record(&found[1]);
        reply->element = found;
        reply->elements = 2;
    }

    handler(r, reply, 1);

    return NGX_OK;
}


/*
 * The key cache as the control byte asks, through the real cache: every
 * input starts later than the last entry's lifetime, so no input sees
 * another's entries.
 */
static void
seed_cache(const u_char *hash)
{
    ds_key_t  key;

    ngx_current_msec += 1000000;

    if (st.lookup == 3) {
        return;
    }

    if (st.lookup == 2) {
        ds_keycache_put(hash, NULL, 5000);
        return;
    }

    memset(&key, 0, sizeof(key));
    key.kind = key_kind();
    memcpy(key.id, hash, DATASTREAM_APIKEY_ID_LEN);
    key.origins_len = st.len[8] <= DATASTREAM_ORIGINS_MAX ? st.len[8] : 0;
    key.origins = st.data[8];
    ds_keycache_put(hash, &key, 5000);
}


/* the hash the presented credential names (a token: by its key id) */
static void
credential_hash(ngx_http_request_t *r, ds_cred_t *cred, u_char *hash)
{
    u_char       digest[SHA256_DIGEST_LENGTH];
    ds_key_t     key;
    const char  *err;

    memset(hash, '0', DATASTREAM_APIKEY_HASH_HEX_LEN);

    if (cred->type == DS_CRED_KEY) {
        FUZZ_CHECK(SHA256(cred->value.data, cred->value.len, digest) != NULL);
        ngx_hex_dump(hash, digest, SHA256_DIGEST_LENGTH);

    } else if (cred->type == DS_CRED_TOKEN
               && ds_token_verify(r, &cred->value, &key, &err) == NGX_OK)
    {
        memcpy(hash, key.id, DATASTREAM_APIKEY_ID_LEN);
    }
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

/*
 * The model of the origin list, written apart from the module's scanner: an
 * origin is listed where it occurs with a space or an end on either side.
 */
static int
listed(const u_char *o, size_t olen)
{
    const u_char  *list = st.data[8], *end = list + st.len[8], *hit;

    if (olen == 0) {
        return 0;
    }

    for (hit = list; hit < end; hit++) {
        hit = memmem(hit, end - hit, o, olen);
        if (hit == NULL) {
            return 0;
        }
        if ((hit == list || hit[-1] == ' ')
            && (hit + olen == end || hit[olen] == ' '))
        {
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


/*
 * The decision alone, on facts taken from the input: the record of fields
 * 8/9 (a lookup outcome from the control byte) and the Origin header.
 */
static void
check_decide(ds_cred_t *cred)
{
    ds_auth_facts_t    f;
    ds_auth_verdict_t  v;
    ds_key_t           key;
    ngx_str_t          origin;
    ngx_uint_t         i;

    memset(&key, 0, sizeof(key));
    key.kind = key_kind();
    key.origins = st.data[8];
    key.origins_len = st.len[8];
    origin.data = st.data[5];
    origin.len = st.len[5];

    memset(&f, 0, sizeof(f));
    f.cred = cred->type;
    f.kind = cred->type == DS_CRED_KEY ? ds_parse_key(cred->value.data, cred->value.len)
                                       : (st.len[9] && st.data[9][0] == 'p' ? DS_KIND_PK
                                                                           : DS_KIND_SK);
    f.token_rc = st.len[1] && (st.data[1][0] & 1) ? NGX_ERROR : NGX_OK;
    f.key = &key;
    f.origin = st.len[5] ? &origin : NULL;

    for (i = DS_LOOKUP_NONE; i <= DS_LOOKUP_FAILED; i++) {
        f.lookup = (ds_lookup_e) i;
        v = ds_auth_decide(&f);

        FUZZ_CHECK(v.verdict <= DS_VERDICT_ADMIT);
        FUZZ_CHECK((v.verdict == DS_VERDICT_REFUSE) == (v.error != NULL));
        FUZZ_CHECK(v.verdict == DS_VERDICT_REFUSE
                   ? (v.status == NGX_HTTP_UNAUTHORIZED || v.status == NGX_HTTP_FORBIDDEN
                      || v.status == NGX_HTTP_SERVICE_UNAVAILABLE)
                   : v.status == 0);
        FUZZ_CHECK(v.verdict != DS_VERDICT_LOOKUP || f.lookup == DS_LOOKUP_NONE);

        if (v.verdict == DS_VERDICT_ADMIT) {
            FUZZ_CHECK(f.lookup == DS_LOOKUP_FOUND);
            FUZZ_CHECK(f.cred != DS_CRED_TOKEN || f.token_rc == NGX_OK);
            FUZZ_CHECK(f.cred == DS_CRED_KEY || f.cred == DS_CRED_TOKEN);
            FUZZ_CHECK(key.kind == f.kind);
            FUZZ_CHECK(v.allow_origin == (key.kind == DS_KIND_PK));
            FUZZ_CHECK(key.kind != DS_KIND_PK || listed(origin.data, origin.len));
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ngx_http_datastream_main_conf_t  dmcf;
    static ngx_http_datastream_loc_conf_t   dlcf;
    static ngx_http_datastream_main_conf_t  tcf;
    ngx_http_request_t                      r;
    ngx_connection_t                        conn;
    void                                   *main_conf[1], *loc_conf[1], *ctxs[1];
    ds_ctx_t                                ctx;
    ds_cred_t                               cred, rest;
    ngx_table_elt_t                        *h;
    u_char                                  hash[DATASTREAM_APIKEY_HASH_HEX_LEN];
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
    memset(&conn, 0, sizeof(conn));
    memset(&ctx, 0, sizeof(ctx));
    conn.log = ngx_cycle->log;
    r.connection = &conn;
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

    /* two elements per list part, so lookups cross parts */
    FUZZ_CHECK(ngx_list_init(&r.headers_in.headers, fuzz_pool, 2, sizeof(ngx_table_elt_t))
               == NGX_OK);
    FUZZ_CHECK(ngx_list_init(&r.headers_out.headers, fuzz_pool, 2, sizeof(ngx_table_elt_t))
               == NGX_OK);

    for (i = 2; i <= 7; i++) {
        if (st.len[i]) {
            h = ngx_list_push(&r.headers_in.headers);
            *h = st.headers[i - 2];
        }
    }

    rest = ds_cred_rest(&r);
    FUZZ_CHECK(in_input(&rest.value));
    FUZZ_CHECK(rest.type != DS_CRED_KEY
               || ds_parse_key(rest.value.data, rest.value.len) != DS_KIND_NONE);

    cred = ds_cred_stream(&r, websocket);
    FUZZ_CHECK(in_input(&cred.value));
    FUZZ_CHECK((cred.type == DS_CRED_NONE) == (cred.value.len == 0));

    credential_hash(&r, &cred, hash);
    seed_cache(hash);
    check_decide(&cred);

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
