/*
 * A minimal JSON scanner for taking values out of stored round objects
 * without re-encoding them: /api/latest copies the headline value byte for
 * byte, so "1.50" stays "1.50". Pure functions over byte ranges.
 */

#include "ngx_http_datastream_module.h"


#define DS_JSON_DEPTH_MAX   32


static const u_char *
ds_json_ws(const u_char *p, const u_char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


static const u_char *
ds_json_skip_string(const u_char *p, const u_char *end)
{
    /* p is on the opening quote */
    for (p++; p < end; p++) {
        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            p++;
            if (p == end) {
                return NULL;
            }

        } else if (*p < 0x20) {
            return NULL;
        }
    }

    return NULL;
}


static const u_char *
ds_json_skip_literal(const u_char *p, const u_char *end)
{
    const u_char  *start = p;

    while (p < end
           && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
               || *p == '-' || *p == '+' || *p == '.' || *p == 'E'))
    {
        p++;
    }

    return p > start ? p : NULL;
}


static const u_char *
ds_json_skip_container(const u_char *p, const u_char *end, ngx_uint_t depth)
{
    u_char  close = (*p == '{') ? '}' : ']';
    int     object = (*p == '{');

    p = ds_json_ws(p + 1, end);
    if (p < end && *p == close) {
        return p + 1;
    }

    for ( ;; ) {
        if (object) {
            if (p == end || *p != '"') {
                return NULL;
            }

            p = ds_json_skip_string(p, end);
            if (p == NULL) {
                return NULL;
            }

            p = ds_json_ws(p, end);
            if (p == end || *p != ':') {
                return NULL;
            }
            p++;
        }

        p = ds_json_skip_value(p, end, depth + 1);
        if (p == NULL) {
            return NULL;
        }

        p = ds_json_ws(p, end);
        if (p == end) {
            return NULL;
        }

        if (*p == close) {
            return p + 1;
        }

        if (*p != ',') {
            return NULL;
        }

        p = ds_json_ws(p + 1, end);
    }
}


/* returns the end of the value that starts at p (after white space) */
const u_char *
ds_json_skip_value(const u_char *p, const u_char *end, ngx_uint_t depth)
{
    if (depth > DS_JSON_DEPTH_MAX) {
        return NULL;
    }

    p = ds_json_ws(p, end);
    if (p == end) {
        return NULL;
    }

    switch (*p) {
    case '"':
        return ds_json_skip_string(p, end);
    case '{':
    case '[':
        return ds_json_skip_container(p, end, depth);
    default:
        return ds_json_skip_literal(p, end);
    }
}


/*
 * Finds the raw value of a top-level member of the object at p. Keys are
 * compared as written, without unescaping: the module only looks up plain
 * ASCII keys. NGX_DECLINED when absent, NGX_ERROR when not an object.
 */
ngx_int_t
ds_json_member(const u_char *p, const u_char *end, const char *key,
    ngx_str_t *value)
{
    size_t         klen = ngx_strlen(key);
    const u_char  *kstart, *kend, *vstart;

    p = ds_json_ws(p, end);
    if (p == end || *p != '{') {
        return NGX_ERROR;
    }

    p = ds_json_ws(p + 1, end);
    if (p < end && *p == '}') {
        return NGX_DECLINED;
    }

    for ( ;; ) {
        if (p == end || *p != '"') {
            return NGX_ERROR;
        }

        kstart = p + 1;
        p = ds_json_skip_string(p, end);
        if (p == NULL) {
            return NGX_ERROR;
        }
        kend = p - 1;

        p = ds_json_ws(p, end);
        if (p == end || *p != ':') {
            return NGX_ERROR;
        }

        vstart = ds_json_ws(p + 1, end);
        p = ds_json_skip_value(vstart, end, 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if ((size_t) (kend - kstart) == klen && ngx_memcmp(kstart, key, klen) == 0) {
            value->data = (u_char *) vstart;
            value->len = p - vstart;
            return NGX_OK;
        }

        p = ds_json_ws(p, end);
        if (p == end) {
            return NGX_ERROR;
        }

        if (*p == '}') {
            return NGX_DECLINED;
        }

        if (*p != ',') {
            return NGX_ERROR;
        }

        p = ds_json_ws(p + 1, end);
    }
}


static ngx_int_t
ds_json_hex4(const u_char *p, uint32_t *cp)
{
    ngx_int_t  v;

    v = ngx_hextoi((u_char *) p, 4);
    if (v == NGX_ERROR) {
        return NGX_ERROR;
    }

    *cp = (uint32_t) v;

    return NGX_OK;
}


static u_char *
ds_utf8_put(u_char *d, uint32_t cp)
{
    if (cp < 0x80) {
        *d++ = (u_char) cp;
    } else if (cp < 0x800) {
        *d++ = (u_char) (0xc0 | (cp >> 6));
        *d++ = (u_char) (0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *d++ = (u_char) (0xe0 | (cp >> 12));
        *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (cp & 0x3f));
    } else {
        *d++ = (u_char) (0xf0 | (cp >> 18));
        *d++ = (u_char) (0x80 | ((cp >> 12) & 0x3f));
        *d++ = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        *d++ = (u_char) (0x80 | (cp & 0x3f));
    }

    return d;
}


/* decodes a raw JSON string token (with its quotes) into its bytes */
ngx_int_t
ds_json_unquote(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    const u_char  *p, *end;
    u_char        *d;
    uint32_t       cp, lo;

    if (in->len < 2 || in->data[0] != '"' || in->data[in->len - 1] != '"') {
        return NGX_ERROR;
    }

    /* decoding never grows the text */
    out->data = ngx_pnalloc(pool, in->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;
    p = in->data + 1;
    end = in->data + in->len - 1;

    while (p < end) {
        if (*p != '\\') {
            *d++ = *p++;
            continue;
        }

        if (++p == end) {
            return NGX_ERROR;
        }

        switch (*p++) {
        case '"':  *d++ = '"';  break;
        case '\\': *d++ = '\\'; break;
        case '/':  *d++ = '/';  break;
        case 'b':  *d++ = '\b'; break;
        case 'f':  *d++ = '\f'; break;
        case 'n':  *d++ = '\n'; break;
        case 'r':  *d++ = '\r'; break;
        case 't':  *d++ = '\t'; break;
        case 'u':
            if (end - p < 4 || ds_json_hex4(p, &cp) != NGX_OK) {
                return NGX_ERROR;
            }
            p += 4;

            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || ds_json_hex4(p + 2, &lo) != NGX_OK
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    return NGX_ERROR;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);

            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return NGX_ERROR;
            }

            d = ds_utf8_put(d, cp);
            break;
        default:
            return NGX_ERROR;
        }
    }

    out->len = d - out->data;

    return NGX_OK;
}
