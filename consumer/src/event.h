/* Typed Debezium change events, as produced by decode_debezium.c. Ops, their rows and the
 * grammar of slugs and types are the contract's (datastream_contract.h). */
#ifndef DSC_EVENT_H
#define DSC_EVENT_H

#include "datastream_contract.h"

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define DSC_TIMESTAMP_MAX 40    /* longest ISO-8601 form we accept, plus NUL */
#define DSC_REASON_MAX 256

typedef struct {
    int64_t id;
    int64_t game_id;
    bool has_finished_at;               /* false: SQL NULL */
    char finished_at[DSC_TIMESTAMP_MAX];
    char *extras;                       /* owned; jsonb text exactly as sent, "{}" when null/absent */
    char game_slug[DATASTREAM_NAME_MAX + 1];    /* empty unless the row carries the column */
    char game_type[DATASTREAM_NAME_MAX + 1];
} dsc_round_row_t;

typedef struct {
    int64_t id;
    char slug[DATASTREAM_NAME_MAX + 1];
    char type[DATASTREAM_NAME_MAX + 1];
    char *name;                         /* owned */
} dsc_game_row_t;

typedef struct {
    datastream_op_e op;
    uint64_t lsn;
    int64_t source_ts_ms;
    dsc_round_row_t row;                /* the op's row: after, or before (key only) */
} dsc_round_event_t;

typedef struct {
    datastream_op_e op;
    uint64_t lsn;
    dsc_game_row_t row;
} dsc_game_event_t;

void dsc_round_event_free(dsc_round_event_t *ev);
void dsc_game_event_free(dsc_game_event_t *ev);

#endif
