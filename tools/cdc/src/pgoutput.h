/* pgoutput, protocol version 1: the logical replication messages PostgreSQL's
 * built-in output plugin writes into the XLogData of a replication stream.
 * Pure: parses bytes into structs that point into the caller's buffer. */
#ifndef DSCDC_PGOUTPUT_H
#define DSCDC_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

#define DSCDC_MAX_COLUMNS 256
#define DSCDC_MAX_TRUNCATE 64

/* Microseconds between the Unix epoch and PostgreSQL's, 2000-01-01. */
#define DSCDC_PG_EPOCH_US 946684800000000LL

typedef struct {
    const char *p;      /* not NUL-terminated */
    uint32_t    len;
} dscdc_bytes_t;

typedef enum {
    DSCDC_VALUE_NULL,
    DSCDC_VALUE_TEXT,
    DSCDC_VALUE_UNCHANGED_TOAST,   /* an unchanged TOASTed value the server did not resend */
} dscdc_value_kind_e;

typedef struct {
    dscdc_value_kind_e kind;
    dscdc_bytes_t      text;
} dscdc_value_t;

typedef struct {
    uint16_t      ncolumns;
    dscdc_value_t values[DSCDC_MAX_COLUMNS];
} dscdc_tuple_t;

typedef struct {
    int           key;       /* part of the replica identity */
    dscdc_bytes_t name;
    uint32_t      type_oid;
    int32_t       typmod;
} dscdc_rel_column_t;

typedef enum {
    DSCDC_MSG_BEGIN = 'B',
    DSCDC_MSG_COMMIT = 'C',
    DSCDC_MSG_RELATION = 'R',
    DSCDC_MSG_INSERT = 'I',
    DSCDC_MSG_UPDATE = 'U',
    DSCDC_MSG_DELETE = 'D',
    DSCDC_MSG_TRUNCATE = 'T',
    DSCDC_MSG_OTHER = 0,       /* type, origin, logical message: nothing to publish */
} dscdc_msg_kind_e;

typedef struct {
    dscdc_msg_kind_e kind;
    union {
        struct { uint64_t final_lsn; int64_t commit_time_us; uint32_t xid; } begin;
        struct { uint64_t commit_lsn; uint64_t end_lsn; int64_t commit_time_us; } commit;
        struct {
            uint32_t           relid;
            dscdc_bytes_t      schema, table;
            char               replica_identity;   /* 'd' default, 'f' full, 'i' index, 'n' nothing */
            uint16_t           ncolumns;
            dscdc_rel_column_t columns[DSCDC_MAX_COLUMNS];
        } relation;
        /* insert: new; update: old (when has_old: 'O' whole old row, or 'K' its key) and new;
         * delete: old. */
        struct {
            uint32_t      relid;
            int           has_old;
            char          old_kind;   /* 'O' or 'K' */
            dscdc_tuple_t old_tuple;
            dscdc_tuple_t new_tuple;
        } change;
        struct { uint32_t nrelids; uint32_t relids[DSCDC_MAX_TRUNCATE]; } truncate;
    } u;
} dscdc_msg_t;

/* 0 on success, -1 for a truncated or malformed message. Unix microseconds
 * in the time fields. */
int dscdc_pgoutput_parse(const char *data, size_t len, dscdc_msg_t *msg);

#endif
