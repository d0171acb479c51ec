/*
 * The SSE "initial" event (datastream_sse_initial): nchan stores the event
 * name with each message, so it cannot send the latest stored round as an
 * event of its own. A PREACCESS handler gives a new SSE subscriber request
 * (no Last-Event-ID, no ?last_event_id=) a small context on its own pool;
 * nchan's copy of the request shares the context array, so the
 * authorization subrequest (ngx_http_datastream_subscriber_auth.c) finds it
 * through r->main, reads the channel's newest round in the same pipelined
 * batch as its other commands and stores the event there; the body filter
 * puts it in front of nchan's first output.
 * The event has no id: line, so a reconnect never resumes from it.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


#define DS_SSE_INITIAL_HEAD   "event: initial\ndata: "


static ngx_http_output_body_filter_pt    ds_next_body_filter;


/* the stream state of a subscriber request (or of nchan's copy of it) */
ds_stream_ctx_t *
ds_stream_ctx(ngx_http_request_t *main)
{
    ngx_http_datastream_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(main, ngx_http_datastream_module);

    if ((!dlcf->sse_initial && !dlcf->unbatch) || dlcf->handler != DS_HANDLER_NONE) {
        return NULL;
    }

    return ngx_http_get_module_ctx(main, ngx_http_datastream_module);
}


/* an SSE request that resumes nothing: nchan takes SSE by the Accept header */
static ngx_uint_t
ds_sse_fresh(ngx_http_request_t *r)
{
    ngx_str_t  *accept, arg;

    accept = ds_header_in(r, "Accept", sizeof("Accept") - 1);
    if (accept == NULL
        || ngx_strnstr(accept->data, "text/event-stream", accept->len) == NULL)
    {
        return 0;
    }

    return ds_header_in(r, "Last-Event-ID", sizeof("Last-Event-ID") - 1) == NULL
           && ngx_http_arg(r, (u_char *) "last_event_id", sizeof("last_event_id") - 1,
                           &arg) != NGX_OK;
}


static void
ds_stream_timer_cleanup(void *data)
{
    ngx_event_t  *ev = data;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }
}


/* a timer of the subscriber r's stream: fires with ev->data = r, removed with the request */
ngx_int_t
ds_stream_timer_start(ngx_http_request_t *r, ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_msec_t delay)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ev->handler = handler;
    ev->data = r;
    ev->log = r->connection->log;
    /* a worker that shuts down gracefully does not wait for it */
    ev->cancelable = 1;

    cln->handler = ds_stream_timer_cleanup;
    cln->data = ev;

    ngx_add_timer(ev, delay);

    return NGX_OK;
}


/* a subscriber of a datastream_sse_initial or datastream_unbatch location */
ngx_int_t
ds_stream_phase_handler(ngx_http_request_t *r)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ngx_http_core_loc_conf_t        *clcf;
    ds_stream_ctx_t                 *sctx;
    ngx_uint_t                       websocket, wants_initial;

    if (r != r->main || r->method != NGX_HTTP_GET) {
        return NGX_DECLINED;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    if ((!dlcf->sse_initial && !dlcf->unbatch) || dlcf->handler != DS_HANDLER_NONE
        || ngx_http_get_module_ctx(r, ngx_http_datastream_module) != NULL)
    {
        return NGX_DECLINED;
    }

    websocket = ds_is_websocket(r);
    wants_initial = dlcf->sse_initial && !websocket && ds_sse_fresh(r);

    if (!wants_initial && !dlcf->unbatch) {
        return NGX_DECLINED;
    }

    /*
     * nginx sets TCP_NODELAY only on keepalive, SSL and proxied upgraded
     * connections, never on nchan's subscribers: Nagle's algorithm would
     * then hold each frame of a live stream until the client acknowledged
     * the previous one, up to its delayed-ACK time (40 ms on Linux).
     */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(r->connection) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sctx = ngx_pcalloc(r->pool, sizeof(ds_stream_ctx_t));
    if (sctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sctx->pool = r->pool;
    sctx->websocket = websocket;
    sctx->wants_initial = wants_initial;
    ngx_http_set_ctx(r, sctx, ngx_http_datastream_module);

    if (ds_stream_lifetime_start(r, sctx, dlcf->sse_lifetime) != NGX_OK
        || ds_stream_heartbeat_start(r, sctx, dlcf->sse_heartbeat) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return dlcf->unbatch ? ds_resume_start(r, sctx) : NGX_DECLINED;
}


/* keeps "event: initial\ndata: <round>\n\n" on the subscriber's pool */
void
ds_stream_set_initial(ds_stream_ctx_t *sctx, ds_reply_t *reply)
{
    ngx_str_t  *json;
    u_char     *p;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1
        || reply->element[0].type != REDIS_REPLY_STRING)
    {
        return;
    }

    json = &reply->element[0].str;

    /* one data: line; the stored JSON is compact, but never break the stream */
    if (json->len == 0 || ngx_strlchr(json->data, json->data + json->len, '\n')
        || ngx_strlchr(json->data, json->data + json->len, '\r'))
    {
        return;
    }

    p = ngx_pnalloc(sctx->pool, sizeof(DS_SSE_INITIAL_HEAD) - 1 + json->len + 2);
    if (p == NULL) {
        return;
    }

    sctx->initial.data = p;
    p = ngx_cpymem(p, DS_SSE_INITIAL_HEAD, sizeof(DS_SSE_INITIAL_HEAD) - 1);
    p = ngx_cpymem(p, json->data, json->len);
    *p++ = '\n';
    *p++ = '\n';
    sctx->initial.len = p - sctx->initial.data;
}


/*
 * The subscriber request and nchan's copy (with the authorization) end in
 * either order: a client may go away while Redis answers, and nchan drops
 * its copy as soon as it has the answer. Each side unlinks itself.
 */
static void
ds_stream_cleanup(void *data)
{
    ds_stream_ctx_t  *sctx = data;

    if (sctx->sub) {
        sctx->sub->stream = NULL;
        sctx->sub = NULL;
    }
}


static void
ds_stream_sub_cleanup(void *data)
{
    ds_ctx_t  *ctx = data;

    if (ctx->stream) {
        ctx->stream->sub = NULL;
        ctx->stream = NULL;
    }
}


ngx_int_t
ds_stream_link(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ds_stream_ctx_t     *sctx;
    ngx_pool_cleanup_t  *cln, *sub_cln;

    sctx = ds_stream_ctx(r->main);

    if (sctx == NULL || !sctx->wants_initial || sctx->sub != NULL || sctx->done) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(sctx->pool, 0);
    sub_cln = ngx_pool_cleanup_add(r->pool, 0);

    if (cln == NULL || sub_cln == NULL) {
        if (cln) {
            cln->handler = NULL;
        }
        return NGX_ERROR;
    }

    cln->handler = ds_stream_cleanup;
    cln->data = sctx;
    sub_cln->handler = ds_stream_sub_cleanup;
    sub_cln->data = ctx;

    sctx->sub = ctx;
    ctx->stream = sctx;

    return NGX_OK;
}


/* the initial event goes in front of nchan's first output (": hi") */
static ngx_int_t
ds_sse_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ds_stream_ctx_t  *sctx;
    ngx_buf_t        *b;
    ngx_chain_t      *cl;

    if (r != r->main || in == NULL) {
        return ds_next_body_filter(r, in);
    }

    sctx = ds_stream_ctx(r);

    if (sctx == NULL || !sctx->wants_initial || sctx->done) {
        return ds_next_body_filter(r, in);
    }

    sctx->done = 1;

    /* nchan sends its SSE headers as "200 OK" with status 204 inside */
    if (sctx->initial.len == 0 || r->headers_out.status < NGX_HTTP_OK
        || r->headers_out.status >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        return ds_next_body_filter(r, in);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = sctx->initial.data;
    b->last = sctx->initial.data + sctx->initial.len;
    b->memory = 1;

    cl->buf = b;
    cl->next = in;

    return ds_next_body_filter(r, cl);
}


ngx_int_t
ds_sse_initial_filter_init(ngx_conf_t *cf)
{
    ds_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ds_sse_body_filter;

    return NGX_OK;
}
