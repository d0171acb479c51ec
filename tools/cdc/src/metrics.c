#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dscdc_metrics_t dscdc_metrics;

struct dscdc_metrics_server_s {
    struct MHD_Daemon *daemon;
};

void
dscdc_metrics_count_event(char op)
{
    const char *at = strchr(DSCDC_OPS, op);

    if (at != NULL && op != '\0') {
        atomic_fetch_add(&dscdc_metrics.events[at - DSCDC_OPS], 1);
    }
}

static int
render(char *buf, size_t cap)
{
    uint64_t wal_end = atomic_load(&dscdc_metrics.server_wal_end);
    uint64_t confirmed = atomic_load(&dscdc_metrics.confirmed_lsn);
    size_t   len = 0;
    int      n;

#define EMIT(...)                                          \
    do {                                                   \
        n = snprintf(buf + len, cap - len, __VA_ARGS__);   \
        if (n < 0 || (size_t) n >= cap - len) {            \
            return -1;                                     \
        }                                                  \
        len += (size_t) n;                                 \
    } while (0)
    EMIT("# HELP datastream_cdc_events_total Change events published to JetStream, by op.\n"
         "# TYPE datastream_cdc_events_total counter\n");
    for (int i = 0; DSCDC_OPS[i]; i++) {
        EMIT("datastream_cdc_events_total{op=\"%c\"} %llu\n", DSCDC_OPS[i],
             (unsigned long long) atomic_load(&dscdc_metrics.events[i]));
    }
    EMIT("# HELP datastream_cdc_events_per_second Events published per second over the last status interval.\n"
         "# TYPE datastream_cdc_events_per_second gauge\n"
         "datastream_cdc_events_per_second %.3f\n",
         (double) atomic_load(&dscdc_metrics.events_per_second) / 1000.0);
    EMIT("# HELP datastream_cdc_transactions_total Transactions whose events were all published.\n"
         "# TYPE datastream_cdc_transactions_total counter\n"
         "datastream_cdc_transactions_total %llu\n",
         (unsigned long long) atomic_load(&dscdc_metrics.transactions));
    EMIT("# HELP datastream_cdc_slot_lag_bytes WAL between the server's end and the position confirmed to the slot.\n"
         "# TYPE datastream_cdc_slot_lag_bytes gauge\n"
         "datastream_cdc_slot_lag_bytes %llu\n",
         (unsigned long long) (wal_end > confirmed ? wal_end - confirmed : 0));
    EMIT("# HELP datastream_cdc_confirmed_lsn Position confirmed to PostgreSQL: JetStream acked every event before it.\n"
         "# TYPE datastream_cdc_confirmed_lsn gauge\n"
         "datastream_cdc_confirmed_lsn %llu\n", (unsigned long long) confirmed);
    EMIT("# HELP datastream_cdc_publish_failures_total JetStream publishes not acknowledged (the stream is then resumed from the slot).\n"
         "# TYPE datastream_cdc_publish_failures_total counter\n"
         "datastream_cdc_publish_failures_total %llu\n",
         (unsigned long long) atomic_load(&dscdc_metrics.publish_failures));
    EMIT("# HELP datastream_cdc_restarts_total Times the replication stream was restarted after an error.\n"
         "# TYPE datastream_cdc_restarts_total counter\n"
         "datastream_cdc_restarts_total %llu\n",
         (unsigned long long) atomic_load(&dscdc_metrics.restarts));
    EMIT("# HELP datastream_cdc_streaming 1 while the replication stream is open.\n"
         "# TYPE datastream_cdc_streaming gauge\n"
         "datastream_cdc_streaming %d\n", atomic_load(&dscdc_metrics.streaming));
#undef EMIT
    return (int) len;
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct MHD_Response *resp;
    enum MHD_Result      ret;
    char                 body[4096];
    unsigned int         status = MHD_HTTP_OK;
    const char          *type = "application/json";
    int                  len;

    (void) cls; (void) version; (void) upload; (void) upload_size; (void) state;
    if (strcmp(method, "GET") != 0) {
        len = snprintf(body, sizeof(body), "{\"error\":\"Method not allowed\",\"success\":false}");
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") == 0) {
        len = render(body, sizeof(body));
        type = "text/plain; version=0.0.4";
        if (len < 0) {
            return MHD_NO;
        }
    } else if (strcmp(url, "/healthz") == 0) {
        len = snprintf(body, sizeof(body), "{\"status\":\"ok\"}");
    } else if (strcmp(url, "/readyz") == 0) {
        int streaming = atomic_load(&dscdc_metrics.streaming);
        len = snprintf(body, sizeof(body), "{\"status\":\"%s\"}", streaming ? "ready" : "not streaming");
        status = streaming ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    } else {
        len = snprintf(body, sizeof(body), "{\"error\":\"Not found\",\"success\":false}");
        status = MHD_HTTP_NOT_FOUND;
    }
    resp = MHD_create_response_from_buffer((size_t) len, body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, "Content-Type", type) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

dscdc_metrics_server_t *
dscdc_metrics_start(int port)
{
    dscdc_metrics_server_t *s = calloc(1, sizeof(*s));
    struct sockaddr_in      addr;

    if (s == NULL) {
        return NULL;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t) port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t) port, NULL, NULL,
                                 answer, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_END);
    if (s->daemon == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void
dscdc_metrics_stop(dscdc_metrics_server_t *s)
{
    if (s != NULL) {
        MHD_stop_daemon(s->daemon);
        free(s);
    }
}
