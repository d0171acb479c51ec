/*
 * ds_parse_limit against its contract: decimal digits only, no sign, space
 * or leading zero, 1..1000; the value written must be the number.
 */
#include "fuzz.h"


static int
ref_limit(const uint8_t *p, size_t len, unsigned *value)
{
    size_t    i;
    unsigned  v = 0;

    if (len < 1 || len > 4 || p[0] == '0') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
        v = v * 10 + (p[i] - '0');
    }

    *value = v;

    return v >= 1 && v <= 1000;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *p = fuzz_dup(data, size);
    ngx_uint_t   limit = 12345;
    unsigned     expect = 0;
    int          ok, ref;

    ok = ds_parse_limit(p, size, &limit) == NGX_OK;
    ref = ref_limit(data, size, &expect);

    FUZZ_CHECK(ok == ref);
    FUZZ_CHECK(!ok || limit == expect);
    FUZZ_CHECK(ok || limit == 12345);   /* untouched on error */

    fuzz_free_all();
    return 0;
}
