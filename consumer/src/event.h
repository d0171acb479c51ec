/* Typed Debezium change events, as produced by decode_debezium.c. */
#ifndef DS_EVENT_H
#define DS_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define DS_NAME_MAX 64          /* slug / type: 1..64 bytes */
#define DS_TIMESTAMP_MAX 40     /* longest ISO-8601 form we accept, plus NUL */
#define DS_REASON_MAX 256

typedef enum {
    OP_CREATE = 'c',
    OP_UPDATE = 'u',
    OP_DELETE = 'd',
    OP_READ = 'r',
    OP_TRUNCATE = 't',
    OP_MESSAGE = 'm',
} ds_op;

typedef struct {
    int64_t id;
    int64_t game_id;
    bool has_finished_at;               /* false: SQL NULL */
    char finished_at[DS_TIMESTAMP_MAX];
    char *extras;                       /* owned; jsonb text exactly as sent, "{}" when null/absent */
    char game_slug[DS_NAME_MAX + 1];    /* empty unless the row carries the column */
    char game_type[DS_NAME_MAX + 1];
} ds_round_row;

typedef struct {
    int64_t id;
    char slug[DS_NAME_MAX + 1];
    char type[DS_NAME_MAX + 1];
    char *name;                         /* owned */
} ds_game_row;

typedef struct {
    ds_op op;
    uint64_t lsn;
    int64_t source_ts_ms;
    ds_round_row row;                   /* after for c/u/r, before (key only) for d */
} ds_round_event;

typedef struct {
    ds_op op;
    uint64_t lsn;
    ds_game_row row;
} ds_game_event;

void ds_round_event_free(ds_round_event *ev);
void ds_game_event_free(ds_game_event *ev);

/* Slugs and types share one grammar: [a-z0-9][a-z0-9_-]{0,63}. */
bool ds_name_valid(const char *s);

#endif
