#ifndef DS_KEYS_APIKEY_H
#define DS_KEYS_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

/* Key shape: "<kind>_live_" + 64 lowercase hex (32 random bytes). */
#define APIKEY_SECRET_BYTES 32
#define APIKEY_LEN (sizeof "sk_live_" - 1 + 2 * APIKEY_SECRET_BYTES)
#define APIKEY_HASH_HEX_LEN 64
#define APIKEY_ID_LEN 16
#define APIKEY_PREFIX_LEN 16

enum apikey_kind { APIKEY_SK, APIKEY_PK };

const char *apikey_kind_name(enum apikey_kind kind);
bool apikey_kind_parse(const char *s, enum apikey_kind *out);

/* Fills key (APIKEY_LEN + 1 bytes) from the OpenSSL CSPRNG. */
bool apikey_generate(enum apikey_kind kind, char key[APIKEY_LEN + 1]);

/* True when s looks like a complete key of either kind. */
bool apikey_is_key(const char *s);

/* True when s is a key id: APIKEY_ID_LEN lowercase hex digits. */
bool apikey_is_id(const char *s);

/* Lowercase hex SHA-256 of the key string: the only form ever stored. */
bool apikey_hash_hex(const char *key, char hex[APIKEY_HASH_HEX_LEN + 1]);

#endif
