/*
 * Origin checks of publishable keys.
 *   ds_origin_listed(list, origin): OK only for an exact, whole entry of the
 *     space-separated list: never a prefix, suffix or case variant
 *     ("http://localhost:3000.evil.test" is not "http://localhost:3000").
 *   ds_url_origin(referer): scheme://host[:port] of an absolute URL, a
 *     prefix of it, without user information, blanks or control bytes.
 * Input: <list> '\n' <origin>; the whole input is also tried as a URL.
 */
#include "fuzz.h"

#include <string.h>


static int
ref_listed(const u_char *list, size_t list_len, const u_char *o, size_t olen)
{
    size_t  i = 0, s;

    if (olen == 0) {
        return 0;
    }

    while (i < list_len) {
        while (i < list_len && list[i] == ' ') {
            i++;
        }
        s = i;
        while (i < list_len && list[i] != ' ') {
            i++;
        }
        if (i - s == olen && memcmp(list + s, o, olen) == 0) {
            return 1;
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *nl;
    u_char         *list, *origin, *url, *colon;
    size_t          list_len, origin_len, i;
    ngx_str_t       out;
    ngx_int_t       rc;

    nl = memchr(data, '\n', size);
    list_len = nl ? (size_t) (nl - data) : size;
    origin_len = nl ? size - list_len - 1 : 0;
    list = fuzz_dup(data, list_len);
    origin = fuzz_dup(nl ? nl + 1 : data, origin_len);

    rc = ds_origin_listed(list, list_len, origin, origin_len);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED);
    FUZZ_CHECK((rc == NGX_OK) == ref_listed(list, list_len, origin, origin_len));

    url = fuzz_dup(data, size);
    rc = ds_url_origin(url, size, &out);
    FUZZ_CHECK(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_OK) {
        FUZZ_CHECK(out.data == url && out.len <= size);
        colon = memchr(out.data, ':', out.len);
        FUZZ_CHECK(colon != NULL && out.data + out.len - colon > 3
                   && colon[1] == '/' && colon[2] == '/');
        for (i = colon + 3 - out.data; i < out.len; i++) {
            FUZZ_CHECK(out.data[i] != '@' && out.data[i] > ' ' && out.data[i] < 0x7f
                       && out.data[i] != '/' && out.data[i] != '?'
                       && out.data[i] != '#');
        }
        FUZZ_CHECK(out.len == size || url[out.len] == '/' || url[out.len] == '?'
                   || url[out.len] == '#');
    }

    fuzz_free_all();
    return 0;
}
