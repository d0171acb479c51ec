/* /healthz, /readyz and /metrics over libmicrohttpd (its own thread). */
#ifndef DSC_HTTP_STATUS_H
#define DSC_HTTP_STATUS_H

#include "config.h"
#include "source_jetstream.h"

typedef struct dsc_http_status_s dsc_http_status_t;

dsc_http_status_t *dsc_http_status_start(const dsc_config_t *cfg, dsc_nats_t *nats);
void dsc_http_status_stop(dsc_http_status_t *s);

#endif
