/* Configuration from environment variables; every variable has a default. */
#ifndef DSC_CONFIG_H
#define DSC_CONFIG_H

#include "datastream_contract.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DSC_HOST_MAX 256
#define DSC_TEXT_MAX 512

typedef struct {
    char nats_url[DSC_TEXT_MAX];
    char nats_url_logged[DSC_TEXT_MAX]; /* NATS_URL with any password in it as *** */
    char nats_user[DSC_TEXT_MAX];
    char nats_password[DSC_TEXT_MAX];
    char redis_url[DSC_TEXT_MAX];
    char redis_host[DSC_HOST_MAX];
    int redis_port;
    int redis_db;
    char redis_prefix[DATASTREAM_REDIS_PREFIX_MAX + 1];
    int64_t nchan_buffer_length;
    int64_t nchan_message_timeout_s;
    char prefix[DSC_TEXT_MAX];
    char stream[DSC_TEXT_MAX];
    char durable_rounds[DSC_TEXT_MAX];
    char durable_games[DSC_TEXT_MAX];
    int64_t batch_size;
    int64_t fetch_timeout_ms;
    int64_t ack_wait_s;
    int64_t max_deliver;
    int64_t max_ack_pending;
    int64_t history_max;
    int64_t version_ttl_s;
    int64_t max_message_bytes;
    int64_t unknown_game_max_deliveries;
    int64_t nak_delay_base_ms;
    int64_t nak_delay_max_ms;
    int64_t publication_lease_ms;
    int64_t lease_wait_ms;
    int64_t shutdown_grace_s;
    int64_t lag_refresh_ms;
    char metrics_addr[DSC_HOST_MAX];
    int64_t metrics_port;
    char log_level[16];
    int64_t create_stream;
    /* Not from the environment: made at load, unique per process (host, pid, random part);
     * names this process as the holder of publication leases. */
    char owner[DSC_HOST_MAX + 64];
} dsc_config_t;

/* Reads the environment through getenv. Returns 0, or -1 with a message in err. */
int dsc_config_load(dsc_config_t *cfg, char *err, size_t err_size);
void dsc_config_usage(FILE *out);

#endif
