/* The SQL side of PostgreSQL: connections, the publication, the slot's
 * existence, table metadata from the catalogs and the snapshot's reads. */
#ifndef DSCDC_CATALOG_H
#define DSCDC_CATALOG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "config.h"
#include "debezium.h"

/* replication = 1: a walsender connection (replication=database). Both run with
 * TimeZone=UTC and DateStyle=ISO, the text formats debezium.c reads. NULL on failure. */
PGconn *dscdc_pg_connect(const char *url, int replication);

/* Runs a command that returns no rows; 0 or -1 (logged). */
int dscdc_pg_command(PGconn *conn, const char *sql);

/* Creates the publication for the configured tables when it is missing. */
int dscdc_publication_ensure(PGconn *conn, const dscdc_config_t *cfg);

/* 1 if the slot exists, 0 if not, -1 on error. */
int dscdc_slot_exists(PGconn *conn, const char *slot);
int dscdc_slot_drop(PGconn *conn, const char *slot);

/* Fills in what the catalog knows of relation t->relid that the stream does
 * not carry: NOT NULL and literal defaults, by column name. */
int dscdc_table_complete(PGconn *conn, dscdc_table_t *t);

/* The whole description of "schema.table" from the catalog, for the snapshot. */
int dscdc_table_load(PGconn *conn, const char *qualified, dscdc_table_t *t);

#endif
