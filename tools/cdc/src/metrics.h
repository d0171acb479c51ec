/* The bridge's counters and gauges, and /metrics /healthz /readyz on its own
 * libmicrohttpd thread. The replication loop writes, the HTTP thread reads. */
#ifndef DSCDC_METRICS_H
#define DSCDC_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
    atomic_uint_fast64_t events[5];          /* by op: c u d r t */
    atomic_uint_fast64_t transactions;
    atomic_uint_fast64_t publish_failures;
    atomic_uint_fast64_t restarts;
    atomic_uint_fast64_t server_wal_end;     /* the server's WAL end, from the stream */
    atomic_uint_fast64_t confirmed_lsn;      /* flushed: JetStream acked everything up to it */
    atomic_uint_fast64_t events_per_second;  /* over the last STATUS window, x1000 */
    atomic_int           streaming;
} dscdc_metrics_t;

extern dscdc_metrics_t dscdc_metrics;

/* The op letters, in the order of dscdc_metrics.events. */
#define DSCDC_OPS "cudrt"

void dscdc_metrics_count_event(char op);

typedef struct dscdc_metrics_server_s dscdc_metrics_server_t;

dscdc_metrics_server_t *dscdc_metrics_start(int port);
void dscdc_metrics_stop(dscdc_metrics_server_t *s);

#endif
