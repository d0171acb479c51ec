/*
 * Prometheus counters kept in shared memory, so every worker adds to the
 * same figures: requests by route and status, latency histogram by route,
 * Redis errors.
 */

#include "ngx_http_datastream_module.h"


#define DS_METRICS_ZONE_SIZE   (128 * 1024)
#define DS_METRICS_BODY_MAX    (64 * 1024)


static const char  *ds_route_names[DS_ROUTE_COUNT] = {
    [DS_ROUTE_UNKNOWN]      = "unknown",
    [DS_ROUTE_GAMES]        = "games",
    [DS_ROUTE_LATEST]       = "latest",
    [DS_ROUTE_HISTORY]      = "history",
    [DS_ROUTE_HISTORY_TYPE] = "history_type",
    [DS_ROUTE_TOKEN]        = "token",
    [DS_ROUTE_PREFLIGHT]    = "preflight",
    [DS_ROUTE_SUBSCRIBE]    = "subscribe",
    [DS_ROUTE_HEALTHZ]      = "healthz",
    [DS_ROUTE_READYZ]       = "readyz",
    [DS_ROUTE_METRICS]      = "metrics",
};

static const ngx_uint_t  ds_statuses[] = {
    200, 204, 400, 401, 403, 404, 405, 429, 500, 503
};

#define DS_STATUS_COUNT   (sizeof(ds_statuses) / sizeof(ds_statuses[0]) + 1)

/* bucket bounds in milliseconds; the request clock has 1 ms resolution */
static const ngx_msec_t  ds_bucket_ms[] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static const char  *ds_bucket_labels[] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10"
};

#define DS_BUCKET_COUNT   (sizeof(ds_bucket_ms) / sizeof(ds_bucket_ms[0]))


typedef struct {
    ngx_atomic_t   requests[DS_ROUTE_COUNT][DS_STATUS_COUNT];
    ngx_atomic_t   buckets[DS_ROUTE_COUNT][DS_BUCKET_COUNT];
    ngx_atomic_t   count[DS_ROUTE_COUNT];
    ngx_atomic_t   sum_ms[DS_ROUTE_COUNT];
    ngx_atomic_t   redis_errors;
} ds_metrics_t;


static ds_metrics_t  *ds_metrics;


static ngx_int_t ds_metrics_answer(ngx_http_request_t *r, ds_ctx_t *ctx,
    ngx_uint_t status, off_t len);


static ngx_int_t
ds_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        zone->data = data;
        ds_metrics = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ds_metrics = ngx_slab_calloc(shpool, sizeof(ds_metrics_t));
    if (ds_metrics == NULL) {
        return NGX_ERROR;
    }

    zone->data = ds_metrics;

    return NGX_OK;
}


ngx_int_t
ds_metrics_init_conf(ngx_conf_t *cf, ngx_http_datastream_main_conf_t *dmcf)
{
    ngx_str_t  name = ngx_string("datastream_metrics");

    dmcf->metrics_zone = ngx_shared_memory_add(cf, &name, DS_METRICS_ZONE_SIZE,
                                               &ngx_http_datastream_module);
    if (dmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    dmcf->metrics_zone->init = ds_metrics_init_zone;

    return ds_answer_hook_every(ds_metrics_answer);
}


static void
ds_metrics_observe(ngx_http_request_t *r, ds_route_e route, ngx_uint_t status)
{
    ngx_http_request_t  *m = r->main;
    ngx_time_t          *tp;
    ngx_msec_int_t       ms;
    ngx_uint_t           i, s;

    if (ds_metrics == NULL || route >= DS_ROUTE_COUNT) {
        return;
    }

    for (s = 0; s < DS_STATUS_COUNT - 1 && ds_statuses[s] != status; s++) {
        /* void */
    }

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - m->start_sec) * 1000 + (tp->msec - m->start_msec));
    if (ms < 0) {
        ms = 0;
    }

    (void) ngx_atomic_fetch_add(&ds_metrics->requests[route][s], 1);
    (void) ngx_atomic_fetch_add(&ds_metrics->count[route], 1);
    (void) ngx_atomic_fetch_add(&ds_metrics->sum_ms[route], ms);

    for (i = 0; i < DS_BUCKET_COUNT; i++) {
        if ((ngx_msec_t) ms <= ds_bucket_ms[i]) {
            (void) ngx_atomic_fetch_add(&ds_metrics->buckets[route][i], 1);
        }
    }
}


static ngx_int_t
ds_metrics_answer(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_uint_t status, off_t len)
{
    ds_metrics_observe(r, ctx->route, status);

    return NGX_OK;
}


void
ds_metrics_redis_error(void)
{
    if (ds_metrics) {
        (void) ngx_atomic_fetch_add(&ds_metrics->redis_errors, 1);
    }
}


static u_char *
ds_metrics_requests(u_char *p, u_char *last)
{
    ngx_uint_t  route, s;

    p = ngx_slprintf(p, last,
                     "# HELP datastream_http_requests_total HTTP answers of the "
                     "datastream module.\n"
                     "# TYPE datastream_http_requests_total counter\n");

    for (route = 0; route < DS_ROUTE_COUNT; route++) {
        for (s = 0; s < DS_STATUS_COUNT; s++) {
            if (ds_metrics->requests[route][s] == 0) {
                continue;
            }

            if (s < DS_STATUS_COUNT - 1) {
                p = ngx_slprintf(p, last,
                        "datastream_http_requests_total{route=\"%s\",status=\"%ui\"} %uA\n",
                        ds_route_names[route], ds_statuses[s],
                        ds_metrics->requests[route][s]);
            } else {
                p = ngx_slprintf(p, last,
                        "datastream_http_requests_total{route=\"%s\",status=\"other\"} %uA\n",
                        ds_route_names[route], ds_metrics->requests[route][s]);
            }
        }
    }

    return p;
}


static u_char *
ds_metrics_latency(u_char *p, u_char *last)
{
    ngx_uint_t  route, i;
    ngx_atomic_uint_t  sum;

    p = ngx_slprintf(p, last,
                     "# HELP datastream_http_request_duration_seconds Time from "
                     "request start to answer.\n"
                     "# TYPE datastream_http_request_duration_seconds histogram\n");

    for (route = 0; route < DS_ROUTE_COUNT; route++) {
        if (ds_metrics->count[route] == 0) {
            continue;
        }

        for (i = 0; i < DS_BUCKET_COUNT; i++) {
            p = ngx_slprintf(p, last,
                    "datastream_http_request_duration_seconds_bucket"
                    "{route=\"%s\",le=\"%s\"} %uA\n",
                    ds_route_names[route], ds_bucket_labels[i],
                    ds_metrics->buckets[route][i]);
        }

        sum = ds_metrics->sum_ms[route];

        p = ngx_slprintf(p, last,
                "datastream_http_request_duration_seconds_bucket"
                "{route=\"%s\",le=\"+Inf\"} %uA\n"
                "datastream_http_request_duration_seconds_sum{route=\"%s\"} %uA.%03uA\n"
                "datastream_http_request_duration_seconds_count{route=\"%s\"} %uA\n",
                ds_route_names[route], ds_metrics->count[route],
                ds_route_names[route], sum / 1000, sum % 1000,
                ds_route_names[route], ds_metrics->count[route]);
    }

    return p;
}


/* nchan_stub_status lines worth a Prometheus name */
typedef struct {
    const char  *line;
    const char  *metric;
    const char  *type;
    const char  *help;
} ds_nchan_figure_t;

static const ds_nchan_figure_t  ds_nchan_figures[] = {
    { "total published messages", "datastream_nchan_published_messages_total",
      "counter", "Messages posted to this instance's nchan publisher." },
    { "stored messages", "datastream_nchan_stored_messages", "gauge",
      "Messages held in nchan channel buffers." },
    { "channels", "datastream_nchan_channels", "gauge", "Active nchan channels." },
    { "subscribers", "datastream_nchan_subscribers", "gauge",
      "Connected WebSocket and SSE subscribers." },
    { NULL, NULL, NULL, NULL }
};


static u_char *
ds_metrics_nchan(u_char *p, u_char *last, ngx_buf_t *status)
{
    const ds_nchan_figure_t  *f;
    u_char                   *line, *eol, *end, *colon;
    size_t                    len;
    ngx_int_t                 n;

    if (status == NULL) {
        return p;
    }

    end = status->last;

    for (line = status->pos; line < end; line = eol + 1) {
        eol = ngx_strlchr(line, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        colon = ngx_strlchr(line, eol, ':');
        if (colon == NULL || eol - colon < 3) {
            continue;
        }

        len = colon - line;
        n = ngx_atoi(colon + 2, eol - colon - 2);
        if (n == NGX_ERROR) {
            continue;
        }

        for (f = ds_nchan_figures; f->line; f++) {
            if (ngx_strlen(f->line) == len && ngx_strncmp(line, f->line, len) == 0) {
                p = ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n%s %i\n",
                                 f->metric, f->help, f->metric, f->type,
                                 f->metric, n);
            }
        }
    }

    return p;
}


static ngx_int_t
ds_metrics_render(ngx_http_request_t *r)
{
    ds_ctx_t   *ctx;
    ngx_str_t   body;
    u_char     *p, *last;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    body.data = ngx_pnalloc(r->pool, DS_METRICS_BODY_MAX);
    if (body.data == NULL || ds_metrics == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = body.data + DS_METRICS_BODY_MAX;
    p = ds_metrics_requests(body.data, last);
    p = ds_metrics_latency(p, last);
    p = ngx_slprintf(p, last,
                     "# HELP datastream_redis_errors_total Redis connection "
                     "failures, timeouts and failed batches.\n"
                     "# TYPE datastream_redis_errors_total counter\n"
                     "datastream_redis_errors_total %uA\n",
                     ds_metrics->redis_errors);
    p = ds_metrics_nchan(p, last, ctx->nchan_status);
    body.len = p - body.data;

    return ds_send_body(r, NGX_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                        &body, 1);
}


/* the parent request resumes here once nchan's status subrequest is done */
static void
ds_metrics_resume(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ds_metrics_render(r));
}


static ngx_int_t
ds_metrics_nchan_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ds_ctx_t  *ctx = data;

    if (rc == NGX_OK && sr->headers_out.status == NGX_HTTP_OK && sr->out) {
        ctx->nchan_status = sr->out->buf;
    }

    sr->parent->write_event_handler = ds_metrics_resume;

    return rc;
}


ngx_int_t
ds_metrics_handler(ngx_http_request_t *r)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ngx_http_post_subrequest_t      *psr;
    ngx_http_request_t              *sr;
    ds_ctx_t                        *ctx;
    ngx_int_t                        rc;

    rc = ds_content_begin(r, DS_ROUTE_METRICS, &ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method != NGX_HTTP_GET) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    /* this answer counts before it is rendered, like any other */
    ds_metrics_observe(r, DS_ROUTE_METRICS, NGX_HTTP_OK);

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);
    if (dlcf->nchan_status.len == 0) {
        return ds_metrics_render(r);
    }

    psr = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (psr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    psr->handler = ds_metrics_nchan_done;
    psr->data = ctx;

    if (ngx_http_subrequest(r, &dlcf->nchan_status, NULL, &sr, psr,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    return NGX_DONE;
}
