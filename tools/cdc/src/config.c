#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *fallback;
    const char *help;
} setting_t;

static const setting_t settings[] = {
    { "DATABASE_URL", NULL, "PostgreSQL, postgresql://user:password@host:port/db (required); the user needs REPLICATION" },
    { "NATS_URL", "nats://127.0.0.1:4222", "NATS server" },
    { "NATS_USER", NULL, "NATS user (conf/nats/nats-server.conf: debezium)" },
    { "NATS_PASSWORD", NULL, "its password" },
    { "TOPIC_PREFIX", "datastream", "Debezium topic.prefix: subjects <prefix>.<schema>.<table>, source.name" },
    { "SLOT_NAME", "datastream", "logical replication slot (pgoutput), made when missing" },
    { "PUBLICATION_NAME", "datastream", "publication, made for TABLES when missing" },
    { "TABLES", "public.rounds,public.games", "tables captured, comma separated" },
    { "SCHEMAS_ENABLE", "0", "1: wrap each value in {\"schema\",\"payload\"} (JSON converter schemas.enable)" },
    { "SNAPSHOT_MODE", "initial", "initial: rows already present are published as op r when the slot is made; never" },
    { "CREATE_STREAM", "0", "1: create STREAM_NAME (subjects <prefix>.>, file storage) when missing" },
    { "STREAM_NAME", "DebeziumStream", "JetStream stream" },
    { "OFFSET_FILE", NULL, "where a finished snapshot is recorded; a slot without it is remade and snapshot again (unset: a slot found at start counts as snapshot)" },
    { "METRICS_PORT", "0", "/metrics /healthz /readyz on 127.0.0.1 (0: off)" },
    { "STATUS_INTERVAL_MS", "1000", "how often the flushed position is confirmed to PostgreSQL" },
};

static const char *
setting(const char *name)
{
    const char *v = getenv(name);

    if (v != NULL && *v != '\0') {
        return v;
    }
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        if (strcmp(settings[i].name, name) == 0) {
            return settings[i].fallback;
        }
    }
    return NULL;
}

static int
integer(const char *name, long lo, long hi, int *out, FILE *err)
{
    const char *v = setting(name);
    char       *end;
    long        n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (*end != '\0' || errno != 0 || n < lo || n > hi) {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"bad setting\",\"name\":\"%s\",\"expected\":\"%ld..%ld\"}\n",
                name, lo, hi);
        return -1;
    }
    *out = (int) n;
    return 0;
}

int
dscdc_config_load(dscdc_config_t *cfg, FILE *err)
{
    const char *snapshot;
    char       *save = NULL;

    memset(cfg, 0, sizeof(*cfg));
    cfg->database_url = setting("DATABASE_URL");
    cfg->nats_url = setting("NATS_URL");
    cfg->nats_user = setting("NATS_USER");
    cfg->nats_password = setting("NATS_PASSWORD");
    cfg->topic_prefix = setting("TOPIC_PREFIX");
    cfg->slot_name = setting("SLOT_NAME");
    cfg->publication_name = setting("PUBLICATION_NAME");
    cfg->stream_name = setting("STREAM_NAME");
    cfg->offset_file = setting("OFFSET_FILE");
    if (cfg->database_url == NULL) {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"DATABASE_URL is required\"}\n");
        return -1;
    }
    if (cfg->nats_password != NULL && cfg->nats_user == NULL) {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"NATS_PASSWORD needs NATS_USER\"}\n");
        return -1;
    }
    snapshot = setting("SNAPSHOT_MODE");
    if (strcmp(snapshot, "initial") != 0 && strcmp(snapshot, "never") != 0) {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"bad setting\",\"name\":\"SNAPSHOT_MODE\",\"expected\":\"initial|never\"}\n");
        return -1;
    }
    cfg->snapshot_initial = strcmp(snapshot, "initial") == 0;
    if (integer("SCHEMAS_ENABLE", 0, 1, &cfg->schemas_enable, err) != 0
        || integer("CREATE_STREAM", 0, 1, &cfg->create_stream, err) != 0
        || integer("METRICS_PORT", 0, 65535, &cfg->metrics_port, err) != 0
        || integer("STATUS_INTERVAL_MS", 10, 60000, &cfg->status_interval_ms, err) != 0)
    {
        return -1;
    }
    if ((size_t) snprintf(cfg->tables_buf, sizeof(cfg->tables_buf), "%s", setting("TABLES"))
        >= sizeof(cfg->tables_buf))
    {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"TABLES is too long\"}\n");
        return -1;
    }
    for (char *t = strtok_r(cfg->tables_buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const char *dot = strchr(t, '.');
        if (cfg->ntables == DSCDC_MAX_TABLES || dot == NULL || dot == t || dot[1] == '\0'
            || strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_.") != strlen(t))
        {
            fprintf(err, "{\"level\":\"error\",\"msg\":\"bad setting\",\"name\":\"TABLES\",\"expected\":\"schema.table[,...] (at most %d, lowercase)\"}\n",
                    DSCDC_MAX_TABLES);
            return -1;
        }
        cfg->tables[cfg->ntables++] = t;
    }
    if (cfg->ntables == 0 || strspn(cfg->slot_name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(cfg->slot_name)
        || strspn(cfg->publication_name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(cfg->publication_name))
    {
        fprintf(err, "{\"level\":\"error\",\"msg\":\"TABLES, SLOT_NAME and PUBLICATION_NAME must be lowercase identifiers\"}\n");
        return -1;
    }
    return 0;
}

void
dscdc_config_usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-cdc [--help]\n"
        "\n"
        "The local stand-in for Debezium Server: reads PostgreSQL's logical replication\n"
        "(pgoutput) and publishes to JetStream what Debezium Server's NATS JetStream sink\n"
        "would for the same change. Production runs Debezium Server.\n"
        "\n"
        "Environment:\n");
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        fprintf(out, "  %-20s %s%s%s%s\n", settings[i].name, settings[i].help,
                settings[i].fallback ? " [" : "", settings[i].fallback ? settings[i].fallback : "",
                settings[i].fallback ? "]" : "");
    }
}
