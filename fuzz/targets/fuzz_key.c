/*
 * ds_parse_key against the key format: sk_live_ or pk_live_ followed by
 * exactly 64 lowercase hex digits, nothing else (no sk_test_, no spaces,
 * no uppercase, no trailing bytes).
 */
#include "fuzz.h"

#include <string.h>


static ds_kind_e
ref_key(const uint8_t *p, size_t len)
{
    ds_kind_e  kind;
    size_t     i;

    if (len != 72) {
        return DS_KIND_NONE;
    }

    if (memcmp(p, "sk_live_", 8) == 0) {
        kind = DS_KIND_SK;
    } else if (memcmp(p, "pk_live_", 8) == 0) {
        kind = DS_KIND_PK;
    } else {
        return DS_KIND_NONE;
    }

    for (i = 8; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return DS_KIND_NONE;
        }
    }

    return kind;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *p = fuzz_dup(data, size);

    FUZZ_CHECK(ds_parse_key(p, size) == ref_key(data, size));

    fuzz_free_all();
    return 0;
}
