#ifndef DSK_COMMANDS_H
#define DSK_COMMANDS_H

#include "cli.h"
#include "store.h"

/* create validates everything before it touches Redis, so it is split:
 * prepare (usage errors, exit 2) then run. */
typedef struct {
    dsk_apikey_kind_e kind;
    dsk_apikey_record_t record;
} dsk_create_request_t;

int dsk_create_prepare(const dsk_cli_t *cli, dsk_create_request_t *req);
int dsk_create_run(dsk_store_t *s, dsk_create_request_t *req, bool json);

int dsk_list_run(dsk_store_t *s, bool json);

/* Refuses targets that are neither a key id nor a key (exit 2). */
int dsk_revoke_check(const char *target);
int dsk_revoke_run(dsk_store_t *s, const char *target);

#endif
