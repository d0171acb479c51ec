#ifndef DSK_CLI_H
#define DSK_CLI_H

#include <stdbool.h>

typedef enum { DSK_EXIT_OK = 0, DSK_EXIT_FAIL = 1, DSK_EXIT_USAGE = 2 } dsk_exit_e;

typedef enum { DSK_CMD_HELP, DSK_CMD_CREATE, DSK_CMD_LIST, DSK_CMD_REVOKE } dsk_command_e;

/* The command line as given; values are validated by the command. */
typedef struct {
    dsk_command_e command;
    const char *target; /* revoke: key id or full key */
    const char *name;
    const char *kind;
    const char *origins;
    const char *rate_limit;
    bool json;
    const char *redis_url;
    const char *redis_prefix;
} dsk_cli_t;

/* Returns DSK_EXIT_OK or DSK_EXIT_USAGE (after logging why). */
int dsk_cli_parse(int argc, char **argv, dsk_cli_t *out);

void dsk_cli_print_help(void);

#endif
