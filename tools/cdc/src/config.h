/* The bridge's settings, all from the environment (--help lists them). */
#ifndef DSCDC_CONFIG_H
#define DSCDC_CONFIG_H

#include <stdio.h>

#define DSCDC_MAX_TABLES 16

typedef struct {
    const char *database_url;
    const char *nats_url;
    const char *nats_user;
    const char *nats_password;
    const char *topic_prefix;
    const char *slot_name;
    const char *publication_name;
    const char *tables[DSCDC_MAX_TABLES];   /* "schema.table" */
    int         ntables;
    int         schemas_enable;
    int         snapshot_initial;
    int         create_stream;
    const char *stream_name;
    const char *offset_file;
    int         metrics_port;
    int         status_interval_ms;
    char        tables_buf[1024];
} dscdc_config_t;

/* 0, or -1 after printing which variable is wrong. */
int  dscdc_config_load(dscdc_config_t *cfg, FILE *err);
void dscdc_config_usage(FILE *out);

#endif
