/* JetStream input: the connection, the streams the consumer relies on, and one durable pull
 * subscription per table. */
#ifndef DS_SOURCE_JETSTREAM_H
#define DS_SOURCE_JETSTREAM_H

#include "config.h"

#include <nats/nats.h>
#include <stdbool.h>

typedef struct {
    natsConnection *nc;
    jsCtx *js;
} ds_nats;

typedef struct {
    const ds_config *cfg;
    ds_nats *nats;
    const char *durable;
    char subject[DS_TEXT_MAX + 32];
    natsSubscription *sub;
} ds_source;

/* Starts connecting in the background (reconnects forever); never blocks on the server. */
int ds_nats_open(ds_nats *n, const ds_config *cfg);
bool ds_nats_connected(ds_nats *n);
void ds_nats_close(ds_nats *n);

/* Creates the Debezium stream (CREATE_STREAM=1) and the dead-letter stream if missing. */
int ds_nats_ensure_streams(ds_nats *n, const ds_config *cfg);

void ds_source_init(ds_source *s, const ds_config *cfg, ds_nats *nats, const char *durable,
                    const char *table);
/* Creates or updates the durable and binds to it. 0 once subscribed. */
int ds_source_ensure(ds_source *s);
/* NATS_OK with messages, NATS_TIMEOUT when idle, another status on failure. */
natsStatus ds_source_fetch(ds_source *s, natsMsgList *list);
/* num_pending + num_ack_pending, as KEDA computes lag; -1 when unavailable. */
int64_t ds_source_lag(ds_source *s);
void ds_source_close(ds_source *s);

#endif
