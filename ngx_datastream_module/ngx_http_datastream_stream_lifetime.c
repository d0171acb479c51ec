/*
 * The lifetime of an SSE stream (datastream_sse_lifetime).
 *
 * What a long-lived SSE connection holds in nginx and nchan stays in the
 * worker until the connection closes (nchan's own EventSource ping kept a
 * page per ping, bench/RESULTS.md, "Soak"), so a backend whose clients
 * never leave is one allocation of that kind away from growing until it is
 * killed, and then every client would reconnect at once. Each SSE stream
 * therefore ends after a lifetime drawn between three quarters of the
 * configured one and the whole of it, so the streams of clients that came
 * together end apart. The stream ends as a stream does on graceful
 * shutdown: the response ends between two events and the connection
 * closes (nchan sends SSE without chunked framing); nchan drops the
 * subscriber as for a client that went away. EventSource reconnects by
 * itself with Last-Event-ID and nchan resumes it from its stored messages,
 * so nothing is lost. WebSocket streams are left alone.
 */

#include "ngx_http_datastream_module.h"


static void
ds_stream_lifetime_end(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;
    ngx_connection_t    *c = r->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "datastream: SSE stream ended after its lifetime");

    /* a stream nchan has not begun yet gets no chunk of its own */
    if (r->header_sent) {
        (void) ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    ngx_http_finalize_request(r, NGX_HTTP_CLOSE);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ds_stream_lifetime_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx,
    ngx_msec_t lifetime)
{
    ngx_msec_t  spread;

    if (lifetime == 0 || sctx->websocket) {
        return NGX_OK;
    }

    spread = lifetime / 4;

    return ds_stream_timer_start(r, &sctx->lifetime, ds_stream_lifetime_end,
               lifetime - (spread ? (ngx_msec_t) ngx_random() % (spread + 1) : 0));
}
