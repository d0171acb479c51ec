#include "replication.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "log.h"
#include "pgoutput.h"

int
dscdc_lsn_parse(const char *text, uint64_t *lsn)
{
    unsigned int hi, lo;
    int          n = 0;

    if (sscanf(text, "%X/%X%n", &hi, &lo, &n) != 2 || text[n] != '\0') {
        return -1;
    }
    *lsn = ((uint64_t) hi << 32) | lo;
    return 0;
}

void
dscdc_lsn_format(uint64_t lsn, char *out, size_t cap)
{
    snprintf(out, cap, "%X/%X", (unsigned int) (lsn >> 32), (unsigned int) lsn);
}

int
dscdc_slot_create(PGconn *repl, const char *slot, int export_snapshot,
                  uint64_t *consistent_lsn, char *snapshot_name, size_t cap)
{
    char      sql[256];
    PGresult *res;
    int       rc = -1;

    snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT '%s')",
             slot, export_snapshot ? "export" : "nothing");
    res = PQexec(repl, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        dscdc_log("error", "cannot create replication slot", "slot", slot,
                  "error", PQerrorMessage(repl), NULL);
    } else if (dscdc_lsn_parse(PQgetvalue(res, 0, 1), consistent_lsn) == 0
               && (size_t) snprintf(snapshot_name, cap, "%s", PQgetvalue(res, 0, 2)) < cap)
    {
        dscdc_log("info", "replication slot created", "slot", slot,
                  "consistent_point", PQgetvalue(res, 0, 1), NULL);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

int
dscdc_replication_start(PGconn *repl, const char *slot, const char *publication)
{
    char      sql[512];
    PGresult *res;
    int       ok;

    /* 0/0: from the slot's confirmed position; protocol 1 sends each
     * transaction once, at its commit. */
    snprintf(sql, sizeof(sql),
             "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names '%s')",
             slot, publication);
    res = PQexec(repl, sql);
    ok = res != NULL && PQresultStatus(res) == PGRES_COPY_BOTH;
    if (!ok) {
        dscdc_log("error", "cannot start replication", "slot", slot,
                  "error", PQerrorMessage(repl), NULL);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

static uint64_t
be64(const char *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = (v << 8) | (unsigned char) p[i];
    }
    return v;
}

static void
put_be64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char) (v & 0xff);
        v >>= 8;
    }
}

void
dscdc_replication_read(PGconn *repl, dscdc_frame_t *f)
{
    char *buf = NULL;
    int   n = PQgetCopyData(repl, &buf, 1);

    memset(f, 0, sizeof(*f));
    if (n == 0) {
        f->kind = DSCDC_FRAME_NONE;
        return;
    }
    if (n < 0) {
        PGresult *res;
        dscdc_log("error", "replication stream ended", "error", PQerrorMessage(repl), NULL);
        while ((res = PQgetResult(repl)) != NULL) {
            PQclear(res);
        }
        f->kind = DSCDC_FRAME_ERROR;
        return;
    }
    f->buffer = buf;
    if (buf[0] == 'w' && n >= 25) {
        f->kind = DSCDC_FRAME_XLOGDATA;
        f->wal_start = be64(buf + 1);
        f->wal_end = be64(buf + 9);
        f->data = buf + 25;
        f->len = (size_t) n - 25;
    } else if (buf[0] == 'k' && n >= 18) {
        f->kind = DSCDC_FRAME_KEEPALIVE;
        f->wal_end = be64(buf + 1);
        f->reply_requested = buf[17] != 0;
    } else {
        dscdc_log("error", "unexpected replication frame", NULL);
        f->kind = DSCDC_FRAME_ERROR;
    }
}

int
dscdc_replication_wait(PGconn *repl, int timeout_ms)
{
    struct pollfd pfd = { PQsocket(repl), POLLIN, 0 };

    if (pfd.fd < 0 || poll(&pfd, 1, timeout_ms) < 0) {
        return -1;
    }
    return PQconsumeInput(repl) ? 0 : -1;
}

int
dscdc_replication_confirm(PGconn *repl, uint64_t flushed_lsn)
{
    char           msg[34];
    struct timeval tv;
    int64_t        now_pg_us;

    gettimeofday(&tv, NULL);
    now_pg_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec - DSCDC_PG_EPOCH_US;
    msg[0] = 'r';
    put_be64(msg + 1, flushed_lsn);    /* written */
    put_be64(msg + 9, flushed_lsn);    /* flushed: the slot's confirmed position */
    put_be64(msg + 17, flushed_lsn);   /* applied */
    put_be64(msg + 25, (uint64_t) now_pg_us);
    msg[33] = 0;
    if (PQputCopyData(repl, msg, sizeof(msg)) != 1 || PQflush(repl) != 0) {
        dscdc_log("error", "cannot confirm position", "error", PQerrorMessage(repl), NULL);
        return -1;
    }
    return 0;
}
