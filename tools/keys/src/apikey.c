#include "apikey.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static const char LIVE[] = "_live_";
static const char HEX[] = "0123456789abcdef";

const char *dsk_apikey_kind_name(dsk_apikey_kind_e kind)
{
    return kind == DSK_APIKEY_PK ? "pk" : "sk";
}

bool dsk_apikey_kind_parse(const char *s, dsk_apikey_kind_e *out)
{
    if (strcmp(s, "sk") == 0)
        *out = DSK_APIKEY_SK;
    else if (strcmp(s, "pk") == 0)
        *out = DSK_APIKEY_PK;
    else
        return false;
    return true;
}

static void to_hex(const unsigned char *bytes, size_t n, char *hex)
{
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = HEX[bytes[i] >> 4];
        hex[2 * i + 1] = HEX[bytes[i] & 0xf];
    }
    hex[2 * n] = '\0';
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(HEX, s[i]))
            return false;
    return s[n] == '\0';
}

bool dsk_apikey_generate(dsk_apikey_kind_e kind, char key[DATASTREAM_APIKEY_LEN + 1])
{
    unsigned char secret[DATASTREAM_APIKEY_SECRET_BYTES];
    if (RAND_bytes(secret, sizeof secret) != 1)
        return false;
    int n = snprintf(key, DATASTREAM_APIKEY_LEN + 1, "%s%s", dsk_apikey_kind_name(kind), LIVE);
    if (n < 0 || (size_t)n + 2 * sizeof secret != DATASTREAM_APIKEY_LEN)
        return false;
    to_hex(secret, sizeof secret, key + n);
    OPENSSL_cleanse(secret, sizeof secret);
    return true;
}

bool dsk_apikey_is_key(const char *s)
{
    dsk_apikey_kind_e kind;
    char kind_text[3] = {s[0], s[0] ? s[1] : '\0', '\0'};
    size_t head = 2 + sizeof LIVE - 1;
    return dsk_apikey_kind_parse(kind_text, &kind) && strlen(s) == DATASTREAM_APIKEY_LEN &&
           strncmp(s + 2, LIVE, sizeof LIVE - 1) == 0 && is_lower_hex(s + head, DATASTREAM_APIKEY_LEN - head);
}

bool dsk_apikey_is_id(const char *s)
{
    return strlen(s) == DATASTREAM_APIKEY_ID_LEN && is_lower_hex(s, DATASTREAM_APIKEY_ID_LEN);
}

bool dsk_apikey_hash_hex(const char *key, char hex[DATASTREAM_APIKEY_HASH_HEX_LEN + 1])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(key, strlen(key), digest, &len, EVP_sha256(), NULL) != 1 ||
        len * 2 != DATASTREAM_APIKEY_HASH_HEX_LEN)
        return false;
    to_hex(digest, len, hex);
    return true;
}
