/* Debezium change-event envelopes, formatted the way Debezium Server's
 * PostgreSQL connector (pgoutput, JSON converter) publishes them. Pure: no I/O. */
#ifndef DSF_ENVELOPE_H
#define DSF_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "datastream_contract.h"

typedef struct {
    int         id;
    const char *slug;
    const char *name;
    const char *type;
} dsf_game_t;

typedef struct {
    int64_t     id;
    int         game_id;
    int64_t     finished_at_us;   /* Unix microseconds */
    const char *extras;           /* jsonb text */
} dsf_round_t;

typedef struct {
    datastream_op_e op;           /* create, update, delete or read (snapshot) */
    int64_t     lsn;
    int64_t     ts_ms;            /* source.ts_ms: commit time */
    int         with_schema;      /* wrap in {"schema":…,"payload":…} */
    const char *prefix;           /* topic.prefix, e.g. "datastream" */
} dsf_change_t;

/* Each returns the number of bytes written (excluding the NUL), or -1 when
 * the envelope does not fit in cap bytes (or, for a game, its slug or type is
 * not a name of the contract: datastream_name_valid). */
int dsf_envelope_round(char *out, size_t cap, const dsf_change_t *chg,
                        const dsf_round_t *round);
int dsf_envelope_game(char *out, size_t cap, const dsf_change_t *chg,
                       const dsf_game_t *game);

#endif
