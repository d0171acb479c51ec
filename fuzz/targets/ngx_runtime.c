/*
 * Stand-ins for the nginx core functions the module's parsers call. Debian's
 * nginx-dev ships headers only, so these are written from nginx's documented
 * behaviour (same results, including edge cases the module relies on):
 * base64url without padding, decoding that stops at '=' and refuses bytes
 * outside the alphabet, overflow-checked decimal and hex conversion,
 * case-insensitive comparison, and argument lookup that returns the raw
 * (still percent-encoded) value of the first "name=" at an argument start,
 * matching the name case-insensitively.
 */
#include "fuzz.h"

#include <stdarg.h>
#include <string.h>


static u_char
ds_lower(u_char c)
{
    return (c >= 'A' && c <= 'Z') ? (c | 0x20) : c;
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    while (n) {
        c1 = ds_lower(*s1++);
        c2 = ds_lower(*s2++);

        if (c1 == c2) {
            if (c1) {
                n--;
                continue;
            }
            return 0;
        }

        return c1 - c2;
    }

    return 0;
}


ngx_int_t
ngx_strcasecmp(u_char *s1, u_char *s2)
{
    return ngx_strncasecmp(s1, s2, (size_t) -1);
}


/* Decimal digits only, no sign, refused past max: what nginx's own parsers accept. */
static int64_t
digits_up_to(u_char *line, size_t n, int64_t max)
{
    int64_t  value = 0, cutoff = max / 10, cutlim = max % 10;

    if (n == 0) {
        return NGX_ERROR;
    }

    for ( /* void */ ; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }
        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return NGX_ERROR;
        }
        value = value * 10 + (*line - '0');
    }

    return value;
}


ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    return (ngx_int_t) digits_up_to(line, n, NGX_MAX_INT_T_VALUE);
}


time_t
ngx_atotm(u_char *line, size_t n)
{
    return (time_t) digits_up_to(line, n, NGX_MAX_TIME_T_VALUE);
}


ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    u_char     c, ch;
    ngx_int_t  value = 0, cutoff = NGX_MAX_INT_T_VALUE / 16;

    if (n == 0) {
        return NGX_ERROR;
    }

    for ( /* void */ ; n--; line++) {
        if (value > cutoff) {
            return NGX_ERROR;
        }

        ch = *line;

        if (ch >= '0' && ch <= '9') {
            value = value * 16 + (ch - '0');
            continue;
        }

        c = (u_char) (ch | 0x20);

        if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);
            continue;
        }

        return NGX_ERROR;
    }

    return value;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


void
ngx_encode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    static const u_char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const u_char  *s = src->data;
    u_char        *d = dst->data;
    size_t         len = src->len;

    while (len > 2) {
        *d++ = b64[(s[0] >> 2) & 0x3f];
        *d++ = b64[((s[0] & 3) << 4) | (s[1] >> 4)];
        *d++ = b64[((s[1] & 0x0f) << 2) | (s[2] >> 6)];
        *d++ = b64[s[2] & 0x3f];
        s += 3;
        len -= 3;
    }

    if (len) {
        *d++ = b64[(s[0] >> 2) & 0x3f];

        if (len == 1) {
            *d++ = b64[(s[0] & 3) << 4];
        } else {
            *d++ = b64[((s[0] & 3) << 4) | (s[1] >> 4)];
            *d++ = b64[(s[1] & 0x0f) << 2];
        }
    }

    dst->len = d - dst->data;
}


ngx_int_t
ngx_decode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    static u_char  basis[256];
    static int     ready;
    size_t         len, i;
    u_char        *d, *s;
    static const u_char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    if (!ready) {
        memset(basis, 77, sizeof(basis));
        for (i = 0; i < 64; i++) {
            basis[b64[i]] = (u_char) i;
        }
        ready = 1;
    }

    for (len = 0; len < src->len; len++) {
        if (src->data[len] == '=') {
            break;
        }
        if (basis[src->data[len]] == 77) {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    s = src->data;
    d = dst->data;

    while (len > 3) {
        *d++ = (u_char) (basis[s[0]] << 2 | basis[s[1]] >> 4);
        *d++ = (u_char) (basis[s[1]] << 4 | basis[s[2]] >> 2);
        *d++ = (u_char) (basis[s[2]] << 6 | basis[s[3]]);
        s += 4;
        len -= 4;
    }

    if (len > 1) {
        *d++ = (u_char) (basis[s[0]] << 2 | basis[s[1]] >> 4);
    }

    if (len > 2) {
        *d++ = (u_char) (basis[s[1]] << 4 | basis[s[2]] >> 2);
    }

    dst->len = d - dst->data;

    return NGX_OK;
}


/* enough of ngx_vslprintf for the module's formats: %s %*s %V %T %d %ui %i */
u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list ap)
{
    u_char     *p = buf, tmp[32], *t;
    const char *f = fmt;

    while (*f && p < last) {
        size_t      width = (size_t) -1;
        const u_char *s = NULL;
        size_t      slen = 0;
        long long   num = 0;
        int         is_num = 0, is_unsigned = 0;

        if (*f != '%') {
            *p++ = (u_char) *f++;
            continue;
        }

        f++;

        if (*f == '*') {
            width = va_arg(ap, size_t);
            f++;
        }

        switch (*f) {
        case 's':
            s = va_arg(ap, u_char *);
            slen = width != (size_t) -1 ? width : strlen((const char *) s);
            break;
        case 'V': {
            ngx_str_t  *v = va_arg(ap, ngx_str_t *);
            s = v->data;
            slen = v->len;
            break;
        }
        case 'T':
            num = va_arg(ap, time_t);
            is_num = 1;
            break;
        case 'd':
            num = va_arg(ap, int);
            is_num = 1;
            break;
        case 'i':
            num = va_arg(ap, ngx_int_t);
            is_num = 1;
            break;
        case 'u':
            if (f[1] == 'i') {
                f++;
            }
            num = (long long) va_arg(ap, ngx_uint_t);
            is_num = 1;
            is_unsigned = 1;
            break;
        default:
            /* unsupported conversion: a target bug, not a module bug */
            abort();
        }

        f++;

        if (is_num) {
            unsigned long long  u;
            int                 neg = !is_unsigned && num < 0;

            u = neg ? (unsigned long long) -num : (unsigned long long) num;
            t = tmp + sizeof(tmp);
            do {
                *--t = (u_char) ('0' + u % 10);
                u /= 10;
            } while (u);
            if (neg) {
                *--t = '-';
            }
            s = t;
            slen = tmp + sizeof(tmp) - t;
        }

        while (slen-- && p < last) {
            *p++ = *s++;
        }
    }

    return p;
}


u_char *
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   ap;

    va_start(ap, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, ap);
    va_end(ap);

    return p;
}


/* nginx's JSON string escaping: with dst NULL, the bytes it adds */
uintptr_t
ngx_escape_json(u_char *dst, u_char *src, size_t size)
{
    static const u_char  hex[] = "0123456789abcdef";
    u_char               ch;
    ngx_uint_t           len;

    if (dst == NULL) {
        len = 0;

        while (size--) {
            ch = *src++;
            if (ch == '\\' || ch == '"') {
                len++;
            } else if (ch <= 0x1f) {
                len += (ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b'
                        || ch == '\f') ? 1 : sizeof("\\u001F") - 2;
            }
        }

        return (uintptr_t) len;
    }

    while (size--) {
        ch = *src++;

        if (ch > 0x1f) {
            if (ch == '\\' || ch == '"') {
                *dst++ = '\\';
            }
            *dst++ = ch;
            continue;
        }

        *dst++ = '\\';

        switch (ch) {
        case '\n': *dst++ = 'n'; break;
        case '\r': *dst++ = 'r'; break;
        case '\t': *dst++ = 't'; break;
        case '\b': *dst++ = 'b'; break;
        case '\f': *dst++ = 'f'; break;
        default:
            *dst++ = 'u'; *dst++ = '0'; *dst++ = '0';
            *dst++ = '0' + (ch >> 4);
            *dst++ = hex[ch & 0xf];
        }
    }

    return (uintptr_t) dst;
}


void *
ngx_list_push(ngx_list_t *l)
{
    void             *elt;
    ngx_list_part_t  *last;

    last = l->last;

    if (last->nelts == l->nalloc) {
        last = ngx_palloc(l->pool, sizeof(ngx_list_part_t));
        last->elts = ngx_palloc(l->pool, l->nalloc * l->size);
        last->nelts = 0;
        last->next = NULL;
        l->last->next = last;
        l->last = last;
    }

    elt = (char *) last->elts + l->size * last->nelts;
    last->nelts++;

    return elt;
}


ngx_chain_t *
ngx_alloc_chain_link(ngx_pool_t *pool)
{
    return ngx_palloc(pool, sizeof(ngx_chain_t));
}


static u_char *
ds_strlcasestrn(u_char *s1, u_char *last, u_char *s2, size_t n)
{
    ngx_uint_t  c1, c2;

    c2 = ds_lower(*s2++);
    last -= n;

    do {
        do {
            if (s1 >= last) {
                return NULL;
            }
            c1 = ds_lower(*s1++);
        } while (c1 != c2);
    } while (ngx_strncasecmp(s1, s2, n) != 0);

    return --s1;
}


ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len, ngx_str_t *value)
{
    u_char  *p, *last;

    if (r->args.len == 0) {
        return NGX_DECLINED;
    }

    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p++) {

        /* we need '=' after name, so drop one char from last */

        p = ds_strlcasestrn(p, last - 1, name, len - 1);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        if ((p == r->args.data || *(p - 1) == '&') && *(p + len) == '=') {

            value->data = p + len + 1;

            p = ngx_strlchr(p, last, '&');

            if (p == NULL) {
                p = r->args.data + r->args.len;
            }

            value->len = p - value->data;

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
