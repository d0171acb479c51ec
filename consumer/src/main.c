/* datastream-consumer: Debezium rounds/games events from JetStream into the Redis read
 * model and live publications. */
#include "config.h"
#include "http_status.h"
#include "log.h"
#include "metrics.h"
#include "process_games.h"
#include "process_rounds.h"
#include "settle.h"
#include "sink_redis.h"
#include "source_jetstream.h"
#include "worker.h"

#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROBE_INTERVAL_S 2.0

static atomic_bool stopping;

typedef struct {
    const dsc_config_t *cfg;
    dsc_rounds_stage_t *stage;
    dsc_redis_t *redis;    /* the fetch thread's connection */
    double next_probe;
    double next_lag;
} rounds_worker_state;

static void process_rounds(void *stage, natsMsgList *list)
{
    dsc_process_rounds(((rounds_worker_state *)stage)->stage, list);
}

static void drain_rounds(void *stage)
{
    dsc_rounds_stage_drain(((rounds_worker_state *)stage)->stage);
}

static void process_games(void *stage, natsMsgList *list)
{
    dsc_process_games(stage, list);
}

/* Keeps /readyz and the lag gauge current while the stream is idle. */
static void rounds_tick(void *stage, dsc_source_t *source)
{
    rounds_worker_state *w = stage;
    double now = dsc_clock_now();
    if (now >= w->next_probe) {
        w->next_probe = now + PROBE_INTERVAL_S;
        int64_t used, max;
        bool redis_up = dsc_redis_probe_memory(w->redis, &used, &max) == 0;
        dsc_metrics_set_dependency(DSC_DEP_REDIS, redis_up);
        if (redis_up)
            dsc_metrics_set_redis_memory(used, max);
    }
    if (now >= w->next_lag && dsc_nats_connected(source->nats)) {
        w->next_lag = now + (double)w->cfg->lag_refresh_ms / 1000.0;
        int64_t lag = dsc_source_lag(source);
        if (lag >= 0)
            dsc_metrics_set_lag(lag);
    }
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    if (sigwait(&set, &sig) != 0)
        return -1;
    return sig;
}

static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -1;
    /* Inherited by every thread created afterwards, so only sigwait sees them. */
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

static int run(const dsc_config_t *cfg)
{
    dsc_nats_t nats;
    if (dsc_nats_open(&nats, cfg) != 0)
        return 1;
    int rc = 1;
    dsc_http_status_t *status = dsc_http_status_start(cfg, &nats);
    dsc_redis_t *rounds_redis = dsc_redis_new(cfg), *publish_redis = dsc_redis_new(cfg);
    dsc_redis_t *games_redis = dsc_redis_new(cfg);
    dsc_source_t rounds_src, games_src;
    dsc_source_init(&rounds_src, cfg, &nats, cfg->durable_rounds, "rounds");
    dsc_source_init(&games_src, cfg, &nats, cfg->durable_games, "games");
    rounds_worker_state rstate = {cfg, NULL, rounds_redis, 0, 0};
    dsc_games_stage_t gstage = {cfg, &nats, games_redis};
    dsc_worker_t workers[] = {
        {"games", &games_src, &gstage, process_games, NULL, NULL, &stopping, 0},
        {"rounds", &rounds_src, &rstate, process_rounds, rounds_tick, drain_rounds, &stopping, 0},
    };
    size_t started = 0;
    if (!status || !rounds_redis || !publish_redis || !games_redis)
        goto out;
    rstate.stage = dsc_rounds_stage_start(cfg, &stopping, &nats, rounds_redis, publish_redis);
    if (!rstate.stage)
        goto out;
    for (; started < sizeof workers / sizeof workers[0]; started++)
        if (dsc_worker_start(&workers[started]) != 0)
            goto out;

    int sig = wait_for_signal();
    dsc_log(DSC_LOG_INFO, "shutting down", "{s:i, s:I}", "signal", sig, "grace_s",
            (json_int_t)cfg->shutdown_grace_s);
    rc = 0;
out:
    atomic_store(&stopping, true);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += cfg->shutdown_grace_s;
    for (size_t i = 0; i < started; i++) {
        if (dsc_worker_join(&workers[i], &deadline) != 0) {
            dsc_log(DSC_LOG_ERROR, "shutdown grace exceeded", "{s:s}", "worker", workers[i].name);
            _exit(1);
        }
    }
    if (dsc_rounds_stage_stop(rstate.stage, &deadline) != 0) {
        dsc_log(DSC_LOG_ERROR, "shutdown grace exceeded", "{s:s}", "worker", "rounds publisher");
        _exit(1);
    }
    dsc_source_close(&rounds_src);
    dsc_source_close(&games_src);
    dsc_nats_close(&nats);   /* flushes the last acks */
    dsc_redis_free(rounds_redis);
    dsc_redis_free(publish_redis);
    dsc_redis_free(games_redis);
    dsc_http_status_stop(status);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        dsc_config_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    dsc_config_t cfg;
    char err[512];
    if (dsc_config_load(&cfg, err, sizeof err) != 0) {
        dsc_log(DSC_LOG_ERROR, "invalid configuration", "{s:s}", "error", err);
        return 2;
    }
    if (block_signals() != 0) {
        dsc_log(DSC_LOG_ERROR, "signal setup failed", NULL);
        return 1;
    }
    dsc_log(DSC_LOG_INFO, "starting", "{s:s, s:s, s:s, s:s, s:s}", "nats_url", cfg.nats_url_logged,
            "nats_user", cfg.nats_user, "redis_url", cfg.redis_url, "stream", cfg.stream,
            "owner", cfg.owner);
    int rc = run(&cfg);
    nats_CloseAndWait(2000);
    dsc_log(DSC_LOG_INFO, "stopped", "{s:i}", "exit_code", rc);
    return rc;
}
