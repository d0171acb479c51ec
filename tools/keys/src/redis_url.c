#include "redis_url.h"

#include <ctype.h>
#include <string.h>

static const char SCHEME[] = "redis://";

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool percent_decode(const char *src, size_t len, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int hi = hex_digit(src[i + 1]), lo = hex_digit(src[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return true;
}

/* Strict decimal in [min, max]: a typo in a port must not silently become 0. */
static bool parse_int_range(const char *s, size_t len, long min, long max, int *out)
{
    if (len == 0 || len > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_userinfo(const char *s, size_t len, dsk_redis_url_t *out)
{
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return percent_decode(s, len, out->password, sizeof out->password);
    size_t ulen = (size_t)(colon - s);
    return percent_decode(s, ulen, out->user, sizeof out->user) &&
           percent_decode(colon + 1, len - ulen - 1, out->password, sizeof out->password);
}

bool dsk_redis_url_parse(const char *url, dsk_redis_url_t *out)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;

    if (strncmp(url, SCHEME, sizeof SCHEME - 1) != 0)
        return false;
    const char *p = url + sizeof SCHEME - 1;
    const char *end = p + strlen(p);

    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *authority_end = slash ? slash : end;
    if (slash && slash + 1 < end &&
        !parse_int_range(slash + 1, (size_t)(end - slash - 1), 0, 65535, &out->db))
        return false;

    const char *at = NULL;
    for (const char *q = p; q < authority_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        if (!parse_userinfo(p, (size_t)(at - p), out))
            return false;
        p = at + 1;
    }

    const char *host_end = authority_end;
    const char *colon = memchr(p, ':', (size_t)(authority_end - p));
    if (colon) {
        if (!parse_int_range(colon + 1, (size_t)(authority_end - colon - 1), 1, 65535, &out->port))
            return false;
        host_end = colon;
    }
    size_t hlen = (size_t)(host_end - p);
    if (hlen == 0 || hlen >= sizeof out->host)
        return false;
    memcpy(out->host, p, hlen);
    out->host[hlen] = '\0';
    return true;
}
