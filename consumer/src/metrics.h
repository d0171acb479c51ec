/* Process-wide counters and readiness flags, rendered in the Prometheus text format. */
#ifndef DS_METRICS_H
#define DS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    RESULT_APPLIED, RESULT_SKIPPED, RESULT_RETRIED, RESULT_DEAD_LETTERED, RESULT_IGNORED,
    RESULT_COUNT
} ds_result;

typedef enum { SINK_REDIS, SINK_NCHAN, SINK_NATS, SINK_DLQ, SINK_COUNT } ds_sink;

typedef enum { DEP_REDIS, DEP_PUBLISHER, DEP_COUNT } ds_dependency;

/* Where rounds batches spend their time, summed per stage so that a throughput run shows the
 * bottleneck without a profiler. Fetch to handoff_wait run on the fetch thread (handoff_wait:
 * waiting for the previous batch to be published), nchan to settle on the publishing thread. */
typedef enum {
    STAGE_FETCH, STAGE_DECODE, STAGE_GAMES_LOOKUP, STAGE_REDIS_APPLY, STAGE_HANDOFF_WAIT,
    STAGE_NCHAN, STAGE_NATS, STAGE_REDIS_MARK, STAGE_SETTLE, STAGE_COUNT
} ds_stage;

/* op: 'c','u','d','r','t','m', or 0 when the message could not be decoded. */
void ds_metrics_processed(char op, ds_result result, double latency_seconds);
void ds_metrics_redelivered(void);
void ds_metrics_sink_error(ds_sink sink);
void ds_metrics_set_lag(int64_t lag);
void ds_metrics_set_dependency(ds_dependency dep, bool up);
bool ds_metrics_dependency(ds_dependency dep);
void ds_metrics_stage(ds_stage stage, double seconds);
/* A message NAKed because another process holds its round's publication lease. */
void ds_metrics_lease_wait(void);
/* Publications dropped because a newer version of their round overtook them. */
void ds_metrics_coalesced(size_t count);

/* Returns a malloc'd exposition text, or NULL. */
char *ds_metrics_render(void);

#endif
