/*
 * ds_pick_subprotocol (Sec-WebSocket-Protocol list): the choice must be one
 * trimmed, non-empty entry of the list, inside the header value; a tok_
 * entry wins over other entries; no entry at all is NGX_DECLINED.
 */
#include "fuzz.h"

#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *p = fuzz_dup(data, size);
    ngx_str_t   out = ngx_null_string;
    ngx_int_t   rc;
    size_t      i;
    int         has_entry = 0, has_token = 0;

    /* reference: split on ',' and trim ' ' / '\t' */
    for (i = 0; i < size; ) {
        size_t  s, e;

        while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == ',')) {
            i++;
        }
        s = i;
        while (i < size && data[i] != ',') {
            i++;
        }
        e = i;
        while (e > s && (data[e - 1] == ' ' || data[e - 1] == '\t')) {
            e--;
        }
        if (e > s) {
            has_entry = 1;
            if (e - s > 4 && memcmp(data + s, "tok_", 4) == 0) {
                has_token = 1;
            }
        }
    }

    rc = ds_pick_subprotocol(p, size, &out);

    FUZZ_CHECK((rc == NGX_OK) == has_entry);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        FUZZ_CHECK(out.len > 0 && fuzz_within(out.data, out.len, p, size));
        FUZZ_CHECK(memchr(out.data, ',', out.len) == NULL);
        FUZZ_CHECK(out.data[0] != ' ' && out.data[0] != '\t');
        FUZZ_CHECK(out.data[out.len - 1] != ' ' && out.data[out.len - 1] != '\t');
        /* entry boundaries: preceded by start, ',' or blank; followed by end, ',' or blank */
        FUZZ_CHECK(out.data == p || out.data[-1] == ',' || out.data[-1] == ' '
                   || out.data[-1] == '\t');
        FUZZ_CHECK(out.data + out.len == p + size || out.data[out.len] == ','
                   || out.data[out.len] == ' ' || out.data[out.len] == '\t');
        FUZZ_CHECK(!has_token
                   || (out.len > 4 && memcmp(out.data, "tok_", 4) == 0));
    }

    fuzz_free_all();
    return 0;
}
