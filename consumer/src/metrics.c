#include "metrics.h"

#include "json_text.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>

/* One row per op of the contract, and a last one for undecodable messages. */
#define OP_ROWS (DATASTREAM_OP_COUNT + 1)
static const char *const result_names[DSC_RESULT_COUNT] = {"applied", "skipped", "retried",
                                                           "dead_lettered", "ignored"};
static const char *const sink_names[DSC_SINK_COUNT] = {"redis", "nats", "dead_letter"};
static const char *const stage_names[DSC_STAGE_COUNT] = {
    "fetch", "decode", "games_lookup", "redis_apply", "handoff_wait", "nats",
    "redis_mark", "settle",
};
static const double buckets[] = {.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
#define BUCKET_COUNT (sizeof buckets / sizeof buckets[0])

static struct {
    pthread_mutex_t lock;
    uint64_t processed[OP_ROWS][DSC_RESULT_COUNT];
    uint64_t latency_buckets[BUCKET_COUNT];
    uint64_t latency_count;
    double latency_sum;
    uint64_t redeliveries;
    uint64_t sink_errors[DSC_SINK_COUNT];
    double stage_seconds[DSC_STAGE_COUNT];
    uint64_t lease_waits;
    uint64_t coalesced;
    int64_t lag;
    int64_t redis_used_memory;
    int64_t redis_maxmemory;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_bool dependency_up[DSC_DEP_COUNT];

static void add_count(uint64_t *counter, uint64_t n)
{
    pthread_mutex_lock(&m.lock);
    *counter += n;
    pthread_mutex_unlock(&m.lock);
}

void dsc_metrics_processed(datastream_op_e op, dsc_result_e result, double latency_seconds)
{
    pthread_mutex_lock(&m.lock);
    m.processed[op][result]++;
    for (size_t i = 0; i < BUCKET_COUNT; i++)
        if (latency_seconds <= buckets[i])
            m.latency_buckets[i]++;
    m.latency_count++;
    m.latency_sum += latency_seconds;
    pthread_mutex_unlock(&m.lock);
}

void dsc_metrics_redelivered(void)
{
    add_count(&m.redeliveries, 1);
}

void dsc_metrics_sink_error(dsc_sink_e sink)
{
    add_count(&m.sink_errors[sink], 1);
}

void dsc_metrics_stage(dsc_stage_e stage, double seconds)
{
    pthread_mutex_lock(&m.lock);
    m.stage_seconds[stage] += seconds;
    pthread_mutex_unlock(&m.lock);
}

void dsc_metrics_lease_wait(void)
{
    add_count(&m.lease_waits, 1);
}

void dsc_metrics_coalesced(size_t count)
{
    add_count(&m.coalesced, count);
}

void dsc_metrics_set_lag(int64_t lag)
{
    pthread_mutex_lock(&m.lock);
    m.lag = lag;
    pthread_mutex_unlock(&m.lock);
}

void dsc_metrics_set_redis_memory(int64_t used, int64_t max)
{
    pthread_mutex_lock(&m.lock);
    m.redis_used_memory = used;
    m.redis_maxmemory = max;
    pthread_mutex_unlock(&m.lock);
}

void dsc_metrics_set_dependency(dsc_dependency_e dep, bool up)
{
    atomic_store(&dependency_up[dep], up);
}

bool dsc_metrics_dependency(dsc_dependency_e dep)
{
    return atomic_load(&dependency_up[dep]);
}

static void line(dsc_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(dsc_text_t *t, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dsc_text_raw(t, buf);
}

char *dsc_metrics_render(void)
{
    dsc_text_t t = {0};
    pthread_mutex_lock(&m.lock);
    dsc_text_raw(&t, "# HELP datastream_messages_processed_total Change events handled, by op and result.\n"
                    "# TYPE datastream_messages_processed_total counter\n");
    for (int o = 0; o < OP_ROWS; o++) {
        const datastream_op_t *op = datastream_op_info((datastream_op_e)o);
        for (int r = 0; r < DSC_RESULT_COUNT; r++)
            line(&t, "datastream_messages_processed_total{op=\"%s\",result=\"%s\"} %llu\n",
                 op ? (char[]){op->letter, '\0'} : "unknown", result_names[r],
                 (unsigned long long)m.processed[o][r]);
    }
    dsc_text_raw(&t, "# HELP datastream_processing_latency_seconds Time from fetch to ack or nak.\n"
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
    line(&t, "# HELP datastream_redis_used_memory_bytes Redis used_memory at the last probe.\n"
             "# TYPE datastream_redis_used_memory_bytes gauge\ndatastream_redis_used_memory_bytes %lld\n",
         (long long)m.redis_used_memory);
    line(&t, "# HELP datastream_redis_maxmemory_bytes Redis maxmemory (0: no limit); with noeviction, "
             "writes fail once used memory reaches it.\n"
             "# TYPE datastream_redis_maxmemory_bytes gauge\ndatastream_redis_maxmemory_bytes %lld\n",
         (long long)m.redis_maxmemory);
    line(&t, "# HELP datastream_redeliveries_total Messages received more than once.\n"
             "# TYPE datastream_redeliveries_total counter\ndatastream_redeliveries_total %llu\n",
         (unsigned long long)m.redeliveries);
    uint64_t dead = 0;
    for (int o = 0; o < OP_ROWS; o++)
        dead += m.processed[o][DSC_RESULT_DEAD_LETTERED];
    line(&t, "# HELP datastream_dead_letters_total Messages sent to the dead-letter stream.\n"
             "# TYPE datastream_dead_letters_total counter\ndatastream_dead_letters_total %llu\n",
         (unsigned long long)dead);
    dsc_text_raw(&t, "# HELP datastream_sink_errors_total Failed writes, by sink.\n"
                    "# TYPE datastream_sink_errors_total counter\n");
    for (int s = 0; s < DSC_SINK_COUNT; s++)
        line(&t, "datastream_sink_errors_total{sink=\"%s\"} %llu\n", sink_names[s],
             (unsigned long long)m.sink_errors[s]);
    dsc_text_raw(&t, "# HELP datastream_publication_lease_waits_total Messages NAKed while another "
                    "process held their round's publication lease.\n"
                    "# TYPE datastream_publication_lease_waits_total counter\n");
    line(&t, "datastream_publication_lease_waits_total %llu\n", (unsigned long long)m.lease_waits);
    dsc_text_raw(&t, "# HELP datastream_publications_coalesced_total NATS publications dropped "
                    "because a newer version of their round overtook them.\n"
                    "# TYPE datastream_publications_coalesced_total counter\n");
    line(&t, "datastream_publications_coalesced_total %llu\n", (unsigned long long)m.coalesced);
    dsc_text_raw(&t, "# HELP datastream_stage_seconds_total Time spent in each stage of rounds batches.\n"
                    "# TYPE datastream_stage_seconds_total counter\n");
    for (int s = 0; s < DSC_STAGE_COUNT; s++)
        line(&t, "datastream_stage_seconds_total{stage=\"%s\"} %.6f\n", stage_names[s],
             m.stage_seconds[s]);
    pthread_mutex_unlock(&m.lock);
    return dsc_text_finish(&t);
}
