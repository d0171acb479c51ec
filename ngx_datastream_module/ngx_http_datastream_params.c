/*
 * Strict parsers for what clients put in paths, arguments and headers.
 * Pure functions over byte ranges: no nginx state, so they can be fuzzed.
 */

#include "ngx_http_datastream_module.h"


#define DS_KEY_BODY_OFFSET   (sizeof("sk_live_") - 1)


static ngx_inline ngx_uint_t
ds_is_lower_hex(u_char ch)
{
    return (ch >= 'a' && ch <= 'f') || (ch >= '0' && ch <= '9');
}


/* decimal 1..DATASTREAM_HISTORY_LIMIT_MAX, digits only, no leading zero */
ngx_int_t
ds_parse_limit(const u_char *p, size_t len, ngx_uint_t *limit)
{
    ngx_uint_t  value = 0;
    size_t      i;

    if (len == 0 || p[0] == '0') {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return NGX_ERROR;
        }

        value = value * 10 + (p[i] - '0');

        if (value > DATASTREAM_HISTORY_LIMIT_MAX) {
            return NGX_ERROR;
        }
    }

    *limit = value;

    return NGX_OK;
}


/* sk_live_<64 lowercase hex> or pk_live_<64 lowercase hex> */
ds_kind_e
ds_parse_key(const u_char *p, size_t len)
{
    ds_kind_e  kind;
    size_t     i;

    if (len != DATASTREAM_APIKEY_LEN) {
        return DS_KIND_NONE;
    }

    if (ngx_strncmp(p, "sk_live_", DS_KEY_BODY_OFFSET) == 0) {
        kind = DS_KIND_SK;

    } else if (ngx_strncmp(p, "pk_live_", DS_KEY_BODY_OFFSET) == 0) {
        kind = DS_KIND_PK;

    } else {
        return DS_KIND_NONE;
    }

    for (i = DS_KEY_BODY_OFFSET; i < len; i++) {
        if (!ds_is_lower_hex(p[i])) {
            return DS_KIND_NONE;
        }
    }

    return kind;
}


/*
 * Sec-WebSocket-Protocol is a comma-separated list; the token is the first
 * entry that looks like one, otherwise the first entry is taken. The header
 * filter and the authorization use this same choice, so the 101 answer
 * echoes exactly the subprotocol that was authorized.
 */
ngx_int_t
ds_pick_subprotocol(const u_char *p, size_t len, ngx_str_t *out)
{
    const u_char  *end = p + len, *start, *last;
    ngx_str_t      first = ngx_null_string;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;
        while (p < end && *p != ',') {
            p++;
        }

        last = p;
        while (last > start && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if (last == start) {
            continue;
        }

        if (first.len == 0) {
            first.data = (u_char *) start;
            first.len = last - start;
        }

        if (last - start > 4 && ngx_strncmp(start, "tok_", 4) == 0) {
            out->data = (u_char *) start;
            out->len = last - start;
            return NGX_OK;
        }
    }

    if (first.len == 0) {
        return NGX_DECLINED;
    }

    *out = first;

    return NGX_OK;
}


/* exact match against a space-separated list */
ngx_int_t
ds_origin_listed(const u_char *list, size_t list_len, const u_char *origin,
    size_t origin_len)
{
    const u_char  *p = list, *end = list + list_len, *start;

    if (origin_len == 0) {
        return NGX_DECLINED;
    }

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        start = p;
        while (p < end && *p != ' ') {
            p++;
        }

        if ((size_t) (p - start) == origin_len
            && ngx_memcmp(start, origin, origin_len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * scheme://host[:port] of an absolute URL (a Referer), pointing into it;
 * a URL with user information or without a host is refused.
 */
ngx_int_t
ds_url_origin(const u_char *p, size_t len, ngx_str_t *out)
{
    const u_char  *end = p + len, *q, *host;

    q = p;
    if (q == end || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))) {
        return NGX_DECLINED;
    }

    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')
                       || (*q >= '0' && *q <= '9') || *q == '+' || *q == '-'
                       || *q == '.'))
    {
        q++;
    }

    if (end - q < 3 || q[0] != ':' || q[1] != '/' || q[2] != '/') {
        return NGX_DECLINED;
    }

    host = q + 3;
    q = host;

    while (q < end && *q != '/' && *q != '?' && *q != '#') {
        if (*q == '@' || *q <= ' ' || *q >= 0x7f) {
            return NGX_DECLINED;
        }
        q++;
    }

    if (q == host) {
        return NGX_DECLINED;
    }

    out->data = (u_char *) p;
    out->len = q - p;

    return NGX_OK;
}
