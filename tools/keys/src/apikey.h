#ifndef DSK_APIKEY_H
#define DSK_APIKEY_H

#include "datastream_contract.h"

#include <stdbool.h>
#include <stddef.h>

/* Key shape (datastream_contract.h): "<kind>_live_" + 64 lowercase hex (32 random bytes). */
typedef enum { DSK_APIKEY_SK, DSK_APIKEY_PK } dsk_apikey_kind_e;

const char *dsk_apikey_kind_name(dsk_apikey_kind_e kind);
bool dsk_apikey_kind_parse(const char *s, dsk_apikey_kind_e *out);

/* Fills key (DATASTREAM_APIKEY_LEN + 1 bytes) from the OpenSSL CSPRNG. */
bool dsk_apikey_generate(dsk_apikey_kind_e kind, char key[DATASTREAM_APIKEY_LEN + 1]);

/* True when s looks like a complete key of either kind. */
bool dsk_apikey_is_key(const char *s);

/* True when s is a key id: DATASTREAM_APIKEY_ID_LEN lowercase hex digits. */
bool dsk_apikey_is_id(const char *s);

/* Lowercase hex SHA-256 of the key string: the only form ever stored. */
bool dsk_apikey_hash_hex(const char *key, char hex[DATASTREAM_APIKEY_HASH_HEX_LEN + 1]);

#endif
