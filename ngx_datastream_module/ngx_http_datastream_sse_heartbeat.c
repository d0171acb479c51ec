/*
 * The heartbeat of an SSE stream (datastream_sse_heartbeat).
 *
 * A stream with nothing to say still shows proxies and load balancers that
 * it is alive: a comment line every interval. nchan 1.3.6 has a ping of its
 * own (nchan_eventsource_ping_interval), but every ping it sends while
 * messages flow costs the connection a page of its request pool, kept until
 * the connection closes (4 KiB per SSE connection every 15 s, bare nchan as
 * much as with the module; bench/RESULTS.md, "Soak"), and it sends
 * "event: ping" rather than a comment (its comment setting is never
 * merged). The module therefore writes the comment itself, from a buffer
 * and chain link of the stream's own, and only when nothing is waiting to
 * be written: a connection that is still writing is not idle, and its
 * buffer may still be in the output.
 */

#include "ngx_http_datastream_module.h"


static u_char  ds_heartbeat_comment[] = ":\n\n";


static void
ds_stream_heartbeat_beat(ngx_event_t *ev)
{
    ngx_http_request_t              *r = ev->data;
    ngx_connection_t                *c = r->connection;
    ds_stream_ctx_t                 *sctx;
    ngx_http_datastream_loc_conf_t  *dlcf;
    ngx_buf_t                       *b;

    sctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);
    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    if (r->header_sent && r->out == NULL && !c->buffered && !c->error) {
        b = &sctx->heartbeat_buf;
        ngx_memzero(b, sizeof(ngx_buf_t));
        b->pos = ds_heartbeat_comment;
        b->last = ds_heartbeat_comment + sizeof(ds_heartbeat_comment) - 1;
        b->memory = 1;
        b->flush = 1;

        sctx->heartbeat_link.buf = b;
        sctx->heartbeat_link.next = NULL;

        if (ngx_http_output_filter(r, &sctx->heartbeat_link) == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }
    }

    ngx_add_timer(ev, dlcf->sse_heartbeat);
}


ngx_int_t
ds_stream_heartbeat_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx,
    ngx_msec_t interval)
{
    if (interval == 0 || sctx->websocket) {
        return NGX_OK;
    }

    return ds_stream_timer_start(r, &sctx->heartbeat, ds_stream_heartbeat_beat, interval);
}
