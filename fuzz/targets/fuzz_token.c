/*
 * Tokens: tok_<base64url payload>.<base64url HMAC-SHA256>.
 * The first input byte picks a mode:
 *   0: the rest is a token as a client sends it; ds_token_verify must not
 *      crash, and may accept it only when the signature is the HMAC of the
 *      payload text under the secret (checked here with OpenSSL directly)
 *      and the payload is <16 hex>.<sk|pk>.<digits> with expiry in the future;
 *   1: the rest is a payload; it is encoded and correctly signed here, so
 *      the payload parser behind the signature check is reached; it must
 *      accept only well-formed, unexpired payloads;
 *   2: mint from fuzzed key id/kind/ttl, then verify: the round trip must
 *      succeed with the same key id and kind, and fail once expired.
 */
#include "fuzz.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


static u_char  secret[] = "fuzz-token-secret-0123456789abcdef";


static void
setup(void)
{
    static int                               done;
    static ngx_http_datastream_main_conf_t   dmcf;

    if (done) {
        return;
    }

    dmcf.secret.data = secret;
    dmcf.secret.len = sizeof(secret) - 1;
    dmcf.token_ttl = 30;
    FUZZ_CHECK(ds_token_load_secret(NULL, &dmcf) == NGX_OK);
    done = 1;
}


/* base64url of HMAC(secret, payload) into out (43 bytes) */
static void
ref_sign(const u_char *payload, size_t len, u_char *out)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    unsigned int  mac_len = 0;
    ngx_str_t     src, dst;

    FUZZ_CHECK(HMAC(EVP_sha256(), secret, sizeof(secret) - 1, payload, len, mac,
                    &mac_len) != NULL && mac_len == 32);
    src.data = mac;
    src.len = mac_len;
    dst.data = out;
    ngx_encode_base64url(&dst, &src);
    FUZZ_CHECK(dst.len == 43);
}


/* <16 lowercase hex>.<sk|pk>.<one or more digits> */
static int
ref_payload_ok(const u_char *p, size_t len, time_t *expiry)
{
    size_t  i;
    time_t  t = 0;

    if (len < 21 || p[16] != '.' || p[19] != '.') {
        return 0;
    }
    for (i = 0; i < 16; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return 0;
        }
    }
    if (!((p[17] == 's' || p[17] == 'p') && p[18] == 'k')) {
        return 0;
    }
    for (i = 20; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        if (t > (NGX_MAX_TIME_T_VALUE - 9) / 10) {
            return 0;
        }
        t = t * 10 + (p[i] - '0');
    }
    *expiry = t;
    return 1;
}


static void
mode_raw(const uint8_t *data, size_t size)
{
    u_char     *p = fuzz_dup(data, size), *dot, sig[43], raw[128];
    ngx_str_t   token = { size, p }, payload, decoded;
    ds_key_t    key;
    const char *err = NULL;
    time_t      expiry;

    if (ds_token_verify(NULL, &token, &key, &err) != NGX_OK) {
        FUZZ_CHECK(err != NULL);
        return;
    }

    FUZZ_CHECK(size > 4 && memcmp(p, "tok_", 4) == 0);
    dot = memchr(p + 4, '.', size - 4);
    FUZZ_CHECK(dot != NULL && (size_t) (p + size - dot - 1) == 43);
    ref_sign(p + 4, dot - (p + 4), sig);
    FUZZ_CHECK(memcmp(sig, dot + 1, 43) == 0);

    payload.data = p + 4;
    payload.len = dot - (p + 4);
    FUZZ_CHECK(ngx_base64_decoded_length(payload.len) <= sizeof(raw));
    decoded.data = raw;
    FUZZ_CHECK(ngx_decode_base64url(&decoded, &payload) == NGX_OK);
    FUZZ_CHECK(ref_payload_ok(raw, decoded.len, &expiry) && expiry > FUZZ_NOW);
}


static void
mode_signed(const uint8_t *data, size_t size)
{
    u_char     *buf, *q;
    ngx_str_t   src, payload, token;
    ds_key_t    key;
    const char *err = NULL;
    time_t      expiry = 0;
    int         ok, ref;

    if (size > 200) {
        return;
    }

    buf = ngx_pnalloc(fuzz_pool, 4 + ngx_base64_encoded_length(size) + 1 + 43);
    q = ngx_cpymem(buf, "tok_", 4);
    src.data = (u_char *) data;
    src.len = size;
    payload.data = q;
    ngx_encode_base64url(&payload, &src);
    q += payload.len;
    *q++ = '.';
    ref_sign(payload.data, payload.len, q);
    q += 43;

    token.data = buf;
    token.len = q - buf;

    ok = ds_token_verify(NULL, &token, &key, &err) == NGX_OK;
    ref = size > 0 && ngx_base64_decoded_length(payload.len) <= 64
          && ref_payload_ok(data, size, &expiry) && expiry > FUZZ_NOW;

    FUZZ_CHECK(ok == ref);

    if (ok) {
        FUZZ_CHECK(memcmp(key.id, data, 16) == 0);
        FUZZ_CHECK(key.kind == (data[17] == 's' ? DS_KIND_SK : DS_KIND_PK));

    } else if (ref_payload_ok(data, size, &expiry) && expiry <= FUZZ_NOW
               && ngx_base64_decoded_length(payload.len) <= 64)
    {
        FUZZ_CHECK(err != NULL && strcmp(err, "Token expired") == 0);
    }
}


static void
mode_mint(const uint8_t *data, size_t size)
{
    static const char                  hex[] = "0123456789abcdef";
    ngx_http_datastream_main_conf_t    dmcf;
    void                              *main_conf[1] = { &dmcf };
    ngx_http_request_t                 r;
    ds_key_t                           key, got;
    ngx_str_t                          token;
    const char                        *err;
    size_t                             i;

    if (size < 18) {
        return;
    }

    memset(&dmcf, 0, sizeof(dmcf));
    memset(&r, 0, sizeof(r));
    memset(&key, 0, sizeof(key));
    dmcf.token_ttl = 1 + data[16] % 120;
    r.main_conf = main_conf;
    r.pool = fuzz_pool;

    for (i = 0; i < 16; i++) {
        key.id[i] = hex[data[i] & 15];
    }
    key.kind = (data[17] & 1) ? DS_KIND_PK : DS_KIND_SK;

    FUZZ_CHECK(ds_token_mint(&r, &key, &token) == NGX_OK);
    FUZZ_CHECK(token.len > 4 + 43 && memcmp(token.data, "tok_", 4) == 0);
    FUZZ_CHECK(ds_token_verify(NULL, &token, &got, &err) == NGX_OK);
    FUZZ_CHECK(memcmp(got.id, key.id, 16) == 0 && got.kind == key.kind);

    /* any single flipped byte must break it */
    if (size > 18) {
        i = data[18] % token.len;
        token.data[i] ^= 1 + (data[size - 1] % 255);
        /* the signature is compared as text: no byte is malleable */
        FUZZ_CHECK(ds_token_verify(NULL, &token, &got, &err) != NGX_OK);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();

    if (size == 0) {
        return 0;
    }

    switch (data[0] % 3) {
    case 0:  mode_raw(data + 1, size - 1);    break;
    case 1:  mode_signed(data + 1, size - 1); break;
    default: mode_mint(data + 1, size - 1);   break;
    }

    fuzz_free_all();
    return 0;
}
