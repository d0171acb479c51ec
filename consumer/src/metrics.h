/* Process-wide counters and readiness flags, rendered in the Prometheus text format. */
#ifndef DSC_METRICS_H
#define DSC_METRICS_H

#include "datastream_contract.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DSC_RESULT_APPLIED, DSC_RESULT_SKIPPED, DSC_RESULT_RETRIED, DSC_RESULT_DEAD_LETTERED,
    DSC_RESULT_IGNORED, DSC_RESULT_COUNT
} dsc_result_e;

typedef enum {
    DSC_SINK_REDIS, DSC_SINK_NATS, DSC_SINK_DLQ, DSC_SINK_COUNT
} dsc_sink_e;

typedef enum { DSC_DEP_REDIS, DSC_DEP_COUNT } dsc_dependency_e;

/* Where rounds batches spend their time, summed per stage so that a throughput run shows the
 * bottleneck without a profiler. Fetch to handoff_wait run on the fetch thread (redis_apply
 * includes the publication to nchan; handoff_wait: waiting for the previous batch to be
 * handed to the publishing thread), nats to settle on the publishing thread. */
typedef enum {
    DSC_STAGE_FETCH, DSC_STAGE_DECODE, DSC_STAGE_GAMES_LOOKUP, DSC_STAGE_REDIS_APPLY,
    DSC_STAGE_HANDOFF_WAIT, DSC_STAGE_NATS, DSC_STAGE_REDIS_MARK, DSC_STAGE_SETTLE,
    DSC_STAGE_COUNT
} dsc_stage_e;

/* op: DATASTREAM_OP_COUNT when the message could not be decoded. */
void dsc_metrics_processed(datastream_op_e op, dsc_result_e result, double latency_seconds);
void dsc_metrics_redelivered(void);
void dsc_metrics_sink_error(dsc_sink_e sink);
void dsc_metrics_set_lag(int64_t lag);
void dsc_metrics_set_redis_memory(int64_t used, int64_t max);
void dsc_metrics_set_dependency(dsc_dependency_e dep, bool up);
bool dsc_metrics_dependency(dsc_dependency_e dep);
void dsc_metrics_stage(dsc_stage_e stage, double seconds);
/* A message NAKed because another process holds its round's publication lease. */
void dsc_metrics_lease_wait(void);
/* Publications dropped because a newer version of their round overtook them. */
void dsc_metrics_coalesced(size_t count);

/* Returns a malloc'd exposition text, or NULL. */
char *dsc_metrics_render(void);

#endif
