/* Debezium JSON envelope -> typed event. Pure: no I/O, no globals.
 * On rejection the reason names the offending field ("after.id: missing"). */
#ifndef DSC_DECODE_DEBEZIUM_H
#define DSC_DECODE_DEBEZIUM_H

#include "event.h"

#define DSC_DECODE_NESTING_MAX 32

typedef enum { DSC_DECODE_OK = 0, DSC_DECODE_REJECTED = -1 } dsc_decode_result_e;

dsc_decode_result_e dsc_decode_round(const char *data, size_t len, size_t max_bytes,
                                     dsc_round_event_t *out, char reason[DSC_REASON_MAX]);
dsc_decode_result_e dsc_decode_game(const char *data, size_t len, size_t max_bytes,
                                    dsc_game_event_t *out, char reason[DSC_REASON_MAX]);

#endif
