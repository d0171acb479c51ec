/* datastream-keys: create, list and revoke Data Stream API keys in Redis.
 * Only SHA-256 hashes of keys are stored; a key is shown once, at creation. */
#include "cli.h"
#include "commands.h"
#include "log.h"
#include "redis_url.h"
#include "store.h"

#include <stdio.h>

/* Usage problems are all detected before Redis is contacted, so a typo never
 * half-applies and exit 2 always means "nothing happened". */
static int check_usage(const struct cli *cli, struct create_request *create, struct redis_url *url)
{
    int rc = EXIT_OK;
    if (cli->command == CMD_CREATE)
        rc = create_prepare(cli, create);
    else if (cli->command == CMD_REVOKE)
        rc = revoke_check(cli->target);
    if (rc != EXIT_OK)
        return rc;
    if (!redis_url_parse(cli->redis_url, url)) {
        log_error("bad Redis URL; expected redis://[[user]:password@]host[:port][/db]");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct cli cli;
    int rc = cli_parse(argc, argv, &cli);
    if (rc != EXIT_OK)
        return rc;
    if (cli.command == CMD_HELP) {
        cli_print_help();
        return EXIT_OK;
    }

    struct create_request create;
    struct redis_url url;
    rc = check_usage(&cli, &create, &url);
    if (rc != EXIT_OK)
        return rc;

    struct store store;
    if (!store_open(&store, &url, cli.redis_prefix))
        return EXIT_FAIL;
    switch (cli.command) {
    case CMD_CREATE: rc = create_run(&store, &create, cli.json); break;
    case CMD_LIST: rc = list_run(&store, cli.json); break;
    case CMD_REVOKE: rc = revoke_run(&store, cli.target); break;
    case CMD_HELP: break;
    }
    store_close(&store);
    if (rc == EXIT_OK && fflush(stdout) != 0) {
        log_error("cannot write output");
        rc = EXIT_FAIL;
    }
    return rc;
}
