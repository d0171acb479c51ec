#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"


static PGresult *
fetch(PGconn *conn)
{
    PGresult *res = PQexec(conn, "FETCH 1000 FROM datastream_snapshot");

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        dscdc_log("error", "snapshot read failed", "error", PQerrorMessage(conn), NULL);
        PQclear(res);
        return NULL;
    }
    return res;
}

static void
row_tuple(PGresult *res, int row, dscdc_tuple_t *tuple)
{
    tuple->ncolumns = (uint16_t) PQnfields(res);
    for (int c = 0; c < PQnfields(res); c++) {
        dscdc_value_t *v = &tuple->values[c];

        v->kind = PQgetisnull(res, row, c) ? DSCDC_VALUE_NULL : DSCDC_VALUE_TEXT;
        v->text.p = PQgetvalue(res, row, c);
        v->text.len = (uint32_t) PQgetlength(res, row, c);
    }
}

/* Debezium's source.snapshot marker for a row, by where it sits in the snapshot. */
static const char *
marker(int first_table, int last_table, int first_row, int last_row)
{
    if (first_table && first_row) return "first";
    if (last_table && last_row) return "last";
    if (first_row) return "first_in_data_collection";
    if (last_row) return "last_in_data_collection";
    return "true";
}

static int
declare_cursor(PGconn *conn, const dscdc_table_t *t)
{
    char   sql[DSCDC_MAX_COLUMNS * (DSCDC_NAME_MAX + 4) + 256];
    size_t len = (size_t) snprintf(sql, sizeof(sql), "DECLARE datastream_snapshot NO SCROLL CURSOR FOR SELECT ");

    for (uint16_t i = 0; i < t->ncolumns; i++) {
        char *quoted = PQescapeIdentifier(conn, t->columns[i].name, strlen(t->columns[i].name));
        if (quoted == NULL) {
            return -1;
        }
        len += (size_t) snprintf(sql + len, sizeof(sql) - len, "%s%s", i ? ", " : "", quoted);
        PQfreemem(quoted);
    }
    len += (size_t) snprintf(sql + len, sizeof(sql) - len, " FROM %s.%s", t->schema, t->table);
    return len < sizeof(sql) ? dscdc_pg_command(conn, sql) : -1;
}

static int
snapshot_table(dscdc_bridge_t *b, const dscdc_table_t *t, dscdc_source_t *src,
               int first_table, int last_table, long long *rows)
{
    static dscdc_tuple_t tuple;
    PGresult            *cur, *next;
    int                  first_row = 1;

    if (declare_cursor(b->catalog, t) != 0 || (cur = fetch(b->catalog)) == NULL) {
        return -1;
    }
    while (PQntuples(cur) > 0) {
        /* The next batch is read first so that the table's last row is known. */
        if ((next = fetch(b->catalog)) == NULL) {
            PQclear(cur);
            return -1;
        }
        for (int r = 0; r < PQntuples(cur); r++) {
            dscdc_change_t chg = { 'r', DSCDC_ROW_NONE, NULL, DSCDC_ROW_FULL, &tuple };
            int            last_row = r == PQntuples(cur) - 1 && PQntuples(next) == 0;

            row_tuple(cur, r, &tuple);
            src->snapshot = marker(first_table, last_table, first_row, last_row);
            src->now_us = dscdc_now_us();
            if (dscdc_bridge_publish(b, t, &chg, src) != 0) {
                PQclear(cur);
                PQclear(next);
                return -1;
            }
            first_row = 0;
            (*rows)++;
        }
        PQclear(cur);
        cur = next;
    }
    PQclear(cur);
    return dscdc_pg_command(b->catalog, "CLOSE datastream_snapshot");
}

int
dscdc_snapshot_run(dscdc_bridge_t *b, const char *snapshot_name, uint64_t consistent_lsn)
{
    char           sql[128];
    dscdc_source_t src;
    dscdc_table_t *t = calloc(1, sizeof(*t));
    PGresult      *res;
    long long      rows = 0;
    char           count[32];
    int            rc = -1;

    if (t == NULL) {
        return -1;
    }
    snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", snapshot_name);
    if (dscdc_pg_command(b->catalog, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") != 0
        || dscdc_pg_command(b->catalog, sql) != 0)
    {
        free(t);
        return -1;
    }
    memset(&src, 0, sizeof(src));
    src.prefix = b->cfg->topic_prefix;
    src.db = b->db;
    src.commit_time_us = dscdc_now_us();
    src.lsn = consistent_lsn;
    res = PQexec(b->catalog, "SELECT pg_snapshot_xmin(pg_current_snapshot())");
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        src.xid = (uint32_t) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);

    dscdc_log("info", "snapshot started", "snapshot", snapshot_name, NULL);
    for (int i = 0; i < b->cfg->ntables; i++) {
        memset(t, 0, sizeof(*t));
        if (dscdc_table_load(b->catalog, b->cfg->tables[i], t) != 0
            || dscdc_table_finish(t, b->cfg->topic_prefix) != 0
            || snapshot_table(b, t, &src, i == 0, i == b->cfg->ntables - 1, &rows) != 0)
        {
            dscdc_table_clear(t);
            goto done;
        }
        dscdc_table_clear(t);
    }
    if (dscdc_bridge_flush(b) == 0 && dscdc_pg_command(b->catalog, "COMMIT") == 0) {
        snprintf(count, sizeof(count), "%lld", rows);
        dscdc_log("info", "snapshot completed", "rows", count, NULL);
        rc = 0;
    }
done:
    if (rc != 0) {
        (void) dscdc_pg_command(b->catalog, "ROLLBACK");
    }
    free(t);
    return rc;
}
