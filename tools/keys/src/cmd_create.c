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
    if (len == 0 || len > DATASTREAM_APIKEY_NAME_MAX)
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

int dsk_create_prepare(const dsk_cli_t *cli, dsk_create_request_t *req)
{
    memset(req, 0, sizeof *req);
    dsk_apikey_record_t *rec = &req->record;
    if (!cli->name || !name_is_valid(cli->name)) {
        dsk_log_error("create needs --name: 1-%d printable characters", DATASTREAM_APIKEY_NAME_MAX);
        return DSK_EXIT_USAGE;
    }
    if (!cli->kind || !dsk_apikey_kind_parse(cli->kind, &req->kind)) {
        dsk_log_error("create needs --kind sk or --kind pk");
        return DSK_EXIT_USAGE;
    }
    if (cli->rate_limit && !parse_rate_limit(cli->rate_limit, &rec->rate_limit)) {
        dsk_log_error("--rate-limit must be an integer from 0 to %lld", RATE_LIMIT_MAX);
        return DSK_EXIT_USAGE;
    }
    if (req->kind == DSK_APIKEY_SK && cli->origins) {
        dsk_log_error("--origins applies to pk keys only (sk keys have no origin check)");
        return DSK_EXIT_USAGE;
    }
    if (req->kind == DSK_APIKEY_PK) {
        char why[512];
        int n = dsk_origins_normalise(cli->origins ? cli->origins : "", rec->origins,
                                  sizeof rec->origins, why, sizeof why);
        if (n < 0) {
            dsk_log_error("%s", why);
            return DSK_EXIT_USAGE;
        }
        if (n == 0) {
            dsk_log_error("pk keys need --origins with at least one origin, e.g. https://app.example");
            return DSK_EXIT_USAGE;
        }
    }
    snprintf(rec->name, sizeof rec->name, "%s", cli->name);
    snprintf(rec->kind, sizeof rec->kind, "%s", dsk_apikey_kind_name(req->kind));
    return DSK_EXIT_OK;
}

static int print_created(const char *key, const dsk_apikey_record_t *rec, bool json)
{
    if (!json)
        return printf("%s\n", key) < 0 ? DSK_EXIT_FAIL : DSK_EXIT_OK;
    json_t *obj = dsk_record_json(rec, key);
    if (!obj)
        return DSK_EXIT_FAIL;
    int rc = dsk_record_json_print(obj);
    json_decref(obj);
    return rc;
}

int dsk_create_run(dsk_store_t *s, dsk_create_request_t *req, bool json)
{
    dsk_apikey_record_t *rec = &req->record;
    char key[DATASTREAM_APIKEY_LEN + 1];
    if (!dsk_apikey_generate(req->kind, key) || !dsk_apikey_hash_hex(key, rec->hash)) {
        dsk_log_error("cannot generate a key: OpenSSL failure");
        return DSK_EXIT_FAIL;
    }
    snprintf(rec->prefix, sizeof rec->prefix, "%.*s", DATASTREAM_APIKEY_PREFIX_LEN, key);
    rec->created_at = (long long)time(NULL);

    int rc = dsk_store_put(s, rec) ? print_created(key, rec, json) : DSK_EXIT_FAIL;
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}
