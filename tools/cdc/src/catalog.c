#include "catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

PGconn *
dscdc_pg_connect(const char *url, int replication)
{
    /* dbname first: it expands the URL, and the later keywords win over it. */
    const char *keys[] = { "dbname", "options", "application_name", "replication", NULL };
    const char *vals[] = { url, "-c TimeZone=UTC -c DateStyle=ISO -c bytea_output=hex",
                           "datastream-cdc", replication ? "database" : NULL, NULL };
    PGconn     *conn;

    if (!replication) {
        keys[3] = NULL;
    }
    conn = PQconnectdbParams(keys, vals, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        dscdc_log("error", "cannot connect to PostgreSQL", "error",
                  conn ? PQerrorMessage(conn) : "out of memory", NULL);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int
dscdc_pg_command(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int       ok = res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK
                                   || PQresultStatus(res) == PGRES_TUPLES_OK);

    if (!ok) {
        dscdc_log("error", "PostgreSQL command failed", "command", sql,
                  "error", PQerrorMessage(conn), NULL);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

static PGresult *
query(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        dscdc_log("error", "PostgreSQL query failed", "error", PQerrorMessage(conn), NULL);
        PQclear(res);
        return NULL;
    }
    return res;
}

int
dscdc_publication_ensure(PGconn *conn, const dscdc_config_t *cfg)
{
    const char *params[1] = { cfg->publication_name };
    PGresult   *res = query(conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, params);
    char        sql[2048];
    size_t      len;
    int         exists;

    if (res == NULL) {
        return -1;
    }
    exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists) {
        return 0;
    }
    /* Names were checked to be lowercase identifiers, so they need no quoting. */
    len = (size_t) snprintf(sql, sizeof(sql), "CREATE PUBLICATION %s FOR TABLE ", cfg->publication_name);
    for (int i = 0; i < cfg->ntables && len < sizeof(sql); i++) {
        len += (size_t) snprintf(sql + len, sizeof(sql) - len, "%s%s", i ? ", " : "", cfg->tables[i]);
    }
    if (len >= sizeof(sql)) {
        return -1;
    }
    dscdc_log("info", "creating publication", "publication", cfg->publication_name, NULL);
    return dscdc_pg_command(conn, sql);
}

int
dscdc_slot_exists(PGconn *conn, const char *slot)
{
    const char *params[1] = { slot };
    PGresult   *res = query(conn, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", 1, params);
    int         exists;

    if (res == NULL) {
        return -1;
    }
    exists = PQntuples(res) > 0;
    PQclear(res);
    return exists;
}

int
dscdc_slot_drop(PGconn *conn, const char *slot)
{
    const char *params[1] = { slot };
    PGresult   *res = query(conn, "SELECT pg_drop_replication_slot($1)", 1, params);

    PQclear(res);
    return res ? 0 : -1;
}

static const char columns_sql[] =
    "SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,"
    "       pg_get_expr(d.adbin, d.adrelid),"
    "       coalesce(a.attnum = ANY (i.indkey), false)"
    "  FROM pg_attribute a"
    "  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "  LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary"
    " WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''"
    " ORDER BY a.attnum";

static void
set_default(dscdc_column_t *col, PGresult *res, int row)
{
    json_decref(col->default_value);
    col->default_value = PQgetisnull(res, row, 4)
        ? NULL : dscdc_encode_default(col, PQgetvalue(res, row, 4));
}

int
dscdc_table_complete(PGconn *conn, dscdc_table_t *t)
{
    char        relid[16];
    const char *params[1] = { relid };
    PGresult   *res;

    snprintf(relid, sizeof(relid), "%u", t->relid);
    if ((res = query(conn, columns_sql, 1, params)) == NULL) {
        return -1;
    }
    for (uint16_t c = 0; c < t->ncolumns; c++) {
        for (int r = 0; r < PQntuples(res); r++) {
            if (strcmp(PQgetvalue(res, r, 0), t->columns[c].name) == 0) {
                t->columns[c].not_null = PQgetvalue(res, r, 3)[0] == 't';
                set_default(&t->columns[c], res, r);
                break;
            }
        }
    }
    PQclear(res);
    return 0;
}

int
dscdc_table_load(PGconn *conn, const char *qualified, dscdc_table_t *t)
{
    const char *params[1] = { qualified };
    char        relid[16];
    const char *relid_param[1] = { relid };
    PGresult   *res = query(conn,
        "SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c"
        "  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass", 1, params);

    if (res == NULL) {
        return -1;
    }
    if (PQntuples(res) != 1 || strlen(PQgetvalue(res, 0, 1)) >= DSCDC_NAME_MAX
        || strlen(PQgetvalue(res, 0, 2)) >= DSCDC_NAME_MAX)
    {
        PQclear(res);
        return -1;
    }
    t->relid = (uint32_t) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(t->schema, sizeof(t->schema), "%s", PQgetvalue(res, 0, 1));
    snprintf(t->table, sizeof(t->table), "%s", PQgetvalue(res, 0, 2));
    t->replica_identity = PQgetvalue(res, 0, 3)[0];
    PQclear(res);

    snprintf(relid, sizeof(relid), "%u", t->relid);
    if ((res = query(conn, columns_sql, 1, relid_param)) == NULL) {
        return -1;
    }
    if (PQntuples(res) > DSCDC_MAX_COLUMNS) {
        PQclear(res);
        return -1;
    }
    t->ncolumns = (uint16_t) PQntuples(res);
    for (int r = 0; r < PQntuples(res); r++) {
        dscdc_column_t *col = &t->columns[r];

        if (strlen(PQgetvalue(res, r, 0)) >= DSCDC_NAME_MAX) {
            PQclear(res);
            return -1;
        }
        snprintf(col->name, sizeof(col->name), "%s", PQgetvalue(res, r, 0));
        col->type_oid = (uint32_t) strtoul(PQgetvalue(res, r, 1), NULL, 10);
        col->typmod = (int32_t) strtol(PQgetvalue(res, r, 2), NULL, 10);
        col->not_null = PQgetvalue(res, r, 3)[0] == 't';
        col->key = PQgetvalue(res, r, 5)[0] == 't';
        col->default_value = NULL;
        set_default(col, res, r);
    }
    PQclear(res);
    return 0;
}
