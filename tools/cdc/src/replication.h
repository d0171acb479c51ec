/* The walsender side: the slot, START_REPLICATION with pgoutput, the
 * CopyBoth stream's XLogData and keepalives, and standby status updates. */
#ifndef DSCDC_REPLICATION_H
#define DSCDC_REPLICATION_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define DSCDC_SNAPSHOT_NAME_MAX 64

/* Creates a pgoutput slot; with export_snapshot, the snapshot stays usable by
 * SET TRANSACTION SNAPSHOT until the next command on `repl`. */
int dscdc_slot_create(PGconn *repl, const char *slot, int export_snapshot,
                      uint64_t *consistent_lsn, char *snapshot_name, size_t cap);

int dscdc_replication_start(PGconn *repl, const char *slot, const char *publication);

typedef enum {
    DSCDC_FRAME_NONE,        /* nothing available yet */
    DSCDC_FRAME_XLOGDATA,
    DSCDC_FRAME_KEEPALIVE,
    DSCDC_FRAME_ERROR,       /* the stream ended or broke: start again */
} dscdc_frame_kind_e;

typedef struct {
    dscdc_frame_kind_e kind;
    uint64_t           wal_start;   /* XLogData: where its message starts */
    uint64_t           wal_end;     /* the server's end of WAL */
    int                reply_requested;
    const char        *data;        /* XLogData payload: one pgoutput message */
    size_t             len;
    char              *buffer;      /* PQfreemem it */
} dscdc_frame_t;

/* Reads one frame without blocking. */
void dscdc_replication_read(PGconn *repl, dscdc_frame_t *frame);

/* Waits up to timeout_ms for the socket to be readable. 0, or -1 on error. */
int dscdc_replication_wait(PGconn *repl, int timeout_ms);

/* Tells the server everything up to flushed_lsn is safe: it may recycle that WAL. */
int dscdc_replication_confirm(PGconn *repl, uint64_t flushed_lsn);

/* "16/B374D848" <-> LSN. */
int  dscdc_lsn_parse(const char *text, uint64_t *lsn);
void dscdc_lsn_format(uint64_t lsn, char *out, size_t cap);

#endif
