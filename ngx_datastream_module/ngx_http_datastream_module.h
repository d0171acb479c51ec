#ifndef NGX_HTTP_DATASTREAM_MODULE_H
#define NGX_HTTP_DATASTREAM_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define DS_KEY_HASH_HEX_LEN    64
#define DS_KEY_ID_LEN          16
#define DS_ORIGINS_MAX         1024
#define DS_SLUG_MAX            64
#define DS_LIMIT_DEFAULT       500
#define DS_LIMIT_MAX           1000
#define DS_RATE_WINDOW         60
#define DS_CMD_ARGS_MAX        6

#define DS_CONTENT_TYPE        "application/json; charset=utf-8"


/* what a location serves */
typedef enum {
    DS_HANDLER_NONE = 0,
    DS_HANDLER_API,
    DS_HANDLER_SUBSCRIBER_AUTH,
    DS_HANDLER_HEALTHZ,
    DS_HANDLER_READYZ,
    DS_HANDLER_METRICS
} ds_handler_e;

/* metric label of a request; keep in sync with ds_route_names */
typedef enum {
    DS_ROUTE_UNKNOWN = 0,
    DS_ROUTE_GAMES,
    DS_ROUTE_LATEST,
    DS_ROUTE_HISTORY,
    DS_ROUTE_HISTORY_TYPE,
    DS_ROUTE_TOKEN,
    DS_ROUTE_PREFLIGHT,
    DS_ROUTE_SUBSCRIBE,
    DS_ROUTE_HEALTHZ,
    DS_ROUTE_READYZ,
    DS_ROUTE_METRICS,
    DS_ROUTE_COUNT
} ds_route_e;

typedef enum {
    DS_KIND_NONE = 0,
    DS_KIND_SK,
    DS_KIND_PK
} ds_kind_e;


typedef struct {
    ngx_str_t                  redis_host;   /* numeric address, resolved at startup */
    in_port_t                  redis_port;
    ngx_str_t                  prefix;
    ngx_msec_t                 redis_timeout;
    ngx_str_t                  secret_env;
    ngx_str_t                  secret;       /* from the file, or the env at worker start */
    time_t                     token_ttl;
    ngx_msec_t                 key_cache_ttl;
    ngx_flag_t                 log_redact;
    size_t                     history_cache;  /* bytes per worker, 0: off */
    ngx_shm_zone_t            *metrics_zone;
} ngx_http_datastream_main_conf_t;

typedef struct {
    ds_handler_e               handler;
    ngx_flag_t                 auth;
    ngx_uint_t                 rate_limit_sk;
    ngx_uint_t                 rate_limit_pk;
    ngx_str_t                  nchan_status;  /* internal nchan_stub_status URI */
    ngx_flag_t                 sse_initial;
} ngx_http_datastream_loc_conf_t;


/* an API key as the backend knows it after lookup */
typedef struct {
    u_char                     id[DS_KEY_ID_LEN];
    ds_kind_e                  kind;
    ngx_uint_t                 rate_limit;   /* 0 = kind default */
    size_t                     origins_len;
    u_char                     origins[DS_ORIGINS_MAX];
} ds_key_t;

/* what the client presented */
typedef enum {
    DS_CRED_NONE = 0,
    DS_CRED_KEY,
    DS_CRED_TOKEN,
    DS_CRED_MALFORMED
} ds_cred_e;

typedef struct {
    ds_cred_e                  type;
    ngx_str_t                  value;
} ds_cred_t;


/* a Redis reply copied into the request pool */
typedef struct ds_reply_s  ds_reply_t;
struct ds_reply_s {
    int                        type;
    long long                  integer;
    ngx_str_t                  str;
    size_t                     elements;
    ds_reply_t                *element;
};

typedef struct {
    int                        argc;
    const char                *argv[DS_CMD_ARGS_MAX];
    size_t                     argvlen[DS_CMD_ARGS_MAX];
} ds_cmd_t;

/* replies is NULL when Redis failed or timed out */
typedef void (*ds_batch_handler_pt)(ngx_http_request_t *r, ds_reply_t *replies,
    ngx_uint_t n);

typedef void (*ds_continue_pt)(ngx_http_request_t *r);


typedef struct ds_stream_ctx_s  ds_stream_ctx_t;

/* per-request state */
typedef struct ds_ctx_s  ds_ctx_t;
struct ds_ctx_s {
    ds_route_e                 route;
    ngx_str_t                  name;          /* slug or type from the path */
    ngx_uint_t                 limit;
    ngx_int_t                  param_status;  /* deferred 400/404 of path/args */
    const char                *param_error;
    ds_kind_e                  kind;
    u_char                     key_hash[DS_KEY_HASH_HEX_LEN];
    ds_key_t                   key;
    unsigned                   authenticated:1;
    unsigned                   allow_origin:1;
    unsigned                   rate_limited:1;
    unsigned                   by_type:1;     /* subscriber: a type channel */
    unsigned                   token:1;       /* the credential was a token */
    ngx_uint_t                 rl_limit;
    ngx_uint_t                 rl_remaining;
    ngx_uint_t                 rl_reset;
    ds_continue_pt             next;
    ngx_uint_t                 step_base;     /* first data reply after rate-limit */
    ngx_str_t                  history;       /* its key, without the prefix */
    ngx_str_t                 *history_rev;   /* its revision, or NULL */
    unsigned                   history_read:1; /* members in the first round trip */
    ngx_array_t               *games;         /* of ds_game_t, for /api/games */
    ngx_event_t                start;         /* subscriber: deferred start */
    ngx_buf_t                 *nchan_status;  /* metrics: nchan's figures */
    ngx_str_t                  origin;        /* resolved at the start */
    unsigned                   has_origin:1;
    ds_stream_ctx_t           *stream;        /* subscriber: SSE state, or NULL */
};


/*
 * state of an nchan SSE subscriber request (in a location the module does
 * not serve itself), created before nchan runs: the authorization
 * subrequest fills in the initial event, the body filter sends it
 */
struct ds_stream_ctx_s {
    ngx_pool_t                *pool;          /* the subscriber request's */
    ngx_str_t                  initial;       /* the whole event, or empty */
    ds_ctx_t                  *sub;           /* the authorization's, while both live */
    unsigned                   done:1;
};


extern ngx_module_t  ngx_http_datastream_module;


/* module */
ds_ctx_t *ds_ctx_get(ngx_http_request_t *r, ds_route_e route);
ngx_str_t *ds_prefixed(ngx_http_request_t *r, const char *suffix, ngx_str_t *name);

/* redis */
ngx_int_t ds_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_datastream_main_conf_t *dmcf);
void ds_redis_exit_process(void);
ngx_int_t ds_redis_batch(ngx_http_request_t *r, ds_cmd_t *cmds, ngx_uint_t n,
    ds_batch_handler_pt handler);
void ds_cmd_set(ds_cmd_t *cmd, int argc, ...);
void ds_cmd_set_str(ds_cmd_t *cmd, int i, ngx_str_t *s);

/* replies */
ngx_int_t ds_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *body);
ngx_int_t ds_send_parts(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *parts,
    ngx_uint_t n);
ngx_int_t ds_send_body(ngx_http_request_t *r, ngx_uint_t status, const char *type,
    ngx_str_t *parts, ngx_uint_t n);
ngx_int_t ds_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ds_send_unavailable(ngx_http_request_t *r);
ngx_int_t ds_header_set(ngx_http_request_t *r, const char *name, ngx_str_t *value);
ngx_str_t *ds_header_in(ngx_http_request_t *r, const char *name, size_t len);

/* auth */
ds_cred_t ds_cred_rest(ngx_http_request_t *r);
ds_cred_t ds_cred_stream(ngx_http_request_t *r, ngx_uint_t websocket);
void ds_auth_start(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cred_t *cred,
    ds_continue_pt next);
ngx_int_t ds_cors_preflight(ngx_http_request_t *r);
ngx_int_t ds_cors_headers(ngx_http_request_t *r, ds_ctx_t *ctx);

/* key cache */
ngx_int_t ds_keycache_get(const u_char *hash, ds_key_t *key);
void ds_keycache_put(const u_char *hash, ds_key_t *key, ngx_msec_t ttl);
ngx_int_t ds_keycache_get_id(const u_char *id, ds_key_t *key, u_char *hash);
void ds_keycache_put_id_unknown(const u_char *id, ngx_msec_t ttl);

/* tokens */
ngx_int_t ds_token_mint(ngx_http_request_t *r, ds_key_t *key, ngx_str_t *out);
ngx_int_t ds_token_verify(ngx_http_request_t *r, ngx_str_t *token, ds_key_t *key,
    const char **err);
ngx_int_t ds_token_load_secret(ngx_cycle_t *cycle,
    ngx_http_datastream_main_conf_t *dmcf);

/* rate limit */
ngx_int_t ds_ratelimit_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmd_t *cmds);
ngx_int_t ds_ratelimit_check(ngx_http_request_t *r, ds_ctx_t *ctx,
    ds_reply_t *replies);
ngx_int_t ds_ratelimit_headers(ngx_http_request_t *r, ds_ctx_t *ctx);

/* history answers, cached per worker by revision */
ngx_int_t ds_history_known(ngx_str_t *name);
ngx_int_t ds_history_cached(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *rev,
    ngx_uint_t limit);
ngx_int_t ds_history_answer(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *rev,
    ngx_uint_t limit, ds_reply_t *members);
void ds_history_exit_process(void);

/* handlers */
ngx_int_t ds_api_handler(ngx_http_request_t *r);
ngx_int_t ds_api_games(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *hash);
ngx_int_t ds_games_have_type(ds_reply_t *games, ngx_str_t *type);
ngx_int_t ds_subscriber_auth_handler(ngx_http_request_t *r);
ngx_int_t ds_subscriber_filter_init(ngx_conf_t *cf);
ngx_int_t ds_stream_phase_handler(ngx_http_request_t *r);
ngx_int_t ds_redact_handler(ngx_http_request_t *r);
ngx_int_t ds_redact_log_handler(ngx_http_request_t *r);
ngx_int_t ds_subscriber_shim_upstream(ngx_http_request_t *r, off_t len);
ngx_int_t ds_healthz_handler(ngx_http_request_t *r);
ngx_int_t ds_readyz_handler(ngx_http_request_t *r);

/* error log writer */
ngx_int_t ds_log_redact_chain(ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ds_log_redact_init_module(ngx_cycle_t *cycle);

/* metrics */
ngx_int_t ds_metrics_init_conf(ngx_conf_t *cf, ngx_http_datastream_main_conf_t *dmcf);
void ds_metrics_observe(ngx_http_request_t *r, ds_route_e route, ngx_uint_t status);
void ds_metrics_redis_error(void);
ngx_int_t ds_metrics_handler(ngx_http_request_t *r);

/* params (pure) */
ngx_int_t ds_parse_slug(const u_char *p, size_t len);
ngx_int_t ds_parse_limit(const u_char *p, size_t len, ngx_uint_t *limit);
ds_kind_e ds_parse_key(const u_char *p, size_t len);
ngx_int_t ds_pick_subprotocol(const u_char *p, size_t len, ngx_str_t *out);
ngx_int_t ds_origin_listed(const u_char *list, size_t list_len,
    const u_char *origin, size_t origin_len);
ngx_int_t ds_url_origin(const u_char *p, size_t len, ngx_str_t *out);

/* log line scrubber (pure) */
size_t ds_log_scrub(const u_char *in, size_t len, u_char *out, size_t size,
    ngx_uint_t *hits);

/* json (pure) */
const u_char *ds_json_skip_value(const u_char *p, const u_char *end, ngx_uint_t depth);
ngx_int_t ds_json_member(const u_char *p, const u_char *end, const char *key,
    ngx_str_t *value);
ngx_int_t ds_json_unquote(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out);

#endif /* NGX_HTTP_DATASTREAM_MODULE_H */
