/*
 * Liveness answers without looking at anything; readiness asks Redis for a
 * PING within datastream_redis_timeout.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


ngx_int_t
ds_healthz_handler(ngx_http_request_t *r)
{
    ngx_str_t  body = ngx_string("{\"status\":\"ok\"}");
    ngx_int_t  rc;

    rc = ds_content_begin(r, DS_ROUTE_HEALTHZ, NULL);
    if (rc != NGX_OK) {
        return rc;
    }

    return ds_send(r, NGX_HTTP_OK, &body);
}


static void
ds_readyz_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ngx_str_t  body = ngx_string("{\"status\":\"ready\"}");

    if (replies == NULL || replies[0].type != REDIS_REPLY_STATUS) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    ngx_http_finalize_request(r, ds_send(r, NGX_HTTP_OK, &body));
}


ngx_int_t
ds_readyz_handler(ngx_http_request_t *r)
{
    ds_cmd_t   cmd;
    ds_cmds_t  cmds;
    ngx_int_t  rc;

    rc = ds_content_begin(r, DS_ROUTE_READYZ, NULL);
    if (rc != NGX_OK) {
        return rc;
    }

    ds_cmds_init(&cmds, &cmd, 1, r->connection->log);

    if (ds_cmds_push(&cmds, "PING", 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ds_redis_batch(r, &cmds, ds_readyz_done) != NGX_OK) {
        return ds_send_unavailable(r);
    }

    r->main->count++;

    return NGX_DONE;
}
