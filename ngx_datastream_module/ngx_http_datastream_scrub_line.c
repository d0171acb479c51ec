/*
 * ds_log_scrub(): one log line; called by both redact_*.c files.
 *
 * Credentials out of a formatted log line. A pure function over bytes, no
 * nginx state, so it can be fuzzed; the error log writer
 * (ngx_http_datastream_redact_error_log.c) runs every line through it.
 *
 * Replaced with "[redacted]", wherever they appear in the line:
 *   - the value of an "api_key=" or "token=" argument (the whole name, as
 *     nginx matches arguments, without case: "my_token=" is another one),
 *     and of anything named "...secret=" ("DS_TOKEN_SECRET=", in the
 *     environment nginx logs at debug level on a binary upgrade), up to
 *     '&', a blank, a quote, ',', ';', '#', '\\' or the end of the line;
 *   - the value of an X-API-Key, Authorization, Proxy-Authorization,
 *     Cookie or Set-Cookie header ("Name: value", name without case), up
 *     to a double quote, CR, LF or the end of the line; of an
 *     authorization, the scheme word ("Bearer ", up to 16 letters) stays;
 *   - the body of anything shaped like an API key: "sk_" or "pk_", a word
 *     of letters, '_' ("sk_live_", "pk_test_", any case), then letters and
 *     digits; the prefix stays;
 *   - the body of anything shaped like a token: "tok_" (any case), then
 *     base64url, '.', '=' or '%'; the prefix stays;
 *   - a run of 32 or more hex digits (with the letters and digits after
 *     it): the rest of a key cut by a blank, a hex secret.
 * Key, token and hex shapes count only at the start of a word (after a
 * character other than a letter or digit, or after a "%XX" or "\\xXX"
 * escape). One pass, a bounded number of comparisons per byte, no
 * allocation; the output never exceeds its buffer (the line is cut there).
 * Without an output buffer it only measures: the length the whole result
 * needs, and the hits.
 * The result is stable: a redacted line comes out unchanged, without hits.
 */

#include "ngx_http_datastream_module.h"


#define DS_REDACTED        "[redacted]"
#define DS_REDACTED_LEN    (sizeof(DS_REDACTED) - 1)
#define DS_KEY_WORD_MAX    16
#define DS_SCHEME_MAX      16   /* shorter than a hex run */
#define DS_HEX_RUN_MIN     32


typedef struct {
    const u_char   *start;
    const u_char   *in;
    const u_char   *end;
    u_char         *out;       /* NULL: only measures */
    size_t          size;
    size_t          len;
    ngx_uint_t      hits;
} ds_scrub_t;


typedef struct {
    ngx_str_t       name;
    ngx_uint_t      scheme;    /* "Scheme credentials": the scheme stays */
} ds_scrub_header_t;


typedef struct {
    ngx_str_t       name;
    ngx_uint_t      suffix;    /* also the end of a longer name */
} ds_scrub_arg_t;


static ds_scrub_arg_t  ds_scrub_args[] = {
    { ngx_string("api_key="), 0 },
    { ngx_string("token="), 0 },
    { ngx_string("secret="), 1 },
    { ngx_null_string, 0 }
};


static ds_scrub_header_t  ds_scrub_headers[] = {
    { ngx_string("x-api-key"), 0 },
    { ngx_string("authorization"), 1 },
    { ngx_string("proxy-authorization"), 1 },
    { ngx_string("cookie"), 0 },
    { ngx_string("set-cookie"), 0 },
    { ngx_null_string, 0 }
};


static ngx_inline ngx_uint_t
ds_scrub_is_alpha(u_char ch)
{
    ch |= 0x20;
    return ch >= 'a' && ch <= 'z';
}


static ngx_inline ngx_uint_t
ds_scrub_is_alnum(u_char ch)
{
    return ds_scrub_is_alpha(ch) || (ch >= '0' && ch <= '9');
}


static ngx_inline ngx_uint_t
ds_scrub_is_hex(u_char ch)
{
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}


static ngx_inline ngx_uint_t
ds_scrub_is_token_char(u_char ch)
{
    return ds_scrub_is_alnum(ch) || ch == '-' || ch == '_' || ch == '.'
           || ch == '=' || ch == '%';
}


static ngx_inline ngx_uint_t
ds_scrub_ends_arg(u_char ch)
{
    switch (ch) {
    case '&':
    case ' ':
    case '\t':
    case '"':
    case '\'':
    case ',':
    case ';':
    case '#':
    case '\\':
    case CR:
    case LF:
        return 1;
    default:
        return 0;
    }
}


static ngx_inline ngx_uint_t
ds_scrub_ends_header(u_char ch)
{
    return ch == '"' || ch == CR || ch == LF;
}


/* the input position starts a word */
static ngx_uint_t
ds_scrub_word(ds_scrub_t *s)
{
    const u_char  *p = s->in;
    size_t         before = p - s->start;

    if (before == 0 || !ds_scrub_is_alnum(p[-1])) {
        return 1;
    }

    /* "%2Fsk_live_...", "\x22tok_..." */
    return before >= 3 && ds_scrub_is_hex(p[-1]) && ds_scrub_is_hex(p[-2])
           && (p[-3] == '%' || (before >= 4 && p[-3] == 'x' && p[-4] == '\\'));
}


static ngx_inline ngx_uint_t
ds_scrub_has(ds_scrub_t *s, ngx_str_t *name)
{
    return (*s->in | 0x20) == name->data[0]
           && (size_t) (s->end - s->in) >= name->len
           && ngx_strncasecmp((u_char *) s->in, name->data, name->len) == 0;
}


static void
ds_scrub_put(ds_scrub_t *s, const u_char *p, size_t n)
{
    n = ngx_min(n, s->size - s->len);

    if (s->out) {
        ngx_memcpy(s->out + s->len, p, n);
    }

    s->len += n;
}


/* copies n bytes of the input as they are */
static void
ds_scrub_keep(ds_scrub_t *s, size_t n)
{
    ds_scrub_put(s, s->in, n);
    s->in += n;
}


/* replaces the input up to p; "[redacted]" itself is no hit */
static void
ds_scrub_hide(ds_scrub_t *s, const u_char *p)
{
    size_t  n = p - s->in;

    if (n == 0) {
        return;
    }

    if (n != DS_REDACTED_LEN
        || ngx_strncmp(s->in, DS_REDACTED, DS_REDACTED_LEN) != 0)
    {
        s->hits++;
    }

    ds_scrub_put(s, (u_char *) DS_REDACTED, DS_REDACTED_LEN);
    s->in = p;
}


static ngx_uint_t
ds_scrub_arg(ds_scrub_t *s)
{
    u_char           ch;
    const u_char    *p;
    ds_scrub_arg_t  *a;

    for (a = ds_scrub_args; a->name.len; a++) {
        if (ds_scrub_has(s, &a->name)) {
            break;
        }
    }

    if (a->name.len == 0) {
        return 0;
    }

    if (!a->suffix && s->in > s->start) {
        ch = s->in[-1];

        if (ds_scrub_is_alnum(ch) || ch == '_' || ch == '-' || ch == '.') {
            return 0;
        }
    }

    ds_scrub_keep(s, a->name.len);

    for (p = s->in; p < s->end && !ds_scrub_ends_arg(*p); p++) { /* void */ }

    ds_scrub_hide(s, p);

    return 1;
}


static ngx_uint_t
ds_scrub_header(ds_scrub_t *s)
{
    const u_char       *p, *scheme;
    ds_scrub_header_t  *h;

    /* "X-Not-Cookie:" is no Cookie header */
    if (s->in > s->start
        && (ds_scrub_is_alnum(s->in[-1]) || s->in[-1] == '-'
            || s->in[-1] == '_'))
    {
        return 0;
    }

    for (h = ds_scrub_headers; h->name.len; h++) {
        if (ds_scrub_has(s, &h->name)
            && s->in + h->name.len < s->end
            && s->in[h->name.len] == ':')
        {
            break;
        }
    }

    if (h->name.len == 0) {
        return 0;
    }

    p = s->in + h->name.len + 1;
    while (p < s->end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (h->scheme) {
        for (scheme = p;
             p < s->end && p - scheme <= DS_SCHEME_MAX && ds_scrub_is_alpha(*p);
             p++)
        { /* void */ }

        if (p > scheme && p - scheme <= DS_SCHEME_MAX
            && p < s->end && *p == ' ')
        {
            while (p < s->end && *p == ' ') {
                p++;
            }

        } else {
            p = scheme;
        }
    }

    ds_scrub_keep(s, p - s->in);

    while (p < s->end && !ds_scrub_ends_header(*p)) {
        p++;
    }

    ds_scrub_hide(s, p);

    return 1;
}


/* "sk_live_<body>", "pk_test_<body>", ...: the prefix stays */
static ngx_uint_t
ds_scrub_key(ds_scrub_t *s)
{
    const u_char  *p, *word;

    p = s->in;

    if (s->end - p < 4
        || ((p[0] | 0x20) != 's' && (p[0] | 0x20) != 'p')
        || (p[1] | 0x20) != 'k' || p[2] != '_')
    {
        return 0;
    }

    word = p + 3;
    for (p = word;
         p < s->end && p - word <= DS_KEY_WORD_MAX && ds_scrub_is_alpha(*p);
         p++)
    { /* void */ }

    if (p == word || p - word > DS_KEY_WORD_MAX
        || p + 1 >= s->end || *p != '_' || !ds_scrub_is_alnum(p[1]))
    {
        return 0;
    }

    p++;
    ds_scrub_keep(s, p - s->in);

    while (p < s->end && ds_scrub_is_alnum(*p)) {
        p++;
    }

    ds_scrub_hide(s, p);

    return 1;
}


/* "tok_<payload>.<signature>": "tok_" stays */
static ngx_uint_t
ds_scrub_token(ds_scrub_t *s)
{
    const u_char  *p;

    if (s->end - s->in < 5
        || ngx_strncasecmp((u_char *) s->in, (u_char *) "tok_", 4) != 0
        || !ds_scrub_is_token_char(s->in[4]))
    {
        return 0;
    }

    ds_scrub_keep(s, 4);

    for (p = s->in; p < s->end && ds_scrub_is_token_char(*p); p++) { /* void */ }

    ds_scrub_hide(s, p);

    return 1;
}


/* 32 or more hex digits: key material or a secret */
static ngx_uint_t
ds_scrub_hex(ds_scrub_t *s)
{
    const u_char  *p;

    for (p = s->in; p < s->end && ds_scrub_is_hex(*p); p++) { /* void */ }

    if (p - s->in < DS_HEX_RUN_MIN) {
        return 0;
    }

    while (p < s->end && ds_scrub_is_alnum(*p)) {
        p++;
    }

    ds_scrub_hide(s, p);

    return 1;
}


size_t
ds_log_scrub(const u_char *in, size_t len, u_char *out, size_t size,
    ngx_uint_t *hits)
{
    ds_scrub_t  s;

    s.start = in;
    s.in = in;
    s.end = in + len;
    s.out = out;
    s.size = out ? size : (size_t) -1;
    s.len = 0;
    s.hits = 0;

    while (s.in < s.end && s.len < s.size) {

        if (ds_scrub_arg(&s)
            || ds_scrub_header(&s)
            || (ds_scrub_word(&s)
                && (ds_scrub_key(&s) || ds_scrub_token(&s) || ds_scrub_hex(&s))))
        {
            continue;
        }

        ds_scrub_keep(&s, 1);
    }

    *hits = s.hits;

    return s.len;
}
