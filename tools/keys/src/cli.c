#include "cli.h"

#include "log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DEFAULT_REDIS_URL[] = "redis://127.0.0.1:6379/0";
static const char DEFAULT_PREFIX[] = "ds:";

enum option_id { OPT_NAME = 256, OPT_KIND, OPT_ORIGINS, OPT_RATE_LIMIT, OPT_JSON, OPT_REDIS, OPT_PREFIX, OPT_HELP };

static const struct option OPTIONS[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"kind", required_argument, NULL, OPT_KIND},
    {"origins", required_argument, NULL, OPT_ORIGINS},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void dsk_cli_print_help(void)
{
    fputs("usage: datastream-keys [--redis URL] [--prefix P] COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  create --name NAME --kind sk|pk [--origins \"ORIGIN ...\"] [--rate-limit N] [--json]\n"
          "      create a key and print it once (sk_live_… or pk_live_…); pk keys need\n"
          "      at least one origin such as https://app.example or http://localhost:3000;\n"
          "      --rate-limit is requests per minute, 0 (default) means the kind's default\n"
          "  list [--json]\n"
          "      show every key: id, prefix, name, kind, rate limit, created, origins\n"
          "  revoke ID|KEY\n"
          "      delete a key by its 16-hex id or by the full key\n"
          "\n"
          "options:\n"
          "  --redis URL    redis://[[user]:password@]host[:port][/db]\n"
          "                 (env REDIS_URL, default redis://127.0.0.1:6379/0)\n"
          "  --prefix P     Redis key prefix (env REDIS_PREFIX, default ds:)\n"
          "  --help         this text\n"
          "\n"
          "exit status: 0 ok, 1 not found or failure, 2 usage error\n",
          stdout);
}

static bool parse_command(const char *word, dsk_command_e *out)
{
    static const struct { const char *word; dsk_command_e command; } COMMANDS[] = {
        {"create", DSK_CMD_CREATE}, {"list", DSK_CMD_LIST}, {"revoke", DSK_CMD_REVOKE}, {"help", DSK_CMD_HELP},
    };
    for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++) {
        if (strcmp(word, COMMANDS[i].word) == 0) {
            *out = COMMANDS[i].command;
            return true;
        }
    }
    return false;
}

/* Every option may appear once: a repeated one is more likely a slip than
 * an intent, and silently keeping the last would hide it. */
static int set_once(const char **slot, const char *value, const char *name)
{
    if (*slot) {
        dsk_log_error("option --%s given twice", name);
        return DSK_EXIT_USAGE;
    }
    *slot = value;
    return DSK_EXIT_OK;
}

static const char **slot_of(dsk_cli_t *cli, int id)
{
    switch (id) {
    case OPT_NAME: return &cli->name;
    case OPT_KIND: return &cli->kind;
    case OPT_ORIGINS: return &cli->origins;
    case OPT_RATE_LIMIT: return &cli->rate_limit;
    case OPT_REDIS: return &cli->redis_url;
    case OPT_PREFIX: return &cli->redis_prefix;
    default: return NULL;
    }
}

/* Options that only make sense for one command are refused elsewhere. */
static int check_applicable(const dsk_cli_t *cli)
{
    bool create_only = cli->name || cli->kind || cli->origins || cli->rate_limit;
    if (create_only && cli->command != DSK_CMD_CREATE) {
        dsk_log_error("--name, --kind, --origins and --rate-limit belong to create");
        return DSK_EXIT_USAGE;
    }
    if (cli->json && cli->command != DSK_CMD_CREATE && cli->command != DSK_CMD_LIST) {
        dsk_log_error("--json belongs to create and list");
        return DSK_EXIT_USAGE;
    }
    return DSK_EXIT_OK;
}

static int parse_positionals(int count, char **words, dsk_cli_t *cli)
{
    if (count == 0) {
        dsk_log_error("missing command (create, list or revoke); see --help");
        return DSK_EXIT_USAGE;
    }
    if (!parse_command(words[0], &cli->command)) {
        dsk_log_error("unknown command \"%.64s\"; see --help", words[0]);
        return DSK_EXIT_USAGE;
    }
    int wanted = cli->command == DSK_CMD_REVOKE ? 2 : 1;
    if (count != wanted) {
        if (cli->command == DSK_CMD_REVOKE)
            dsk_log_error("revoke takes exactly one key id or key");
        else
            dsk_log_error("unexpected argument \"%.64s\"", words[1]);
        return DSK_EXIT_USAGE;
    }
    cli->target = cli->command == DSK_CMD_REVOKE ? words[1] : NULL;
    return DSK_EXIT_OK;
}

int dsk_cli_parse(int argc, char **argv, dsk_cli_t *cli)
{
    memset(cli, 0, sizeof *cli);
    bool help = false;
    opterr = 0; /* getopt's own messages are not JSON */
    for (;;) {
        int index = 0;
        int id = getopt_long(argc, argv, "", OPTIONS, &index);
        if (id == -1)
            break;
        if (id == OPT_HELP) {
            help = true;
        } else if (id == OPT_JSON) {
            cli->json = true;
        } else if (slot_of(cli, id)) {
            if (set_once(slot_of(cli, id), optarg, OPTIONS[index].name) != DSK_EXIT_OK)
                return DSK_EXIT_USAGE;
        } else {
            dsk_log_error("unknown option or missing value: %.64s; see --help", argv[optind - 1]);
            return DSK_EXIT_USAGE;
        }
    }
    if (help) {
        cli->command = DSK_CMD_HELP;
        return DSK_EXIT_OK;
    }
    int rc = parse_positionals(argc - optind, argv + optind, cli);
    if (rc != DSK_EXIT_OK)
        return rc;
    if (!cli->redis_url)
        cli->redis_url = getenv("REDIS_URL") ? getenv("REDIS_URL") : DEFAULT_REDIS_URL;
    if (!cli->redis_prefix)
        cli->redis_prefix = getenv("REDIS_PREFIX") ? getenv("REDIS_PREFIX") : DEFAULT_PREFIX;
    return check_applicable(cli);
}
