/* What the snapshot and the stream share: the PostgreSQL and NATS handles, the
 * relation cache, and publishing one change as Debezium Server would. */
#ifndef DSCDC_BRIDGE_H
#define DSCDC_BRIDGE_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "debezium.h"
#include "nats_io.h"

#define DSCDC_MAX_RELATIONS 64

typedef struct {
    const dscdc_config_t *cfg;
    PGconn               *catalog;
    PGconn               *repl;
    dsf_nats_t            nats;
    char                  db[DSCDC_NAME_MAX];
    dscdc_table_t        *relations[DSCDC_MAX_RELATIONS];
    int                   nrelations;
    uint64_t              unacked;   /* events published since the last wait for acks */
    int                   snapshot_failed;   /* this process's snapshot of the slot did not finish */
} dscdc_bridge_t;

extern volatile sig_atomic_t dscdc_stop_requested;

/* Publishes one change to <prefix>.<schema>.<table>; the ack is collected by
 * dscdc_bridge_flush. 0 or -1. */
int dscdc_bridge_publish(dscdc_bridge_t *b, const dscdc_table_t *t,
                         const dscdc_change_t *chg, const dscdc_source_t *src);

/* Waits until JetStream acked every event published so far. 0 or -1. */
int dscdc_bridge_flush(dscdc_bridge_t *b);

int64_t dscdc_now_us(void);

#endif
