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
static int check_usage(const dsk_cli_t *cli, dsk_create_request_t *create, dsk_redis_url_t *url)
{
    int rc = DSK_EXIT_OK;
    if (cli->command == DSK_CMD_CREATE)
        rc = dsk_create_prepare(cli, create);
    else if (cli->command == DSK_CMD_REVOKE)
        rc = dsk_revoke_check(cli->target);
    if (rc != DSK_EXIT_OK)
        return rc;
    if (!dsk_redis_url_parse(cli->redis_url, url)) {
        dsk_log_error("bad Redis URL; expected redis://[[user]:password@]host[:port][/db]");
        return DSK_EXIT_USAGE;
    }
    return DSK_EXIT_OK;
}

int main(int argc, char **argv)
{
    dsk_cli_t cli;
    int rc = dsk_cli_parse(argc, argv, &cli);
    if (rc != DSK_EXIT_OK)
        return rc;
    if (cli.command == DSK_CMD_HELP) {
        dsk_cli_print_help();
        return DSK_EXIT_OK;
    }

    dsk_create_request_t create;
    dsk_redis_url_t url;
    rc = check_usage(&cli, &create, &url);
    if (rc != DSK_EXIT_OK)
        return rc;

    dsk_store_t store;
    if (!dsk_store_open(&store, &url, cli.redis_prefix))
        return DSK_EXIT_FAIL;
    switch (cli.command) {
    case DSK_CMD_CREATE: rc = dsk_create_run(&store, &create, cli.json); break;
    case DSK_CMD_LIST: rc = dsk_list_run(&store, cli.json); break;
    case DSK_CMD_REVOKE: rc = dsk_revoke_run(&store, cli.target); break;
    case DSK_CMD_HELP: break;
    }
    dsk_store_close(&store);
    if (rc == DSK_EXIT_OK && fflush(stdout) != 0) {
        dsk_log_error("cannot write output");
        rc = DSK_EXIT_FAIL;
    }
    return rc;
}
