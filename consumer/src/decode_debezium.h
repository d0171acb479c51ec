/* Debezium JSON envelope -> typed event. Pure: no I/O, no globals.
 * On rejection the reason names the offending field ("after.id: missing"). */
#ifndef DS_DECODE_DEBEZIUM_H
#define DS_DECODE_DEBEZIUM_H

#include "event.h"

#define DS_MAX_NESTING 32

typedef enum { DECODE_OK = 0, DECODE_REJECTED = -1 } ds_decode_result;

ds_decode_result ds_decode_round(const char *data, size_t len, size_t max_bytes,
                                 ds_round_event *out, char reason[DS_REASON_MAX]);
ds_decode_result ds_decode_game(const char *data, size_t len, size_t max_bytes,
                                ds_game_event *out, char reason[DS_REASON_MAX]);

#endif
