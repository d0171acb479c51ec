#ifndef DS_KEYS_CLI_H
#define DS_KEYS_CLI_H

#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

enum command { CMD_HELP, CMD_CREATE, CMD_LIST, CMD_REVOKE };

/* The command line as given; values are validated by the command. */
struct cli {
    enum command command;
    const char *target; /* revoke: key id or full key */
    const char *name;
    const char *kind;
    const char *origins;
    const char *rate_limit;
    bool json;
    const char *redis_url;
    const char *redis_prefix;
};

/* Returns EXIT_OK or EXIT_USAGE (after logging why). */
int cli_parse(int argc, char **argv, struct cli *out);

void cli_print_help(void);

#endif
