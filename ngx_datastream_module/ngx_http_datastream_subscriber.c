/*
 * Authorization of nchan subscribers (nchan_authorize_request) and the
 * WebSocket subprotocol echo.
 *
 * nchan 1.3.6 runs the authorize URL as an in-memory subrequest of a copy
 * of the subscriber request: r->main carries the subscriber's URI, args and
 * headers. The handler derives channel kind and name from that URI
 * (/<any>/<slug> or /<any>/type/<type>) and answers 204 or an error.
 *
 * Three nchan quirks are handled here:
 * - nchan reserves the subscriber only after starting the subrequest and
 *   breaks if the answer comes back before that, so the handler always
 *   answers from a later event, never from within its own call;
 * - on a non-2xx answer nchan reads sr->upstream->headers_in unconditionally,
 *   so the handler gives its subrequest a blank upstream record first;
 * - for a client subprotocol other than its own, nchan answers the
 *   handshake with an empty Sec-WebSocket-Protocol header; browsers then
 *   abort. The header filter fills in the subprotocol that was authorized.
 *
 * The SSE "initial" event (datastream_sse_initial): nchan stores the event
 * name with each message, so it cannot send the latest stored round as an
 * event of its own. A PREACCESS handler gives a new SSE subscriber request
 * (no Last-Event-ID, no ?last_event_id=) a small context on its own pool;
 * nchan's copy of the request shares the context array, so the
 * authorization subrequest finds it through r->main, reads the channel's
 * newest round in the same pipelined batch as its other commands and stores
 * the event there; the body filter puts it in front of nchan's first output.
 * The event has no id: line, so a reconnect never resumes from it.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


#define DS_SSE_INITIAL_HEAD   "event: initial\ndata: "


static ngx_http_output_header_filter_pt  ds_next_header_filter;
static ngx_http_output_body_filter_pt    ds_next_body_filter;


static ngx_uint_t
ds_is_websocket(ngx_http_request_t *r)
{
    ngx_str_t  *upgrade;

    upgrade = ds_header_in(r, "Upgrade", sizeof("Upgrade") - 1);

    return upgrade != NULL && upgrade->len == sizeof("websocket") - 1
           && ngx_strncasecmp(upgrade->data, (u_char *) "websocket", upgrade->len) == 0;
}


/* the SSE state of a subscriber request (or of nchan's copy of it) */
static ds_stream_ctx_t *
ds_stream_ctx(ngx_http_request_t *main)
{
    ngx_http_datastream_loc_conf_t  *dlcf;

    dlcf = ngx_http_get_module_loc_conf(main, ngx_http_datastream_module);

    if (!dlcf->sse_initial || dlcf->handler != DS_HANDLER_NONE) {
        return NULL;
    }

    return ngx_http_get_module_ctx(main, ngx_http_datastream_module);
}


/* a new (not resuming) SSE subscriber in a datastream_sse_initial location */
ngx_int_t
ds_stream_phase_handler(ngx_http_request_t *r)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ds_stream_ctx_t                 *sctx;
    ngx_str_t                       *accept, arg;

    if (r != r->main || r->method != NGX_HTTP_GET) {
        return NGX_DECLINED;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    if (!dlcf->sse_initial || dlcf->handler != DS_HANDLER_NONE
        || ngx_http_get_module_ctx(r, ngx_http_datastream_module) != NULL
        || ds_is_websocket(r))
    {
        return NGX_DECLINED;
    }

    /* nchan takes a request for SSE by its Accept header */
    accept = ds_header_in(r, "Accept", sizeof("Accept") - 1);
    if (accept == NULL
        || ngx_strnstr(accept->data, "text/event-stream", accept->len) == NULL)
    {
        return NGX_DECLINED;
    }

    if (ds_header_in(r, "Last-Event-ID", sizeof("Last-Event-ID") - 1) != NULL
        || ngx_http_arg(r, (u_char *) "last_event_id", sizeof("last_event_id") - 1,
                        &arg) == NGX_OK)
    {
        return NGX_DECLINED;
    }

    sctx = ngx_pcalloc(r->pool, sizeof(ds_stream_ctx_t));
    if (sctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sctx->pool = r->pool;
    ngx_http_set_ctx(r, sctx, ngx_http_datastream_module);

    return NGX_DECLINED;
}


/* keeps "event: initial\ndata: <round>\n\n" on the subscriber's pool */
static void
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


static ngx_int_t
ds_stream_link(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ds_stream_ctx_t     *sctx;
    ngx_pool_cleanup_t  *cln, *sub_cln;

    sctx = ds_stream_ctx(r->main);

    if (sctx == NULL || sctx->sub != NULL || sctx->done) {
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


/* /<endpoint>/<slug> or /<endpoint>/type/<type> */
static void
ds_subscriber_channel(ngx_http_request_t *subscriber, ds_ctx_t *ctx, ngx_uint_t *type)
{
    u_char  *p, *end, *slash;

    p = subscriber->uri.data;
    end = p + subscriber->uri.len;
    *type = 0;

    slash = (p < end) ? ngx_strlchr(p + 1, end, '/') : NULL;
    if (slash == NULL) {
        ngx_str_null(&ctx->name);
        return;
    }

    p = slash + 1;

    if (end - p > (ssize_t) sizeof("type/") - 1
        && ngx_strncmp(p, "type/", sizeof("type/") - 1) == 0)
    {
        *type = 1;
        p += sizeof("type/") - 1;
    }

    ctx->name.data = p;
    ctx->name.len = end - p;
}


static void
ds_subscriber_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ds_ctx_t         *ctx;
    ds_stream_ctx_t  *sctx;
    ngx_uint_t        known;
    ngx_int_t         rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    if (replies == NULL) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    /* a handshake counts as one request of the key */
    if (ctx->step_base) {
        rc = ds_ratelimit_check(r, ctx, replies);

        if (rc == NGX_DECLINED) {
            ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                      "Too many requests, please slow down"));
            return;
        }

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r, ds_send_unavailable(r));
            return;
        }
    }

    if (ctx->param_status) {
        ngx_http_finalize_request(r, ds_send_error(r, ctx->param_status, "%s",
                                                   ctx->param_error));
        return;
    }

    replies += ctx->step_base;
    n -= ctx->step_base;

    known = ctx->by_type
            ? ds_games_have_type(&replies[0], &ctx->name) == NGX_OK
            : replies[0].type == REDIS_REPLY_INTEGER && replies[0].integer == 1;

    if (!known) {
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_NOT_FOUND, "%s",
                                                   ctx->param_error));
        return;
    }

    if (n > 1) {
        sctx = ctx->stream;
        if (sctx) {
            ds_stream_set_initial(sctx, &replies[1]);
        }
    }

    ngx_http_finalize_request(r, ds_send(r, NGX_HTTP_NO_CONTENT, NULL));
}


static void
ds_subscriber_run(ngx_http_request_t *r)
{
    ds_ctx_t         *ctx;
    ds_cmd_t          cmds[4];
    ngx_str_t        *games, *history;
    ngx_int_t         nrl;
    ngx_uint_t        n;
    ds_stream_ctx_t  *sctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    /* order of checks as for the API: credentials, rate limit, parameters */
    nrl = ds_ratelimit_cmds(r, ctx, cmds);
    if (nrl == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->step_base = nrl;
    n = nrl;

    if (ctx->param_status) {
        if (n == 0) {
            ngx_http_finalize_request(r, ds_send_error(r, ctx->param_status, "%s",
                                                       ctx->param_error));
            return;
        }

        goto send;
    }

    games = ds_prefixed(r, "games", NULL);
    if (games == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->by_type) {
        ds_cmd_set(&cmds[n], 2, "HVALS", "");
        ds_cmd_set_str(&cmds[n], 1, games);
    } else {
        ds_cmd_set(&cmds[n], 3, "HEXISTS", "", "");
        ds_cmd_set_str(&cmds[n], 1, games);
        ds_cmd_set_str(&cmds[n], 2, &ctx->name);
    }

    n++;

    /* a new SSE subscriber: the channel's newest round, for the initial event */
    sctx = ctx->stream;

    if (sctx && !sctx->done && sctx->initial.len == 0) {
        history = ds_prefixed(r, ctx->by_type ? "h:type:" : "h:game:", &ctx->name);
        if (history == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ds_cmd_set(&cmds[n], 4, "ZREVRANGE", "", "0", "0");
        ds_cmd_set_str(&cmds[n], 1, history);
        n++;
    }

send:

    if (ds_redis_batch(r, cmds, n, ds_subscriber_done) != NGX_OK) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
    }
}


static void
ds_subscriber_start(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;
    ngx_connection_t    *c = r->connection;
    ds_ctx_t            *ctx;
    ds_cred_t            cred;
    ngx_uint_t           type;
    ngx_str_t            name;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    ds_subscriber_channel(r->main, ctx, &type);

    /* the subscriber request may be gone by the time Redis answers */
    name = ctx->name;
    ctx->name.data = ngx_pnalloc(r->pool, name.len + 1);

    if (ctx->name.data == NULL || ds_stream_link(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (name.len) {
        ngx_memcpy(ctx->name.data, name.data, name.len);
    }

    ctx->by_type = type;
    ctx->param_error = type ? "Game type not found" : "Game not found";

    if (ds_parse_slug(ctx->name.data, ctx->name.len) != NGX_OK) {
        ctx->param_status = NGX_HTTP_NOT_FOUND;
    }

    cred = ds_cred_stream(r->main, ds_is_websocket(r->main));

    ds_auth_start(r, ctx, &cred, ds_subscriber_run);

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ds_subscriber_auth_handler(ngx_http_request_t *r)
{
    ds_ctx_t  *ctx;

    ctx = ds_ctx_get(r, DS_ROUTE_SUBSCRIBE);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->start.handler = ds_subscriber_start;
    ctx->start.data = r;
    ctx->start.log = r->connection->log;
    ngx_post_event(&ctx->start, &ngx_posted_events);

    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ds_subscriber_shim_upstream(ngx_http_request_t *r, off_t len)
{
    ngx_http_upstream_t  *u;
    ngx_table_elt_t      *ct;

    if (r->upstream) {
        return NGX_OK;
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_http_upstream_t));
    ct = ngx_pcalloc(r->pool, sizeof(ngx_table_elt_t));
    if (u == NULL || ct == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&ct->key, "Content-Type");
    ngx_str_set(&ct->value, DS_CONTENT_TYPE);
    ct->hash = 1;

    u->headers_in.content_type = ct;
    u->headers_in.content_length_n = len;
    r->upstream = u;

    return NGX_OK;
}


static ngx_int_t
ds_ws_header_filter(ngx_http_request_t *r)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_str_t        *offered, chosen;
    ngx_uint_t        i;

    if (r != r->main || r->headers_out.status != NGX_HTTP_SWITCHING_PROTOCOLS) {
        return ds_next_header_filter(r);
    }

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].value.len != 0
            || h[i].key.len != sizeof("Sec-WebSocket-Protocol") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Sec-WebSocket-Protocol",
                               h[i].key.len) != 0)
        {
            continue;
        }

        offered = ds_header_in(r, "Sec-WebSocket-Protocol",
                               sizeof("Sec-WebSocket-Protocol") - 1);

        if (offered && ds_pick_subprotocol(offered->data, offered->len, &chosen)
                       == NGX_OK)
        {
            h[i].value = chosen;
        } else {
            h[i].hash = 0;
        }
    }

    return ds_next_header_filter(r);
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

    if (sctx == NULL || sctx->done) {
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
ds_subscriber_filter_init(ngx_conf_t *cf)
{
    ds_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ds_ws_header_filter;

    ds_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ds_sse_body_filter;

    return NGX_OK;
}

