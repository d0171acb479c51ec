/* JetStream input: the connection, the streams the consumer relies on, and one durable pull
 * subscription per table. */
#ifndef DSC_SOURCE_JETSTREAM_H
#define DSC_SOURCE_JETSTREAM_H

#include "config.h"

#include <nats/nats.h>
#include <stdbool.h>

typedef struct {
    natsConnection *nc;
    jsCtx *js;
} dsc_nats_t;

typedef struct {
    const dsc_config_t *cfg;
    dsc_nats_t *nats;
    const char *durable;
    char subject[DSC_TEXT_MAX + 32];
    natsSubscription *sub;
} dsc_source_t;

/* Starts connecting in the background (reconnects forever); never blocks on the server. */
int dsc_nats_open(dsc_nats_t *n, const dsc_config_t *cfg);
bool dsc_nats_connected(dsc_nats_t *n);
void dsc_nats_close(dsc_nats_t *n);

/* Creates the Debezium stream (CREATE_STREAM=1) and the dead-letter stream if missing. */
int dsc_nats_ensure_streams(dsc_nats_t *n, const dsc_config_t *cfg);

void dsc_source_init(dsc_source_t *s, const dsc_config_t *cfg, dsc_nats_t *nats,
                     const char *durable, const char *table);
/* Creates or updates the durable and binds to it. 0 once subscribed. */
int dsc_source_ensure(dsc_source_t *s);
/* NATS_OK with messages, NATS_TIMEOUT when idle, another status on failure. */
natsStatus dsc_source_fetch(dsc_source_t *s, natsMsgList *list);
/* num_pending + num_ack_pending, as KEDA computes lag; -1 when unavailable. */
int64_t dsc_source_lag(dsc_source_t *s);
void dsc_source_close(dsc_source_t *s);

#endif
