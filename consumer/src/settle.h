/* How a delivered message ends: ack, nak with a growing delay (after a failure, or while
 * another process holds the round's publication lease), or dead letter + term.
 * Each outcome is counted once in the metrics. */
#ifndef DS_SETTLE_H
#define DS_SETTLE_H

#include "config.h"
#include "metrics.h"

#include <nats/nats.h>
#include <stdint.h>

typedef struct {
    natsMsg *msg;
    uint64_t deliveries;
    uint64_t stream_seq;
    double received_at;     /* monotonic seconds */
} ds_delivery;

double ds_now(void);
void ds_delivery_init(ds_delivery *d, natsMsg *msg, double received_at);

void ds_settle_ack(ds_delivery *d, char op, ds_result result);
void ds_settle_retry(const ds_config *cfg, ds_delivery *d, char op);
void ds_settle_lease_wait(const ds_config *cfg, ds_delivery *d, char op);
void ds_settle_dead_letter(const ds_config *cfg, jsCtx *js, ds_delivery *d, char op,
                           const char *reason);

#endif
