#include "commands.h"

#include "log.h"

#include <stdio.h>

int revoke_check(const char *target)
{
    if (apikey_is_id(target) || apikey_is_key(target))
        return EXIT_OK;
    log_error("revoke needs a key id (16 lowercase hex digits) or a full sk_live_/pk_live_ key");
    return EXIT_USAGE;
}

int revoke_run(struct store *s, const char *target)
{
    char hash[APIKEY_HASH_HEX_LEN + 1];
    if (apikey_is_key(target)) {
        if (!apikey_hash_hex(target, hash)) {
            log_error("cannot hash the key: OpenSSL failure");
            return EXIT_FAIL;
        }
    } else {
        int matches = store_find_by_id(s, target, hash);
        if (matches < 0)
            return EXIT_FAIL;
        if (matches > 1) {
            log_error("key id %s is ambiguous (%d keys); revoke by full key", target, matches);
            return EXIT_FAIL;
        }
        if (matches == 0) {
            log_error("no key with id %s", target);
            return EXIT_FAIL;
        }
    }
    int removed = store_delete(s, hash);
    if (removed < 0)
        return EXIT_FAIL;
    if (removed == 0) {
        log_error("no such key (id %.*s)", APIKEY_ID_LEN, hash);
        return EXIT_FAIL;
    }
    return printf("revoked %.*s\n", APIKEY_ID_LEN, hash) < 0 ? EXIT_FAIL : EXIT_OK;
}
