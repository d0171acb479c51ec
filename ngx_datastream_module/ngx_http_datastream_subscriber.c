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
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


static ngx_http_output_header_filter_pt  ds_next_header_filter;


static ngx_uint_t
ds_is_websocket(ngx_http_request_t *r)
{
    ngx_str_t  *upgrade;

    upgrade = ds_header_in(r, "Upgrade", sizeof("Upgrade") - 1);

    return upgrade != NULL && upgrade->len == sizeof("websocket") - 1
           && ngx_strncasecmp(upgrade->data, (u_char *) "websocket", upgrade->len) == 0;
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
    ds_ctx_t   *ctx;
    ngx_uint_t  known;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    if (replies == NULL) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    known = ctx->by_type
            ? ds_games_have_type(&replies[0], &ctx->name) == NGX_OK
            : replies[0].type == REDIS_REPLY_INTEGER && replies[0].integer == 1;

    if (!known) {
        ngx_http_finalize_request(r, ds_send_error(r, NGX_HTTP_NOT_FOUND, "%s",
                                                   ctx->param_error));
        return;
    }

    ngx_http_finalize_request(r, ds_send(r, NGX_HTTP_NO_CONTENT, NULL));
}


static void
ds_subscriber_run(ngx_http_request_t *r)
{
    ds_ctx_t   *ctx;
    ds_cmd_t    cmd;
    ngx_str_t  *games;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    if (ctx->param_status) {
        ngx_http_finalize_request(r, ds_send_error(r, ctx->param_status, "%s",
                                                   ctx->param_error));
        return;
    }

    games = ds_prefixed(r, "games", NULL);
    if (games == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ctx->by_type) {
        ds_cmd_set(&cmd, 2, "HVALS", "");
        ds_cmd_set_str(&cmd, 1, games);
    } else {
        ds_cmd_set(&cmd, 3, "HEXISTS", "", "");
        ds_cmd_set_str(&cmd, 1, games);
        ds_cmd_set_str(&cmd, 2, &ctx->name);
    }

    if (ds_redis_batch(r, &cmd, 1, ds_subscriber_done) != NGX_OK) {
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

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    ds_subscriber_channel(r->main, ctx, &type);

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


ngx_int_t
ds_subscriber_filter_init(ngx_conf_t *cf)
{
    ds_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ds_ws_header_filter;

    return NGX_OK;
}
