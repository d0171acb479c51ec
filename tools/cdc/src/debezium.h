/* Debezium's JSON change events for PostgreSQL rows: the value encodings of
 * the connector's defaults (decimal.handling.mode=precise,
 * time.precision.mode=adaptive, binary as base64), the per-table schema blocks
 * and the envelope. Pure: no I/O; PostgreSQL's text output in, JSON out. */
#ifndef DSCDC_DEBEZIUM_H
#define DSCDC_DEBEZIUM_H

#include <jansson.h>
#include <stdint.h>

#include "pgoutput.h"

#define DSCDC_NAME_MAX 64

/* Written in place of a TOASTed value the server did not resend, as Debezium does. */
#define DSCDC_UNAVAILABLE_VALUE "__debezium_unavailable_value"

typedef struct {
    char     name[DSCDC_NAME_MAX];
    uint32_t type_oid;
    int32_t  typmod;
    int      key;
    int      not_null;
    json_t  *default_value;   /* encoded like a value; NULL when there is no literal default */
} dscdc_column_t;

typedef struct {
    uint32_t        relid;
    char            schema[DSCDC_NAME_MAX];
    char            table[DSCDC_NAME_MAX];
    char            replica_identity;
    uint16_t        ncolumns;
    dscdc_column_t  columns[DSCDC_MAX_COLUMNS];
    json_t         *envelope_schema;   /* made by dscdc_table_finish */
} dscdc_table_t;

/* Where a change came from: the source block of its envelope. */
typedef struct {
    const char *prefix;            /* topic.prefix, also source.name */
    const char *db;
    const char *snapshot;          /* "false" while streaming; "first", "true", ... in a snapshot */
    int64_t     commit_time_us;    /* source.ts_*: commit time (snapshot: its start) */
    uint64_t    lsn;
    uint64_t    last_commit_lsn;   /* 0: unknown, shown as null in source.sequence */
    uint32_t    xid;
    int64_t     now_us;            /* envelope ts_*: when the event was made */
} dscdc_source_t;

typedef enum {
    DSCDC_ROW_NONE,        /* null */
    DSCDC_ROW_FULL,        /* every column */
    DSCDC_ROW_KEY_ONLY,    /* the replica identity key; other columns null or filler */
} dscdc_row_kind_e;

typedef struct {
    char                 op;   /* 'c', 'u', 'd', 'r', 't' */
    dscdc_row_kind_e     before_kind;
    const dscdc_tuple_t *before;
    dscdc_row_kind_e     after_kind;
    const dscdc_tuple_t *after;
} dscdc_change_t;

/* The Debezium value of one column from PostgreSQL's text output of it (UTC,
 * DateStyle ISO). A new reference; NULL when the text is not a value of the
 * column's type. */
json_t *dscdc_encode_value(const dscdc_column_t *col, const char *text, size_t len);

/* The default value of a column from pg_get_expr of its default (a literal
 * such as '{}'::jsonb or 0); NULL when it is not a literal. */
json_t *dscdc_encode_default(const dscdc_column_t *col, const char *expr);

/* Builds the table's schema block once its columns are filled in. 0 or -1. */
int  dscdc_table_finish(dscdc_table_t *t, const char *prefix);
void dscdc_table_clear(dscdc_table_t *t);

/* The message value of one change, with or without the {"schema","payload"}
 * wrapper; malloc'd. NULL when the row does not match the table (errmsg says
 * how); errmsg is also set, not empty, when a value had to be sent as text. */
char *dscdc_envelope(const dscdc_table_t *t, const dscdc_change_t *chg,
                     const dscdc_source_t *src, int with_schema,
                     char *errmsg, size_t errmsg_cap);

#endif
