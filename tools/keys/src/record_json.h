#ifndef DSK_RECORD_JSON_H
#define DSK_RECORD_JSON_H

#include "store.h"

#include <jansson.h>

/* {"key"?, "id","prefix","name","kind","rate_limit","origins":[…],"created_at"}.
 * key is NULL except right after create. Logs and returns NULL on failure. */
json_t *dsk_record_json(const dsk_apikey_record_t *rec, const char *key);

/* Prints compact JSON and a newline on stdout; returns an exit code. */
int dsk_record_json_print(const json_t *value);

#endif
