#include "worker.h"

#include "log.h"

#include <time.h>

#define RETRY_PAUSE_MS 500
#define PAUSE_STEP_MS 50

void dsc_worker_pause(const atomic_bool *stop, int ms)
{
    struct timespec step = {0, PAUSE_STEP_MS * 1000000L};
    for (int waited = 0; waited < ms && !atomic_load(stop); waited += PAUSE_STEP_MS)
        nanosleep(&step, NULL);
}

static void *run(void *arg)
{
    dsc_worker_t *w = arg;
    dsc_log(DSC_LOG_INFO, "worker started", "{s:s}", "worker", w->name);
    while (!atomic_load(w->stop)) {
        if (dsc_source_ensure(w->source) != 0) {
            if (w->tick)
                w->tick(w->stage, w->source);
            dsc_worker_pause(w->stop, RETRY_PAUSE_MS);
            continue;
        }
        natsMsgList list;
        natsStatus s = dsc_source_fetch(w->source, &list);
        if (s == NATS_OK)
            w->process(w->stage, &list);
        natsMsgList_Destroy(&list);
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            dsc_log(DSC_LOG_WARN, "fetch failed", "{s:s, s:s}", "worker", w->name, "error",
                    natsStatus_GetText(s));
            /* Rebinding re-creates the durable if the server lost it. */
            if (w->drain)
                w->drain(w->stage);
            dsc_source_close(w->source);
            dsc_worker_pause(w->stop, RETRY_PAUSE_MS);
        }
        if (w->tick)
            w->tick(w->stage, w->source);
    }
    dsc_log(DSC_LOG_INFO, "worker stopped", "{s:s}", "worker", w->name);
    return NULL;
}

int dsc_worker_start(dsc_worker_t *w)
{
    return pthread_create(&w->thread, NULL, run, w) == 0 ? 0 : -1;
}

int dsc_worker_join(dsc_worker_t *w, const struct timespec *deadline)
{
    return pthread_timedjoin_np(w->thread, NULL, deadline) == 0 ? 0 : -1;
}
