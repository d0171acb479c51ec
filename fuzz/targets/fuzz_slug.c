/*
 * datastream_name_valid against the documented grammar [a-z0-9][a-z0-9_-]{0,63}:
 * the parser must accept exactly what the reference accepts. A slug becomes
 * part of a Redis key and of an nchan channel id, so a false accept matters.
 */
#include "fuzz.h"


static int
ref_slug(const uint8_t *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 64) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        int  alnum = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9');

        if (!alnum && (i == 0 || (p[i] != '-' && p[i] != '_'))) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *p = fuzz_dup(data, size);

    FUZZ_CHECK(datastream_name_valid((const char *) p, size) == ref_slug(data, size));

    fuzz_free_all();
    return 0;
}
