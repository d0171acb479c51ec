#include "http_status.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dsc_http_status_s {
    struct MHD_Daemon *daemon;
    dsc_nats_t *nats;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type,
                             const char *body, bool owned)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (owned)
            free((void *)body);
        return MHD_NO;
    }
    enum MHD_Result r = MHD_add_response_header(resp, "Content-Type", type);
    if (r == MHD_YES)
        r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    dsc_http_status_t *s = cls;
    const char *json = "application/json";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, 405, json, "{\"error\":\"method not allowed\"}", false);
    if (strcmp(url, "/healthz") == 0)
        return reply(conn, 200, json, "{\"status\":\"ok\"}", false);
    if (strcmp(url, "/readyz") == 0) {
        bool nats = dsc_nats_connected(s->nats);
        bool redis = dsc_metrics_dependency(DSC_DEP_REDIS);
        char body[64];
        snprintf(body, sizeof body, "{\"nats\":%s,\"redis\":%s}", nats ? "true" : "false",
                 redis ? "true" : "false");
        return reply(conn, nats && redis ? 200 : 503, json, body, false);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = dsc_metrics_render();
        if (!text)
            return reply(conn, 500, json, "{\"error\":\"out of memory\"}", false);
        return reply(conn, 200, "text/plain; version=0.0.4", text, true);
    }
    return reply(conn, 404, json, "{\"error\":\"not found\"}", false);
}

dsc_http_status_t *dsc_http_status_start(const dsc_config_t *cfg, dsc_nats_t *nats)
{
    dsc_http_status_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nats = nats;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->metrics_port)};
    if (inet_pton(AF_INET, cfg->metrics_addr, &addr.sin_addr) != 1) {
        dsc_log(DSC_LOG_ERROR, "METRICS_ADDR is not an IPv4 address", "{s:s}", "addr",
                cfg->metrics_addr);
        free(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        dsc_log(DSC_LOG_ERROR, "metrics listener failed", "{s:s, s:I}", "addr", cfg->metrics_addr,
                "port", (json_int_t)cfg->metrics_port);
        free(s);
        return NULL;
    }
    dsc_log(DSC_LOG_INFO, "metrics listening", "{s:s, s:I}", "addr", cfg->metrics_addr, "port",
            (json_int_t)cfg->metrics_port);
    return s;
}

void dsc_http_status_stop(dsc_http_status_t *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
