#ifndef DS_KEYS_RECORD_JSON_H
#define DS_KEYS_RECORD_JSON_H

#include "store.h"

#include <jansson.h>

/* {"key"?, "id","prefix","name","kind","rate_limit","origins":[…],"created_at"}.
 * key is NULL except right after create. Logs and returns NULL on failure. */
json_t *record_json(const struct apikey_record *rec, const char *key);

/* Prints compact JSON and a newline on stdout; returns an exit code. */
int record_json_print(const json_t *value);

#endif
