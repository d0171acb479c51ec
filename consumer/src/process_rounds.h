/* Batches of rounds events in two overlapping halves. The fetch thread decodes a batch,
 * resolves games and applies it to Redis, which publishes its live rounds to nchan in the same
 * script run; a publishing thread then publishes them to NATS, records the publications and
 * settles every message (ack only once the read model and the publications succeeded). While
 * one batch is being published the next one is fetched and applied; batches are published and
 * settled in fetch order. A failing NATS publication is retried in place while the next batch
 * waits, so subjects stay in order. Across processes, a round's versions are published to
 * NATS only by the holder of its publication lease (sink_redis.h); a message whose round
 * another process holds waits (NAK). */
#ifndef DSC_PROCESS_ROUNDS_H
#define DSC_PROCESS_ROUNDS_H

#include "config.h"
#include "sink_redis.h"
#include "source_jetstream.h"

#include <stdatomic.h>
#include <time.h>

typedef struct dsc_rounds_stage_s dsc_rounds_stage_t;

/* apply_redis is used by the fetch thread, publish_redis by the publishing thread. stop ends
 * the retrying of a failing publication (its batch is then NAKed). */
dsc_rounds_stage_t *dsc_rounds_stage_start(const dsc_config_t *cfg, const atomic_bool *stop,
                                           dsc_nats_t *nats, dsc_redis_t *apply_redis,
                                           dsc_redis_t *publish_redis);
/* Takes the messages out of list (the caller's destroy then frees nothing). */
void dsc_process_rounds(dsc_rounds_stage_t *st, natsMsgList *list);
/* Once no more batches come: finishes the batch being published (NAKed if its publication
 * was still failing when stop was set) and stops the thread.
 * -1 when that did not happen by deadline (CLOCK_REALTIME); the stage is then left as is. */
int dsc_rounds_stage_stop(dsc_rounds_stage_t *st, const struct timespec *deadline);
/* Returns once the publishing thread has settled and freed every batch handed
 * to it, so the subscription its messages came from may be closed. */
void dsc_rounds_stage_drain(dsc_rounds_stage_t *st);

#endif
