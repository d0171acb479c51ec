/*
 * ds_log_scrub, the error log writer's scanner. Checks, with an output
 * buffer large enough for any growth:
 *   - a reference detector, written from the documented rules, finds no
 *     unredacted key, token, hex run, credential argument or credential
 *     header value in the output;
 *   - the output is stable: scrubbed again, it comes back unchanged and
 *     without hits;
 *   - without hits the output is the input;
 *   - measuring (no output buffer) gives the same length and hits;
 * and with a small output buffer (size from the first input byte): nothing
 * is written past it, and the output is the start of the full one.
 */
#include "fuzz.h"

#include <string.h>
#include <strings.h>


#define REDACTED      "[redacted]"
#define REDACTED_LEN  (sizeof(REDACTED) - 1)


static int
is_alpha(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int
is_alnum(u_char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}


static int
is_hex(u_char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}


static int
is_token_char(u_char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '=' || c == '%';
}


static int
word_start(const u_char *p, size_t i)
{
    if (i == 0 || !is_alnum(p[i - 1])) {
        return 1;
    }

    return i >= 3 && is_hex(p[i - 1]) && is_hex(p[i - 2])
           && (p[i - 3] == '%' || (i >= 4 && p[i - 3] == 'x' && p[i - 4] == '\\'));
}


static int
has_ci(const u_char *p, size_t i, size_t n, const char *s)
{
    size_t  l = strlen(s);

    return n - i >= l && strncasecmp((const char *) p + i, s, l) == 0;
}


/* the value at p[i..) up to a byte of "stop" (or the end) is empty or exactly "[redacted]" */
static int
value_hidden(const u_char *p, size_t i, size_t n, const char *stop)
{
    size_t  j;

    for (j = i; j < n && (p[j] == '\0' || strchr(stop, p[j]) == NULL); j++) { /* void */ }

    return j == i || (j - i == REDACTED_LEN && memcmp(p + i, REDACTED, REDACTED_LEN) == 0);
}


/* 1 when an unredacted credential shape starts at p[i] */
static int
leak_at(const u_char *p, size_t i, size_t n)
{
    static const char  *args[] = { "api_key=", "token=", "secret=" };
    static const char  *headers[] = { "x-api-key:", "authorization:",
                                      "proxy-authorization:", "cookie:",
                                      "set-cookie:" };
    size_t              a, j, k;

    for (a = 0; a < sizeof(args) / sizeof(args[0]); a++) {
        if (!has_ci(p, i, n, args[a])) {
            continue;
        }

        /* api_key= and token= only as a whole name; ...secret= always */
        if (a < 2 && i > 0
            && (is_alnum(p[i - 1]) || p[i - 1] == '_' || p[i - 1] == '-' || p[i - 1] == '.'))
        {
            break;
        }

        return !value_hidden(p, i + strlen(args[a]), n, "& \t\"',;#\\\r\n");
    }

    if (i == 0 || !(is_alnum(p[i - 1]) || p[i - 1] == '-' || p[i - 1] == '_')) {
        for (a = 0; a < sizeof(headers) / sizeof(headers[0]); a++) {
            if (!has_ci(p, i, n, headers[a])) {
                continue;
            }

            j = i + strlen(headers[a]);
            while (j < n && (p[j] == ' ' || p[j] == '\t')) {
                j++;
            }

            if (a == 1 || a == 2) {
                for (k = j; k < n && k - j <= 16 && is_alpha(p[k]); k++) { /* void */ }
                if (k > j && k - j <= 16 && k < n && p[k] == ' ') {
                    while (k < n && p[k] == ' ') {
                        k++;
                    }
                    j = k;
                }
            }

            return !value_hidden(p, j, n, "\"\r\n");
        }
    }

    if (!word_start(p, i)) {
        return 0;
    }

    /* key shape */
    if (n - i >= 4 && (p[i] == 's' || p[i] == 'S' || p[i] == 'p' || p[i] == 'P')
        && (p[i + 1] == 'k' || p[i + 1] == 'K') && p[i + 2] == '_')
    {
        for (j = i + 3; j < n && is_alpha(p[j]); j++) { /* void */ }
        if (j > i + 3 && j - (i + 3) <= 16 && j + 1 < n && p[j] == '_' && is_alnum(p[j + 1])) {
            return 1;
        }
    }

    /* token shape */
    if (has_ci(p, i, n, "tok_") && n - i > 4 && is_token_char(p[i + 4])) {
        return 1;
    }

    /* hex run */
    for (j = i; j < n && is_hex(p[j]); j++) { /* void */ }

    return j - i >= 32;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *in, *out, *again, *small;
    size_t       len, cap, n, n2, ns, small_size, i;
    ngx_uint_t   hits, hits2, hits_small;

    if (size == 0) {
        return 0;
    }

    small_size = data[0];
    in = fuzz_dup(data + 1, size - 1);
    len = size - 1;

    /* every hit adds at most "[redacted]" */
    cap = len * (REDACTED_LEN + 1) + 1;
    out = malloc(cap);
    again = malloc(cap);
    FUZZ_CHECK(out != NULL && again != NULL);

    n = ds_log_scrub(in, len, out, cap, &hits);
    FUZZ_CHECK(n <= cap);

    for (i = 0; i < n; i++) {
        if (leak_at(out, i, n)) {
            fprintf(stderr, "leak at %zu: \"%.*s\"\n", i, (int) (n - i), out + i);
            FUZZ_CHECK(!"unredacted credential in the output");
        }
    }

    if (hits == 0) {
        FUZZ_CHECK(n == len && memcmp(out, in, len) == 0);
    }

    /* without a buffer: the full length and the same hits */
    FUZZ_CHECK(ds_log_scrub(in, len, NULL, 0, &hits2) == n && hits2 == hits);

    n2 = ds_log_scrub(out, n, again, cap, &hits2);
    FUZZ_CHECK(hits2 == 0 && n2 == n && memcmp(again, out, n) == 0);

    /* an exact-size buffer: ASan catches a write past it */
    small = malloc(small_size ? small_size : 1);
    FUZZ_CHECK(small != NULL);
    ns = ds_log_scrub(in, len, small, small_size, &hits_small);
    FUZZ_CHECK(ns <= small_size && ns <= n && memcmp(small, out, ns) == 0);
    FUZZ_CHECK(ns == ngx_min(n, small_size));

    free(small);
    free(again);
    free(out);
    fuzz_free_all();
    return 0;
}
