#include "json_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(dsc_text_t *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

void dsc_text_raw(dsc_text_t *t, const char *s)
{
    append(t, s, strlen(s));
}

void dsc_text_int(dsc_text_t *t, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    append(t, buf, (size_t)n);
}

void dsc_text_string(dsc_text_t *t, const char *s)
{
    append(t, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (esc)
            dsc_text_raw(t, esc);
        else
            append(t, p, 1);
    }
    append(t, "\"", 1);
}

char *dsc_text_finish(dsc_text_t *t)
{
    if (t->failed || !t->data) {
        free(t->data);
        *t = (dsc_text_t){0};
        return NULL;
    }
    char *out = t->data;
    *t = (dsc_text_t){0};
    return out;
}
