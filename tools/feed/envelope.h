/* Debezium change-event envelopes, formatted the way Debezium Server's
 * PostgreSQL connector (pgoutput, JSON converter) publishes them. Pure: no I/O. */
#ifndef DATASTREAM_FEED_ENVELOPE_H
#define DATASTREAM_FEED_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int         id;
    const char *slug;
    const char *name;
    const char *type;
} feed_game_t;

typedef struct {
    int64_t     id;
    int         game_id;
    int64_t     finished_at_us;   /* Unix microseconds */
    const char *extras;           /* jsonb text */
} feed_round_t;

typedef struct {
    char        op;               /* c, u, d, r */
    int64_t     lsn;
    int64_t     ts_ms;            /* source.ts_ms: commit time */
    int         with_schema;      /* wrap in {"schema":…,"payload":…} */
    const char *prefix;           /* topic.prefix, e.g. "datastream" */
} feed_change_t;

/* Each returns the number of bytes written (excluding the NUL), or -1 when
 * the envelope does not fit in cap bytes. */
int feed_envelope_round(char *out, size_t cap, const feed_change_t *chg,
                        const feed_round_t *round);
int feed_envelope_game(char *out, size_t cap, const feed_change_t *chg,
                       const feed_game_t *game);

#endif
