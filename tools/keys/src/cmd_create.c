#include "commands.h"

#include "log.h"
#include "origins.h"
#include "record_json.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE_LIMIT_MAX 1000000000LL

/* Names end up in tab-separated listings and in JSON: printable UTF-8 only
 * (jansson refuses invalid UTF-8, so it doubles as the encoding check). */
static bool name_is_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > APIKEY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    json_t *probe = json_string(name);
    json_decref(probe);
    return probe != NULL;
}

static bool parse_rate_limit(const char *text, long long *out)
{
    char *end = NULL;
    if (text[0] < '0' || text[0] > '9')
        return false;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0' || v > RATE_LIMIT_MAX)
        return false;
    *out = v;
    return true;
}

int create_prepare(const struct cli *cli, struct create_request *req)
{
    memset(req, 0, sizeof *req);
    struct apikey_record *rec = &req->record;
    if (!cli->name || !name_is_valid(cli->name)) {
        log_error("create needs --name: 1-%d printable characters", APIKEY_NAME_MAX);
        return EXIT_USAGE;
    }
    if (!cli->kind || !apikey_kind_parse(cli->kind, &req->kind)) {
        log_error("create needs --kind sk or --kind pk");
        return EXIT_USAGE;
    }
    if (cli->rate_limit && !parse_rate_limit(cli->rate_limit, &rec->rate_limit)) {
        log_error("--rate-limit must be an integer from 0 to %lld", RATE_LIMIT_MAX);
        return EXIT_USAGE;
    }
    if (req->kind == APIKEY_SK && cli->origins) {
        log_error("--origins applies to pk keys only (sk keys have no origin check)");
        return EXIT_USAGE;
    }
    if (req->kind == APIKEY_PK) {
        char why[512];
        int n = origins_normalise(cli->origins ? cli->origins : "", rec->origins,
                                  sizeof rec->origins, why, sizeof why);
        if (n < 0) {
            log_error("%s", why);
            return EXIT_USAGE;
        }
        if (n == 0) {
            log_error("pk keys need --origins with at least one origin, e.g. https://app.example");
            return EXIT_USAGE;
        }
    }
    snprintf(rec->name, sizeof rec->name, "%s", cli->name);
    snprintf(rec->kind, sizeof rec->kind, "%s", apikey_kind_name(req->kind));
    return EXIT_OK;
}

static int print_created(const char *key, const struct apikey_record *rec, bool json)
{
    if (!json)
        return printf("%s\n", key) < 0 ? EXIT_FAIL : EXIT_OK;
    json_t *obj = record_json(rec, key);
    if (!obj)
        return EXIT_FAIL;
    int rc = record_json_print(obj);
    json_decref(obj);
    return rc;
}

int create_run(struct store *s, struct create_request *req, bool json)
{
    struct apikey_record *rec = &req->record;
    char key[APIKEY_LEN + 1];
    if (!apikey_generate(req->kind, key) || !apikey_hash_hex(key, rec->hash)) {
        log_error("cannot generate a key: OpenSSL failure");
        return EXIT_FAIL;
    }
    snprintf(rec->prefix, sizeof rec->prefix, "%.*s", APIKEY_PREFIX_LEN, key);
    rec->created_at = (long long)time(NULL);

    int rc = store_put(s, rec) ? print_created(key, rec, json) : EXIT_FAIL;
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}
