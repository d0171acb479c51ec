/*
 * The raw JSON scanner used on stored round objects:
 *   ds_json_skip_value must end inside the input;
 *   ds_json_member must return a value inside the input, and that value,
 *     skipped again, must end exactly where it says;
 *   ds_json_unquote must never grow the text (its buffer is sized on that).
 */
#include "fuzz.h"


static const char  *keys[] = { "extras", "point", "result", "color", "round_id", "" };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        *p = fuzz_dup(data, size);
    const u_char  *end = p + size, *e;
    ngx_str_t      value, decoded;
    ngx_uint_t     i;
    ngx_int_t      rc;

    e = ds_json_skip_value(p, end, 0);
    FUZZ_CHECK(e == NULL || (e > p && e <= end));

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        rc = ds_json_member(p, end, keys[i], &value);
        FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ERROR);

        if (rc != NGX_OK) {
            continue;
        }

        FUZZ_CHECK(value.len > 0 && fuzz_within(value.data, value.len, p, size));
        e = ds_json_skip_value(value.data, value.data + value.len, 1);
        FUZZ_CHECK(e == value.data + value.len);

        if (value.data[0] == '"') {
            if (ds_json_unquote(fuzz_pool, &value, &decoded) == NGX_OK) {
                FUZZ_CHECK(decoded.len <= value.len);
            }
        }
    }

    /* the whole input as a JSON string token */
    value.data = p;
    value.len = size;
    if (ds_json_unquote(fuzz_pool, &value, &decoded) == NGX_OK) {
        FUZZ_CHECK(decoded.len + 2 <= size);
    }

    fuzz_free_all();
    return 0;
}
