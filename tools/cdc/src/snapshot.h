/* The initial snapshot (Debezium's snapshot.mode=initial): every row of the
 * captured tables as op "r", read in the snapshot the new slot exported, so
 * the stream that follows starts exactly where the snapshot ends. */
#ifndef DSCDC_SNAPSHOT_H
#define DSCDC_SNAPSHOT_H

#include "bridge.h"

/* 0 once every row is published and acked; -1 on error. */
int dscdc_snapshot_run(dscdc_bridge_t *b, const char *snapshot_name, uint64_t consistent_lsn);

#endif
