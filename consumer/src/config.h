/* Configuration from environment variables; every variable has a default. */
#ifndef DS_CONFIG_H
#define DS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DS_HOST_MAX 256
#define DS_TEXT_MAX 512
#define DS_PUBLISH_CONNECTIONS_MAX 16

typedef struct {
    char nats_url[DS_TEXT_MAX];
    char redis_url[DS_TEXT_MAX];
    char redis_host[DS_HOST_MAX];
    int redis_port;
    int redis_db;
    char redis_prefix[DS_TEXT_MAX];
    char publish_url[DS_TEXT_MAX];
    char publish_host[DS_HOST_MAX];
    int publish_port;
    char publish_path[DS_TEXT_MAX];
    int64_t publish_connections;
    char prefix[DS_TEXT_MAX];
    char stream[DS_TEXT_MAX];
    char durable_rounds[DS_TEXT_MAX];
    char durable_games[DS_TEXT_MAX];
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
    char metrics_addr[DS_HOST_MAX];
    int64_t metrics_port;
    char log_level[16];
    int64_t create_stream;
    /* Not from the environment: made at load, unique per process (host, pid, random part);
     * names this process as the holder of publication leases. */
    char owner[DS_HOST_MAX + 64];
} ds_config;

/* Reads the environment through getenv. Returns 0, or -1 with a message in err. */
int ds_config_load(ds_config *cfg, char *err, size_t err_size);
void ds_config_usage(FILE *out);

#endif
