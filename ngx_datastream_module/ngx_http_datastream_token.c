/*
 * Short-lived streaming tokens: tok_<payload>.<signature>, payload the
 * base64url of "<key id>.<kind>.<expiry>", signature the base64url of
 * HMAC-SHA256(secret, payload text). Any replica sharing the secret
 * verifies them without shared state.
 */

#include "ngx_http_datastream_module.h"

#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define DS_TOKEN_PREFIX       "tok_"
#define DS_TOKEN_PREFIX_LEN   (sizeof(DS_TOKEN_PREFIX) - 1)
#define DS_PAYLOAD_MAX        64
#define DS_MAC_LEN            32
#define DS_MAC_B64_LEN        43      /* base64url of 32 bytes, no padding */


static ngx_str_t  ds_secret;


ngx_int_t
ds_token_load_secret(ngx_cycle_t *cycle, ngx_http_datastream_main_conf_t *dmcf)
{
    char  *value;

    ds_secret = dmcf->secret;

    if (dmcf->secret_env.len == 0 || ds_secret.len) {
        return NGX_OK;
    }

    /* read in the worker: "env NAME;" applies to workers only */
    value = getenv((char *) dmcf->secret_env.data);

    if (value == NULL || value[0] == '\0') {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "datastream: token secret variable \"%V\" is empty or "
                      "not passed with the \"env\" directive; tokens are disabled",
                      &dmcf->secret_env);
        return NGX_OK;
    }

    ds_secret.data = (u_char *) value;
    ds_secret.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ds_token_sign(ngx_str_t *payload, u_char *out)
{
    u_char        mac[EVP_MAX_MD_SIZE];
    unsigned int  mac_len = 0;
    ngx_str_t     src, dst;

    if (HMAC(EVP_sha256(), ds_secret.data, (int) ds_secret.len, payload->data,
             payload->len, mac, &mac_len) == NULL
        || mac_len != DS_MAC_LEN)
    {
        return NGX_ERROR;
    }

    src.data = mac;
    src.len = mac_len;
    dst.data = out;
    ngx_encode_base64url(&dst, &src);

    return dst.len == DS_MAC_B64_LEN ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ds_token_mint(ngx_http_request_t *r, ds_key_t *key, ngx_str_t *out)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    u_char                            raw[DS_PAYLOAD_MAX], *p;
    ngx_str_t                         src, payload;

    if (ds_secret.len == 0) {
        return NGX_DECLINED;
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    p = ngx_snprintf(raw, DS_PAYLOAD_MAX, "%*s.%s.%T", (size_t) DATASTREAM_APIKEY_ID_LEN,
                     key->id, key->kind == DS_KIND_PK ? "pk" : "sk",
                     ngx_time() + dmcf->token_ttl);
    src.data = raw;
    src.len = p - raw;

    out->data = ngx_pnalloc(r->pool, DS_TOKEN_PREFIX_LEN
                            + ngx_base64_encoded_length(src.len) + 1 + DS_MAC_B64_LEN);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, DS_TOKEN_PREFIX, DS_TOKEN_PREFIX_LEN);
    payload.data = p;
    ngx_encode_base64url(&payload, &src);
    p += payload.len;
    *p++ = '.';

    if (ds_token_sign(&payload, p) != NGX_OK) {
        return NGX_ERROR;
    }

    out->len = p + DS_MAC_B64_LEN - out->data;

    return NGX_OK;
}


/* parses "<16 hex>.<sk|pk>.<digits>" */
static ngx_int_t
ds_token_parse_payload(u_char *p, size_t len, ds_key_t *key, time_t *expiry)
{
    size_t     i;
    ngx_int_t  t;

    if (len < DATASTREAM_APIKEY_ID_LEN + 5 || p[DATASTREAM_APIKEY_ID_LEN] != '.'
        || p[DATASTREAM_APIKEY_ID_LEN + 3] != '.')
    {
        return NGX_ERROR;
    }

    for (i = 0; i < DATASTREAM_APIKEY_ID_LEN; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return NGX_ERROR;
        }
    }

    if (ngx_strncmp(p + DATASTREAM_APIKEY_ID_LEN + 1, "sk", 2) == 0) {
        key->kind = DS_KIND_SK;
    } else if (ngx_strncmp(p + DATASTREAM_APIKEY_ID_LEN + 1, "pk", 2) == 0) {
        key->kind = DS_KIND_PK;
    } else {
        return NGX_ERROR;
    }

    t = ngx_atotm(p + DATASTREAM_APIKEY_ID_LEN + 4, len - DATASTREAM_APIKEY_ID_LEN - 4);
    if (t == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_memcpy(key->id, p, DATASTREAM_APIKEY_ID_LEN);
    *expiry = (time_t) t;

    return NGX_OK;
}


ngx_int_t
ds_token_verify(ngx_http_request_t *r, ngx_str_t *token, ds_key_t *key,
    const char **err)
{
    u_char     *dot, expected[DS_MAC_B64_LEN], raw[DS_PAYLOAD_MAX];
    ngx_str_t   payload, decoded;
    time_t      expiry;

    *err = "Invalid token";

    if (ds_secret.len == 0 || token->len <= DS_TOKEN_PREFIX_LEN
        || ngx_strncmp(token->data, DS_TOKEN_PREFIX, DS_TOKEN_PREFIX_LEN) != 0)
    {
        return NGX_ERROR;
    }

    payload.data = token->data + DS_TOKEN_PREFIX_LEN;
    dot = ngx_strlchr(payload.data, token->data + token->len, '.');
    if (dot == NULL) {
        return NGX_ERROR;
    }
    payload.len = dot - payload.data;

    if (payload.len == 0 || ngx_base64_decoded_length(payload.len) > DS_PAYLOAD_MAX
        || (size_t) (token->data + token->len - (dot + 1)) != DS_MAC_B64_LEN)
    {
        return NGX_ERROR;
    }

    if (ds_token_sign(&payload, expected) != NGX_OK
        || CRYPTO_memcmp(expected, dot + 1, DS_MAC_B64_LEN) != 0)
    {
        return NGX_ERROR;
    }

    decoded.data = raw;
    if (ngx_decode_base64url(&decoded, &payload) != NGX_OK
        || ds_token_parse_payload(raw, decoded.len, key, &expiry) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (expiry <= ngx_time()) {
        *err = "Token expired";
        return NGX_ERROR;
    }

    key->rate_limit = 0;
    key->origins_len = 0;
    key->origins = NULL;

    return NGX_OK;
}
