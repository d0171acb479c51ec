/* How a delivered message ends: ack, nak with a growing delay (after a failure, or while
 * another process holds the round's publication lease), or dead letter + term.
 * Each outcome is counted once in the metrics. */
#ifndef DSC_SETTLE_H
#define DSC_SETTLE_H

#include "config.h"
#include "metrics.h"

#include <nats/nats.h>
#include <stdint.h>

typedef struct {
    natsMsg *msg;
    uint64_t deliveries;
    uint64_t stream_seq;
    double received_at;     /* monotonic seconds */
} dsc_delivery_t;

double dsc_clock_now(void);
void dsc_delivery_init(dsc_delivery_t *d, natsMsg *msg, double received_at);

/* op: the message's, DATASTREAM_OP_COUNT when it could not be decoded. */
void dsc_settle_ack(dsc_delivery_t *d, datastream_op_e op, dsc_result_e result);
void dsc_settle_retry(const dsc_config_t *cfg, dsc_delivery_t *d, datastream_op_e op);
void dsc_settle_lease_wait(const dsc_config_t *cfg, dsc_delivery_t *d, datastream_op_e op);
void dsc_settle_dead_letter(const dsc_config_t *cfg, jsCtx *js, dsc_delivery_t *d,
                            datastream_op_e op, const char *reason);

#endif
