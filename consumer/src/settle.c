#include "settle.h"

#include "dead_letter.h"
#include "log.h"

#include <time.h>

double dsc_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dsc_delivery_init(dsc_delivery_t *d, natsMsg *msg, double received_at)
{
    d->msg = msg;
    d->deliveries = 1;
    d->stream_seq = 0;
    d->received_at = received_at;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        d->deliveries = meta->NumDelivered;
        d->stream_seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
    }
    if (d->deliveries > 1)
        dsc_metrics_redelivered();
}

static void log_settle_failure(const char *what, natsStatus s)
{
    /* The server redelivers after ACK_WAIT; processing is idempotent. */
    dsc_log(DSC_LOG_WARN, what, "{s:s}", "error", natsStatus_GetText(s));
}

void dsc_settle_ack(dsc_delivery_t *d, datastream_op_e op, dsc_result_e result)
{
    natsStatus s = natsMsg_Ack(d->msg, NULL);
    if (s != NATS_OK)
        log_settle_failure("ack failed", s);
    dsc_metrics_processed(op, result, dsc_clock_now() - d->received_at);
}

/* base, doubled per earlier delivery, at most NAK_DELAY_MAX_MS. */
static int64_t growing_delay(const dsc_config_t *cfg, int64_t base, uint64_t deliveries)
{
    int64_t delay = base;
    for (uint64_t i = 1; i < deliveries && delay < cfg->nak_delay_max_ms; i++)
        delay *= 2;
    return delay < cfg->nak_delay_max_ms ? delay : cfg->nak_delay_max_ms;
}

static void nak(dsc_delivery_t *d, datastream_op_e op, int64_t delay)
{
    natsStatus s = natsMsg_NakWithDelay(d->msg, delay, NULL);
    if (s != NATS_OK)
        log_settle_failure("nak failed", s);
    dsc_metrics_processed(op, DSC_RESULT_RETRIED, dsc_clock_now() - d->received_at);
}

void dsc_settle_retry(const dsc_config_t *cfg, dsc_delivery_t *d, datastream_op_e op)
{
    nak(d, op, growing_delay(cfg, cfg->nak_delay_base_ms, d->deliveries));
}

/* The holder normally publishes within milliseconds, hence the short first delay. It grows
 * because every wait is a delivery that counts against MAX_DELIVER: a holder retrying through
 * a NATS outage keeps its lease for as long as the outage lasts, and a fixed short delay
 * would use up MAX_DELIVER within seconds and make JetStream drop the message. */
void dsc_settle_lease_wait(const dsc_config_t *cfg, dsc_delivery_t *d, datastream_op_e op)
{
    dsc_metrics_lease_wait();
    nak(d, op, growing_delay(cfg, cfg->lease_wait_ms, d->deliveries));
}

void dsc_settle_dead_letter(const dsc_config_t *cfg, jsCtx *js, dsc_delivery_t *d,
                            datastream_op_e op, const char *reason)
{
    if (dsc_dead_letter_publish(js, d->msg, reason, d->stream_seq, d->deliveries) != 0) {
        dsc_metrics_sink_error(DSC_SINK_DLQ);
        dsc_settle_retry(cfg, d, op);
        return;
    }
    natsStatus s = natsMsg_Term(d->msg, NULL);
    if (s != NATS_OK)
        log_settle_failure("term failed", s);
    dsc_metrics_processed(op, DSC_RESULT_DEAD_LETTERED, dsc_clock_now() - d->received_at);
}
