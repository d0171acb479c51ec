#include "metrics.h"

#include "json_text.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char ops[] = "cudrtm?";
#define OP_COUNT (sizeof ops - 1)
static const char *const result_names[RESULT_COUNT] = {"applied", "skipped", "retried",
                                                      "dead_lettered", "ignored"};
static const char *const sink_names[SINK_COUNT] = {"redis", "nchan", "nats", "dead_letter"};
static const char *const stage_names[STAGE_COUNT] = {
    "fetch", "decode", "games_lookup", "redis_apply", "handoff_wait", "nchan", "nats",
    "redis_mark", "settle",
};
static const double buckets[] = {.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
#define BUCKET_COUNT (sizeof buckets / sizeof buckets[0])

static struct {
    pthread_mutex_t lock;
    uint64_t processed[OP_COUNT][RESULT_COUNT];
    uint64_t latency_buckets[BUCKET_COUNT];
    uint64_t latency_count;
    double latency_sum;
    uint64_t redeliveries;
    uint64_t sink_errors[SINK_COUNT];
    double stage_seconds[STAGE_COUNT];
    uint64_t lease_waits;
    uint64_t coalesced;
    int64_t lag;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool dependency_up[DEP_COUNT];

static size_t op_index(char op)
{
    const char *p = op ? strchr(ops, op) : NULL;
    return p ? (size_t)(p - ops) : OP_COUNT - 1;
}

void ds_metrics_processed(char op, ds_result result, double latency_seconds)
{
    pthread_mutex_lock(&m.lock);
    m.processed[op_index(op)][result]++;
    for (size_t i = 0; i < BUCKET_COUNT; i++)
        if (latency_seconds <= buckets[i])
            m.latency_buckets[i]++;
    m.latency_count++;
    m.latency_sum += latency_seconds;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_redelivered(void)
{
    pthread_mutex_lock(&m.lock);
    m.redeliveries++;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_sink_error(ds_sink sink)
{
    pthread_mutex_lock(&m.lock);
    m.sink_errors[sink]++;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_stage(ds_stage stage, double seconds)
{
    pthread_mutex_lock(&m.lock);
    m.stage_seconds[stage] += seconds;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_lease_wait(void)
{
    pthread_mutex_lock(&m.lock);
    m.lease_waits++;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_coalesced(size_t count)
{
    pthread_mutex_lock(&m.lock);
    m.coalesced += count;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_set_lag(int64_t lag)
{
    pthread_mutex_lock(&m.lock);
    m.lag = lag;
    pthread_mutex_unlock(&m.lock);
}

void ds_metrics_set_dependency(ds_dependency dep, bool up)
{
    atomic_store(&dependency_up[dep], up);
}

bool ds_metrics_dependency(ds_dependency dep)
{
    return atomic_load(&dependency_up[dep]);
}

static void line(ds_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(ds_text *t, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ds_text_raw(t, buf);
}

char *ds_metrics_render(void)
{
    ds_text t = {0};
    pthread_mutex_lock(&m.lock);
    ds_text_raw(&t, "# HELP datastream_messages_processed_total Change events handled, by op and result.\n"
                    "# TYPE datastream_messages_processed_total counter\n");
    for (size_t o = 0; o < OP_COUNT; o++)
        for (int r = 0; r < RESULT_COUNT; r++)
            line(&t, "datastream_messages_processed_total{op=\"%s\",result=\"%s\"} %llu\n",
                 o == OP_COUNT - 1 ? "unknown" : (char[]){ops[o], '\0'}, result_names[r],
                 (unsigned long long)m.processed[o][r]);
    ds_text_raw(&t, "# HELP datastream_processing_latency_seconds Time from fetch to ack or nak.\n"
                    "# TYPE datastream_processing_latency_seconds histogram\n");
    for (size_t i = 0; i < BUCKET_COUNT; i++)
        line(&t, "datastream_processing_latency_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
             (unsigned long long)m.latency_buckets[i]);
    line(&t, "datastream_processing_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
         (unsigned long long)m.latency_count);
    line(&t, "datastream_processing_latency_seconds_sum %.6f\n", m.latency_sum);
    line(&t, "datastream_processing_latency_seconds_count %llu\n",
         (unsigned long long)m.latency_count);
    line(&t, "# HELP datastream_consumer_lag Pending plus unacknowledged messages of the rounds durable.\n"
             "# TYPE datastream_consumer_lag gauge\ndatastream_consumer_lag %lld\n",
         (long long)m.lag);
    line(&t, "# HELP datastream_redeliveries_total Messages received more than once.\n"
             "# TYPE datastream_redeliveries_total counter\ndatastream_redeliveries_total %llu\n",
         (unsigned long long)m.redeliveries);
    uint64_t dead = 0;
    for (size_t o = 0; o < OP_COUNT; o++)
        dead += m.processed[o][RESULT_DEAD_LETTERED];
    line(&t, "# HELP datastream_dead_letters_total Messages sent to the dead-letter stream.\n"
             "# TYPE datastream_dead_letters_total counter\ndatastream_dead_letters_total %llu\n",
         (unsigned long long)dead);
    ds_text_raw(&t, "# HELP datastream_sink_errors_total Failed writes, by sink.\n"
                    "# TYPE datastream_sink_errors_total counter\n");
    for (int s = 0; s < SINK_COUNT; s++)
        line(&t, "datastream_sink_errors_total{sink=\"%s\"} %llu\n", sink_names[s],
             (unsigned long long)m.sink_errors[s]);
    ds_text_raw(&t, "# HELP datastream_publication_lease_waits_total Messages NAKed while another "
                    "process held their round's publication lease.\n"
                    "# TYPE datastream_publication_lease_waits_total counter\n");
    line(&t, "datastream_publication_lease_waits_total %llu\n", (unsigned long long)m.lease_waits);
    ds_text_raw(&t, "# HELP datastream_publications_coalesced_total Publications dropped because "
                    "a newer version of their round overtook them.\n"
                    "# TYPE datastream_publications_coalesced_total counter\n");
    line(&t, "datastream_publications_coalesced_total %llu\n", (unsigned long long)m.coalesced);
    ds_text_raw(&t, "# HELP datastream_stage_seconds_total Time spent in each stage of rounds batches.\n"
                    "# TYPE datastream_stage_seconds_total counter\n");
    for (int s = 0; s < STAGE_COUNT; s++)
        line(&t, "datastream_stage_seconds_total{stage=\"%s\"} %.6f\n", stage_names[s],
             m.stage_seconds[s]);
    pthread_mutex_unlock(&m.lock);
    return ds_text_finish(&t);
}
