#include "origins.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_ORIGIN_LEN 255

static const char SEPARATORS[] = " \t\n";

static bool host_char_ok(char c)
{
    return islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.';
}

static bool ipv6_char_ok(char c)
{
    return (isxdigit((unsigned char)c) && !isupper((unsigned char)c)) || c == ':' || c == '.';
}

/* Returns the length of the host at s, or 0 when it is malformed. */
static size_t host_len(const char *s)
{
    if (*s == '[') {
        size_t n = 1;
        while (ipv6_char_ok(s[n]))
            n++;
        return s[n] == ']' && n > 1 ? n + 1 : 0;
    }
    size_t n = 0;
    while (host_char_ok(s[n]))
        n++;
    if (n == 0 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
        return 0;
    return n;
}

static bool fail(char *why, size_t why_len, const char *origin, const char *reason)
{
    snprintf(why, why_len, "invalid origin \"%.*s\": %s", MAX_ORIGIN_LEN, origin, reason);
    return false;
}

static bool list_contains(const char *list, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = list; *p;) {
        p += strspn(p, SEPARATORS);
        size_t n = strcspn(p, SEPARATORS);
        if (n == len && strncmp(p, word, n) == 0)
            return true;
        p += n;
    }
    return false;
}

bool dsk_origin_is_valid(const char *origin, char *why, size_t why_len)
{
    const char *default_port;
    const char *p;
    if (strncmp(origin, "https://", 8) == 0) {
        p = origin + 8;
        default_port = "443";
    } else if (strncmp(origin, "http://", 7) == 0) {
        p = origin + 7;
        default_port = "80";
    } else {
        return fail(why, why_len, origin, "scheme must be http:// or https://");
    }
    if (strlen(origin) > MAX_ORIGIN_LEN)
        return fail(why, why_len, origin, "too long");

    size_t h = host_len(p);
    if (h == 0)
        return fail(why, why_len, origin, "host must be a lowercase name or address");
    p += h;
    if (*p == ':') {
        const char *port = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        size_t digits = (size_t)(p - port);
        if (digits == 0 || digits > 5 || port[0] == '0')
            return fail(why, why_len, origin, "port must be 1-65535");
        if (strncmp(port, default_port, digits) == 0 && strlen(default_port) == digits)
            return fail(why, why_len, origin, "browsers omit the default port; drop it");
        int value = 0;
        for (size_t i = 0; i < digits; i++)
            value = value * 10 + (port[i] - '0');
        if (value > 65535)
            return fail(why, why_len, origin, "port must be 1-65535");
    }
    if (*p != '\0')
        return fail(why, why_len, origin, "no path, query or trailing slash allowed");
    return true;
}

int dsk_origins_normalise(const char *list, char *out, size_t out_len, char *why, size_t why_len)
{
    char origin[MAX_ORIGIN_LEN + 2];
    size_t used = 0;
    int count = 0;
    if (out_len == 0)
        return -1;
    out[0] = '\0';

    for (const char *p = list; *p;) {
        p += strspn(p, SEPARATORS);
        size_t n = strcspn(p, SEPARATORS);
        if (n == 0)
            break;
        if (n > MAX_ORIGIN_LEN) {
            snprintf(why, why_len, "origin longer than %d bytes", MAX_ORIGIN_LEN);
            return -1;
        }
        memcpy(origin, p, n);
        origin[n] = '\0';
        p += n;
        if (!dsk_origin_is_valid(origin, why, why_len))
            return -1;
        if (list_contains(out, origin))
            continue;

        int w = snprintf(out + used, out_len - used, "%s%s", count ? " " : "", origin);
        if (w < 0 || (size_t)w >= out_len - used) {
            snprintf(why, why_len, "origin list longer than %zu bytes (origins separated by one space)",
                     out_len - 1);
            return -1;
        }
        used += (size_t)w;
        count++;
    }
    return count;
}
