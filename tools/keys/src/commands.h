#ifndef DS_KEYS_COMMANDS_H
#define DS_KEYS_COMMANDS_H

#include "cli.h"
#include "store.h"

/* create validates everything before it touches Redis, so it is split:
 * prepare (usage errors, exit 2) then run. */
struct create_request {
    enum apikey_kind kind;
    struct apikey_record record;
};

int create_prepare(const struct cli *cli, struct create_request *req);
int create_run(struct store *s, struct create_request *req, bool json);

int list_run(struct store *s, bool json);

/* Refuses targets that are neither a key id nor a key (exit 2). */
int revoke_check(const char *target);
int revoke_run(struct store *s, const char *target);

#endif
