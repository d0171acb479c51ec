#include "settle.h"

#include "dead_letter.h"
#include "log.h"

#include <time.h>

double ds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ds_delivery_init(ds_delivery *d, natsMsg *msg, double received_at)
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
        ds_metrics_redelivered();
}

static void log_settle_failure(const char *what, natsStatus s)
{
    /* The server redelivers after ACK_WAIT; processing is idempotent. */
    ds_log(LOG_WARN, what, "{s:s}", "error", natsStatus_GetText(s));
}

void ds_settle_ack(ds_delivery *d, char op, ds_result result)
{
    natsStatus s = natsMsg_Ack(d->msg, NULL);
    if (s != NATS_OK)
        log_settle_failure("ack failed", s);
    ds_metrics_processed(op, result, ds_now() - d->received_at);
}

/* base, doubled per earlier delivery, at most NAK_DELAY_MAX_MS. */
static int64_t growing_delay(const ds_config *cfg, int64_t base, uint64_t deliveries)
{
    int64_t delay = base;
    for (uint64_t i = 1; i < deliveries && delay < cfg->nak_delay_max_ms; i++)
        delay *= 2;
    return delay < cfg->nak_delay_max_ms ? delay : cfg->nak_delay_max_ms;
}

static void nak(ds_delivery *d, char op, int64_t delay)
{
    natsStatus s = natsMsg_NakWithDelay(d->msg, delay, NULL);
    if (s != NATS_OK)
        log_settle_failure("nak failed", s);
    ds_metrics_processed(op, RESULT_RETRIED, ds_now() - d->received_at);
}

void ds_settle_retry(const ds_config *cfg, ds_delivery *d, char op)
{
    nak(d, op, growing_delay(cfg, cfg->nak_delay_base_ms, d->deliveries));
}

/* The holder normally publishes within milliseconds, hence the short first delay. It grows
 * because every wait is a delivery that counts against MAX_DELIVER: a holder retrying through
 * a publisher outage keeps its lease for as long as the outage lasts, and a fixed short delay
 * would use up MAX_DELIVER within seconds and make JetStream drop the message. */
void ds_settle_lease_wait(const ds_config *cfg, ds_delivery *d, char op)
{
    ds_metrics_lease_wait();
    nak(d, op, growing_delay(cfg, cfg->lease_wait_ms, d->deliveries));
}

void ds_settle_dead_letter(const ds_config *cfg, jsCtx *js, ds_delivery *d, char op,
                           const char *reason)
{
    if (ds_dead_letter(js, d->msg, reason, d->stream_seq, d->deliveries) != 0) {
        ds_metrics_sink_error(SINK_DLQ);
        ds_settle_retry(cfg, d, op);
        return;
    }
    natsStatus s = natsMsg_Term(d->msg, NULL);
    if (s != NATS_OK)
        log_settle_failure("term failed", s);
    ds_metrics_processed(op, RESULT_DEAD_LETTERED, ds_now() - d->received_at);
}
