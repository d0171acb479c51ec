/*
 * Every answer of the module leaves through ds_send: one place sets the
 * content type and runs what the features add to an answer (headers,
 * counters), which they register as hooks.
 */

#include "ngx_http_datastream_module.h"


#define DS_ERROR_MAX   256


ngx_int_t
ds_header_set(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


ngx_str_t *
ds_header_in(ngx_http_request_t *r, const char *name, size_t len)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0) {
            return &h[i].value;
        }
    }
}


/* the body is the concatenation of n parts, sent without copying them */
ngx_int_t
ds_send_body(ngx_http_request_t *r, ngx_uint_t status, const char *type,
    ngx_str_t *parts, ngx_uint_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *out, **next;
    ngx_uint_t    i;
    off_t         len;
    ngx_int_t     rc;

    r->headers_out.status = status;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_lowcase = NULL;

    len = 0;
    for (i = 0; i < n; i++) {
        len += parts[i].len;
    }

    r->headers_out.content_length_n = len;

    if (len == 0) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    out = NULL;
    next = &out;
    b = NULL;

    for (i = 0; i < n; i++) {
        if (parts[i].len == 0) {
            continue;
        }

        b = ngx_calloc_buf(r->pool);
        *next = ngx_alloc_chain_link(r->pool);
        if (b == NULL || *next == NULL) {
            return NGX_ERROR;
        }

        b->pos = parts[i].data;
        b->last = parts[i].data + parts[i].len;
        b->memory = 1;

        (*next)->buf = b;
        (*next)->next = NULL;
        next = &(*next)->next;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/*
 * Hooks of every answer (metrics), set at configuration; a reload
 * registers the same ones again.
 */
static ds_answer_hook_pt  ds_every_hooks[DS_ANSWER_HOOKS_MAX];
static ngx_uint_t         ds_nevery_hooks;


static ngx_int_t
ds_answer_hook_push(ds_answer_hook_pt *hooks, ngx_uint_t *n, ds_answer_hook_pt hook)
{
    ngx_uint_t  i;

    for (i = 0; i < *n; i++) {
        if (hooks[i] == hook) {
            return NGX_OK;
        }
    }

    if (*n == DS_ANSWER_HOOKS_MAX) {
        return NGX_ERROR;
    }

    hooks[(*n)++] = hook;

    return NGX_OK;
}


/* hook runs on every later answer of this request, once however often added */
ngx_int_t
ds_answer_hook_add(ds_ctx_t *ctx, ds_answer_hook_pt hook)
{
    return ds_answer_hook_push(ctx->answer_hooks, &ctx->nanswer_hooks, hook);
}


/* hook runs on every answer of a request with a context, before its own hooks */
ngx_int_t
ds_answer_hook_every(ds_answer_hook_pt hook)
{
    return ds_answer_hook_push(ds_every_hooks, &ds_nevery_hooks, hook);
}


ngx_int_t
ds_send_parts(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *parts,
    ngx_uint_t n)
{
    ds_ctx_t   *ctx;
    ngx_uint_t  i;
    off_t       len;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    if (ctx) {
        len = 0;
        for (i = 0; i < n; i++) {
            len += parts[i].len;
        }

        for (i = 0; i < ds_nevery_hooks; i++) {
            if (ds_every_hooks[i](r, ctx, status, len) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        for (i = 0; i < ctx->nanswer_hooks; i++) {
            if (ctx->answer_hooks[i](r, ctx, status, len) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    return ds_send_body(r, status, DS_CONTENT_TYPE, parts, n);
}


ngx_int_t
ds_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *body)
{
    return ds_send_parts(r, status, body, body ? 1 : 0);
}


ngx_int_t
ds_send_error(ngx_http_request_t *r, ngx_uint_t status, const char *fmt, ...)
{
    u_char     msg[DS_ERROR_MAX], *p;
    va_list    args;
    size_t     len;
    ngx_str_t  body;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + DS_ERROR_MAX, fmt, args);
    va_end(args);

    len = p - msg;

    body.data = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\",\"success\":false}") - 1
                            + len + ngx_escape_json(NULL, msg, len));
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body.data, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, msg, len);
    p = ngx_cpymem(p, "\",\"success\":false}", sizeof("\",\"success\":false}") - 1);
    body.len = p - body.data;

    return ds_send(r, status, &body);
}


/* Redis failed, timed out or is unreachable */
ngx_int_t
ds_send_unavailable(ngx_http_request_t *r)
{
    return ds_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, "Redis unavailable");
}
