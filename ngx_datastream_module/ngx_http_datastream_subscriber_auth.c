/*
 * Authorization of nchan subscribers (nchan_authorize_request).
 *
 * nchan 1.3.6 runs the authorize URL as an in-memory subrequest of a copy
 * of the subscriber request: r->main carries the subscriber's URI, args and
 * headers. The handler derives channel kind and name from that URI
 * (/<any>/<slug> or /<any>/type/<type>) and answers 204 or an error.
 *
 * Two nchan quirks are handled here:
 * - nchan reserves the subscriber only after starting the subrequest and
 *   breaks if the answer comes back before that, so the handler always
 *   answers from a later event, never from within its own call;
 * - on a non-2xx answer nchan reads sr->upstream->headers_in unconditionally,
 *   so the handler gives its subrequest a blank upstream record first.
 *
 * For a new SSE subscriber the same batch reads the channel's newest round
 * for the initial event (ngx_http_datastream_sse_initial.c).
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


ngx_uint_t
ds_is_websocket(ngx_http_request_t *r)
{
    ngx_str_t  *upgrade;

    upgrade = ds_header_in(r, "Upgrade", sizeof("Upgrade") - 1);

    return upgrade != NULL && upgrade->len == sizeof("websocket") - 1
           && ngx_strncasecmp(upgrade->data, (u_char *) "websocket", upgrade->len) == 0;
}


/* /<endpoint>/<slug> or /<endpoint>/type/<type>; name is empty for another path */
void
ds_subscriber_channel(ngx_http_request_t *subscriber, ngx_str_t *name, ngx_uint_t *type)
{
    u_char  *p, *end, *slash;

    p = subscriber->uri.data;
    end = p + subscriber->uri.len;
    *type = 0;

    slash = (p < end) ? ngx_strlchr(p + 1, end, '/') : NULL;
    if (slash == NULL) {
        ngx_str_null(name);
        return;
    }

    p = slash + 1;

    if (end - p > (ssize_t) sizeof("type/") - 1
        && ngx_strncmp(p, "type/", sizeof("type/") - 1) == 0)
    {
        *type = 1;
        p += sizeof("type/") - 1;
    }

    name->data = p;
    name->len = end - p;
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


/* the rate limit, the channel's existence and the initial event's round */
#define DS_SUBSCRIBER_CMDS_MAX  4


static ngx_int_t
ds_subscriber_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmds_t *cmds)
{
    ngx_str_t        *games, *history;
    ngx_int_t         rc;
    ds_stream_ctx_t  *sctx;

    static ngx_str_t  zero = ngx_string("0");

    games = ds_redis_key(r, DATASTREAM_KEY_GAMES, NULL, 0);
    if (games == NULL) {
        return NGX_ERROR;
    }

    rc = ctx->by_type ? ds_cmds_push(cmds, "HVALS", 1, games)
                      : ds_cmds_push(cmds, "HEXISTS", 2, games, &ctx->name);
    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    /* a new SSE subscriber: the channel's newest round, for the initial event */
    sctx = ctx->stream;

    if (sctx == NULL || sctx->done || sctx->initial.len) {
        return NGX_OK;
    }

    history = ds_history_key(r, ctx->by_type, &ctx->name, 1);
    if (history == NULL) {
        return NGX_ERROR;
    }

    return ds_cmds_push(cmds, "ZREVRANGE", 3, history, &zero, &zero);
}


static void
ds_subscriber_run(ngx_http_request_t *r)
{
    ds_ctx_t   *ctx;
    ds_cmd_t    cmd[DS_SUBSCRIBER_CMDS_MAX];
    ds_cmds_t   cmds;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    ds_cmds_init(&cmds, cmd, DS_SUBSCRIBER_CMDS_MAX, r->connection->log);

    /* order of checks as for the API: credentials, rate limit, parameters */
    if (ds_ratelimit_cmds(r, ctx, &cmds) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->param_status) {
        if (cmds.n == 0) {
            ngx_http_finalize_request(r, ds_send_error(r, ctx->param_status, "%s",
                                                       ctx->param_error));
            return;
        }

    } else if (ds_subscriber_cmds(r, ctx, &cmds) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ds_redis_batch(r, &cmds, ds_subscriber_done) != NGX_OK) {
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

    ds_subscriber_channel(r->main, &ctx->name, &type);

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

    if (!datastream_name_valid((const char *) ctx->name.data, ctx->name.len)) {
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
    if (ctx == NULL
        || ds_answer_hook_add(ctx, ds_subscriber_shim_upstream) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->start.handler = ds_subscriber_start;
    ctx->start.data = r;
    ctx->start.log = r->connection->log;
    ngx_post_event(&ctx->start, &ngx_posted_events);

    r->main->count++;

    return NGX_DONE;
}


/* a refusal of nchan's authorization subrequest, which nchan reads as an upstream's */
ngx_int_t
ds_subscriber_shim_upstream(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_uint_t status,
    off_t len)
{
    ngx_http_upstream_t  *u;
    ngx_table_elt_t      *ct;

    if (r == r->main || status < 300 || r->upstream) {
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
