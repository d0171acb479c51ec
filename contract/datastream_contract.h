/*
 * What the programs of Data Stream agree on: the consumer, the nginx module, the key tool and
 * the demo feed all include this header, so a limit or a grammar changes in one place and the
 * compiler carries the change to each of them.  Plain C99, no I/O, no allocation.
 *
 * The Redis key names are in datastream_keys.h; docs/design.md describes both.
 */
#ifndef DATASTREAM_CONTRACT_H
#define DATASTREAM_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>


/* A game slug or type: [a-z0-9][a-z0-9_-]{0,63}. */
#define DATASTREAM_NAME_MAX            64

/* API keys: "sk_live_" or "pk_live_" and 64 lowercase hex digits (32 random bytes). */
#define DATASTREAM_APIKEY_SECRET_BYTES 32
#define DATASTREAM_APIKEY_LEN          (sizeof "sk_live_" - 1 + 2 * DATASTREAM_APIKEY_SECRET_BYTES)
#define DATASTREAM_APIKEY_HASH_HEX_LEN 64   /* lowercase hex SHA-256 of the key: what is stored */
#define DATASTREAM_APIKEY_ID_LEN       16   /* first hex digits of the hash: the key's id */
#define DATASTREAM_APIKEY_PREFIX_LEN   16   /* first characters of the key, shown when listing */
#define DATASTREAM_APIKEY_NAME_MAX     128

/*
 * Longest allowed-origins list of a pk_ key, in bytes, once normalised to single spaces: the
 * key tool refuses a longer one and the module reads every list up to this length.
 */
#define DATASTREAM_ORIGINS_MAX         4095

/* Longest key prefix in Redis (consumer REDIS_PREFIX, module datastream_redis_prefix). */
#define DATASTREAM_REDIS_PREFIX_MAX    64

/* /api/history: the limit argument, and how many rounds each history keeps at least. */
#define DATASTREAM_HISTORY_LIMIT_DEFAULT 500
#define DATASTREAM_HISTORY_LIMIT_MAX     1000
#define DATASTREAM_HISTORY_KEEP_DEFAULT  1000

/* Rate limits count requests per key in fixed windows of this many seconds. */
#define DATASTREAM_RATE_WINDOW_S       60


static inline bool
datastream_name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return true;
    }

    return !first && (c == '-' || c == '_');
}


/* The one grammar of slugs and types; len bytes at p, no terminator needed. */
static inline bool
datastream_name_valid(const char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > DATASTREAM_NAME_MAX) {
        return false;
    }

    for (i = 0; i < len; i++) {
        if (!datastream_name_char(p[i], i == 0)) {
            return false;
        }
    }

    return true;
}


/* The row a Debezium change event carries. */
typedef enum {
    DATASTREAM_ROW_NONE = 0,   /* truncate, message */
    DATASTREAM_ROW_AFTER,      /* the whole new row */
    DATASTREAM_ROW_BEFORE_KEY  /* the primary key of the deleted row, at least */
} datastream_row_e;

typedef enum {
    DATASTREAM_OP_CREATE = 0,
    DATASTREAM_OP_UPDATE,
    DATASTREAM_OP_DELETE,
    DATASTREAM_OP_READ,
    DATASTREAM_OP_TRUNCATE,
    DATASTREAM_OP_MESSAGE,
    DATASTREAM_OP_COUNT        /* also: a letter Debezium does not send */
} datastream_op_e;

typedef struct {
    char               letter;    /* Debezium's "op", also the metric label */
    datastream_row_e   row;
    bool               is_live;   /* a rounds event of this op is published to clients */
} datastream_op_t;


static inline const datastream_op_t *
datastream_op_info(datastream_op_e op)
{
    static const datastream_op_t  ops[DATASTREAM_OP_COUNT] = {
        [DATASTREAM_OP_CREATE]   = { 'c', DATASTREAM_ROW_AFTER,      true  },
        [DATASTREAM_OP_UPDATE]   = { 'u', DATASTREAM_ROW_AFTER,      true  },
        [DATASTREAM_OP_DELETE]   = { 'd', DATASTREAM_ROW_BEFORE_KEY, false },
        /* snapshot reads are backfill: into the read model, never live */
        [DATASTREAM_OP_READ]     = { 'r', DATASTREAM_ROW_AFTER,      false },
        [DATASTREAM_OP_TRUNCATE] = { 't', DATASTREAM_ROW_NONE,       false },
        [DATASTREAM_OP_MESSAGE]  = { 'm', DATASTREAM_ROW_NONE,       false },
    };

    return op < DATASTREAM_OP_COUNT ? &ops[op] : NULL;
}


/* The op of a Debezium "op" letter, DATASTREAM_OP_COUNT for any other. */
static inline datastream_op_e
datastream_op_parse(char letter)
{
    int  op;

    for (op = 0; op < DATASTREAM_OP_COUNT; op++) {
        if (datastream_op_info((datastream_op_e) op)->letter == letter) {
            return (datastream_op_e) op;
        }
    }

    return DATASTREAM_OP_COUNT;
}

#endif /* DATASTREAM_CONTRACT_H */
