#include "record_json.h"

#include "cli.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *origins_array(const char *list)
{
    json_t *arr = json_array();
    for (const char *p = list; arr && *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n && json_array_append_new(arr, json_stringn(p, n)) != 0) {
            json_decref(arr);
            return NULL;
        }
        p += n;
    }
    return arr;
}

json_t *dsk_record_json(const dsk_apikey_record_t *rec, const char *key)
{
    json_t *obj = json_object();
    bool ok = obj != NULL;
    if (ok && key)
        ok = json_object_set_new(obj, "key", json_string(key)) == 0;
    ok = ok && json_object_set_new(obj, "id", json_stringn(rec->hash, DATASTREAM_APIKEY_ID_LEN)) == 0 &&
         json_object_set_new(obj, "prefix", json_string(rec->prefix)) == 0 &&
         json_object_set_new(obj, "name", json_string(rec->name)) == 0 &&
         json_object_set_new(obj, "kind", json_string(rec->kind)) == 0 &&
         json_object_set_new(obj, "rate_limit", json_integer(rec->rate_limit)) == 0 &&
         json_object_set_new(obj, "origins", origins_array(rec->origins)) == 0 &&
         json_object_set_new(obj, "created_at", json_integer(rec->created_at)) == 0;
    if (!ok) {
        json_decref(obj);
        dsk_log_error("cannot build JSON (invalid UTF-8 in a stored field, or out of memory)");
        return NULL;
    }
    return obj;
}

int dsk_record_json_print(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!text) {
        dsk_log_error("out of memory");
        return DSK_EXIT_FAIL;
    }
    int rc = printf("%s\n", text) < 0 ? DSK_EXIT_FAIL : DSK_EXIT_OK;
    free(text);
    return rc;
}
