/* /healthz, /readyz and /metrics over libmicrohttpd (its own thread). */
#ifndef DS_HTTP_STATUS_H
#define DS_HTTP_STATUS_H

#include "config.h"
#include "source_jetstream.h"

typedef struct ds_http_status ds_http_status;

ds_http_status *ds_http_status_start(const ds_config *cfg, ds_nats *nats);
void ds_http_status_stop(ds_http_status *s);

#endif
