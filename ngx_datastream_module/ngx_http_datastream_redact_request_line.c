/*
 * Redacts the request line and $uri (both logs); calls ds_log_scrub().
 *
 * Credentials never reach the logs: nginx prints the request line in every
 * error log line of a request ("request: ...") and in $request. Right after
 * the request header is read, the values of the api_key= and token=
 * arguments in the request line are replaced with "[redacted]", in a copy
 * allocated from the request pool. r->args keeps the real values: the
 * authorization reads them from there, and nchan its last_event_id.
 *
 * A request nginx refuses while reading its header (a malformed request
 * line, a duplicate Host, too large headers) never reaches POST_READ, and
 * nginx takes its request line from the raw bytes. So in the LOG phase,
 * before the access log, the request line and the URI ($uri: a key sent as
 * a path segment) of every request go through the log line scrubber
 * (ngx_http_datastream_scrub_line.c).
 */

#include "ngx_http_datastream_module.h"


#define DS_REDACTED   "[redacted]"


static ngx_str_t  ds_redact_names[] = {
    ngx_string("api_key="),
    ngx_string("token="),
    ngx_null_string
};


/* the length of the argument name to keep, or 0 */
static size_t
ds_redact_match(u_char *p, u_char *end)
{
    ngx_str_t  *name;

    for (name = ds_redact_names; name->len; name++) {
        if ((size_t) (end - p) >= name->len
            && ngx_strncasecmp(p, name->data, name->len) == 0)
        {
            return name->len;
        }
    }

    return 0;
}


/*
 * Copies the query [p, end) to out (NULL: only counts), redacting; returns
 * the length written and sets *hits.
 */
static size_t
ds_redact_query(u_char *p, u_char *end, u_char *out, ngx_uint_t *hits)
{
    u_char  *amp, *start = out;
    size_t   keep;

    *hits = 0;

    while (p < end) {
        amp = ngx_strlchr(p, end, '&');
        if (amp == NULL) {
            amp = end;
        }

        keep = ds_redact_match(p, amp);

        if (keep) {
            (*hits)++;
            if (out) {
                out = ngx_cpymem(out, p, keep);
                out = ngx_cpymem(out, DS_REDACTED, sizeof(DS_REDACTED) - 1);
            }
        } else if (out) {
            out = ngx_cpymem(out, p, amp - p);
        }

        if (out && amp < end) {
            *out++ = '&';
        }

        p = amp + 1;
    }

    return out ? (size_t) (out - start) : 0;
}


ngx_int_t
ds_redact_handler(ngx_http_request_t *r)
{
    u_char      *line, *end, *q, *qend, *p;
    size_t       len, n;
    ngx_uint_t   hits, amps;

    if (r != r->main || r->args.len == 0 || r->request_line.len == 0) {
        return NGX_DECLINED;
    }

    line = r->request_line.data;
    end = line + r->request_line.len;

    q = ngx_strlchr(line, end, '?');
    if (q == NULL) {
        return NGX_DECLINED;
    }

    q++;

    /* the query ends at the space before the protocol, if any */
    qend = end;
    if (r->http_protocol.len && r->http_protocol.data > q
        && r->http_protocol.data <= end)
    {
        qend = r->http_protocol.data;
        while (qend > q && qend[-1] == ' ') {
            qend--;
        }
    }

    (void) ds_redact_query(q, qend, NULL, &hits);

    if (hits == 0) {
        return NGX_DECLINED;
    }

    /* bounded: at most one "[redacted]" per argument */
    amps = 0;
    for (p = q; p < qend; p++) {
        if (*p == '&') {
            amps++;
        }
    }

    len = r->request_line.len + (amps + 1) * (sizeof(DS_REDACTED) - 1);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = q - line;
    ngx_memcpy(p, line, n);
    n += ds_redact_query(q, qend, p + n, &hits);
    ngx_memcpy(p + n, qend, end - qend);
    n += end - qend;

    r->request_line.data = p;
    r->request_line.len = n;

    return NGX_DECLINED;
}


/* a copy of s from the pool, scrubbed, when it holds a credential */
static ngx_int_t
ds_redact_scrub(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   hits;

    len = ds_log_scrub(s->data, s->len, NULL, 0, &hits);
    if (hits == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) ds_log_scrub(s->data, s->len, p, len, &hits);

    s->data = p;
    s->len = len;

    return NGX_OK;
}


ngx_int_t
ds_redact_log_handler(ngx_http_request_t *r)
{
    u_char  *p;

    /* as nginx's $request of a request whose line was never parsed */
    if (r->request_line.data == NULL && r->request_start) {
        for (p = r->request_start; p < r->header_in->last; p++) {
            if (*p == CR || *p == LF) {
                break;
            }
        }

        r->request_line.len = p - r->request_start;
        r->request_line.data = r->request_start;
    }

    if (ds_redact_scrub(r->pool, &r->request_line) != NGX_OK
        || ds_redact_scrub(r->pool, &r->uri) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
