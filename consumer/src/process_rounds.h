/* Batches of rounds events in two overlapping halves. The fetch thread decodes a batch,
 * resolves games and applies it to Redis; a publishing thread then publishes it live (nchan,
 * then NATS), records the publications and settles every message (ack only once the read
 * model and the publications succeeded). While one batch is being published the next one is
 * fetched and applied; batches are published and settled in fetch order. A failing
 * publication is retried in place while the next batch waits, so channels stay in order.
 * Across processes, a round's versions are published only by the holder of its publication
 * lease (sink_redis.h); a message whose round another process holds waits (NAK). */
#ifndef DS_PROCESS_ROUNDS_H
#define DS_PROCESS_ROUNDS_H

#include "config.h"
#include "sink_nchan.h"
#include "sink_redis.h"
#include "source_jetstream.h"

#include <stdatomic.h>
#include <time.h>

typedef struct ds_rounds_stage ds_rounds_stage;

/* apply_redis is used by the fetch thread, publish_redis by the publishing thread. stop ends
 * the retrying of a failing publication (its batch is then NAKed). */
ds_rounds_stage *ds_rounds_stage_start(const ds_config *cfg, const atomic_bool *stop, ds_nats *nats,
                                       ds_redis *apply_redis, ds_redis *publish_redis,
                                       ds_nchan *nchan);
/* Takes the messages out of list (the caller's destroy then frees nothing). */
void ds_process_rounds(ds_rounds_stage *st, natsMsgList *list);
/* Once no more batches come: finishes the batch being published (NAKed if its publication
 * was still failing when stop was set) and stops the thread.
 * -1 when that did not happen by deadline (CLOCK_REALTIME); the stage is then left as is. */
int ds_rounds_stage_stop(ds_rounds_stage *st, const struct timespec *deadline);
/* Returns once the publishing thread has settled and freed every batch handed
 * to it, so the subscription its messages came from may be closed. */
void ds_rounds_stage_drain(ds_rounds_stage *st);

#endif
