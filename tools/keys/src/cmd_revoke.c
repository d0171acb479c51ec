#include "commands.h"

#include "log.h"

#include <stdio.h>

int dsk_revoke_check(const char *target)
{
    if (dsk_apikey_is_id(target) || dsk_apikey_is_key(target))
        return DSK_EXIT_OK;
    dsk_log_error("revoke needs a key id (16 lowercase hex digits) or a full sk_live_/pk_live_ key");
    return DSK_EXIT_USAGE;
}

int dsk_revoke_run(dsk_store_t *s, const char *target)
{
    char hash[DATASTREAM_APIKEY_HASH_HEX_LEN + 1];
    if (dsk_apikey_is_key(target)) {
        if (!dsk_apikey_hash_hex(target, hash)) {
            dsk_log_error("cannot hash the key: OpenSSL failure");
            return DSK_EXIT_FAIL;
        }
    } else {
        int matches = dsk_store_find_by_id(s, target, hash);
        if (matches < 0)
            return DSK_EXIT_FAIL;
        if (matches > 1) {
            dsk_log_error("key id %s is ambiguous (%d keys); revoke by full key", target, matches);
            return DSK_EXIT_FAIL;
        }
        if (matches == 0) {
            dsk_log_error("no key with id %s", target);
            return DSK_EXIT_FAIL;
        }
    }
    int removed = dsk_store_delete(s, hash);
    if (removed < 0)
        return DSK_EXIT_FAIL;
    if (removed == 0) {
        dsk_log_error("no such key (id %.*s)", DATASTREAM_APIKEY_ID_LEN, hash);
        return DSK_EXIT_FAIL;
    }
    return printf("revoked %.*s\n", DATASTREAM_APIKEY_ID_LEN, hash) < 0 ? DSK_EXIT_FAIL : DSK_EXIT_OK;
}
