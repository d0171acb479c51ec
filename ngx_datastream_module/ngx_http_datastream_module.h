#ifndef NGX_HTTP_DATASTREAM_MODULE_H
#define NGX_HTTP_DATASTREAM_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <datastream_contract.h>
#include <datastream_keys.h>


/* the longest command the module sends: EVAL, script, numkeys, 2 keys, 1 arg */
#define DS_CMD_ARGS_MAX        6

#define DS_CONTENT_TYPE        "application/json; charset=utf-8"


/* what a location serves */
typedef enum {
    DS_HANDLER_NONE = 0,
    DS_HANDLER_API,
    DS_HANDLER_SUBSCRIBER_AUTH,
    DS_HANDLER_HEALTHZ,
    DS_HANDLER_READYZ,
    DS_HANDLER_METRICS,
    DS_HANDLER_COUNT
} ds_handler_e;

/* metric label of a request */
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
    ngx_flag_t                 unbatch;
    ngx_msec_t                 sse_lifetime;  /* 0: streams live as long as their clients */
    ngx_msec_t                 sse_heartbeat; /* 0: no heartbeat comments */
} ngx_http_datastream_loc_conf_t;


/* an API key as the backend knows it after lookup */
typedef struct {
    u_char                     id[DATASTREAM_APIKEY_ID_LEN];
    ds_kind_e                  kind;
    ngx_uint_t                 rate_limit;   /* 0 = kind default */
    size_t                     origins_len;  /* at most DATASTREAM_ORIGINS_MAX */
    u_char                    *origins;      /* in the request pool */
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

/* where the key of a credential was looked for */
typedef enum {
    DS_LOOKUP_NONE = 0,        /* not yet */
    DS_LOOKUP_FOUND,
    DS_LOOKUP_UNKNOWN,         /* no such key, or its record is unusable */
    DS_LOOKUP_FAILED           /* Redis failed */
} ds_lookup_e;

/* everything the authentication decision depends on, as plain values */
typedef struct {
    ds_cred_e                  cred;
    ds_kind_e                  kind;        /* presented: the key's prefix, the token's */
    ngx_int_t                  token_rc;    /* ds_token_verify's, for a token */
    const char                *token_err;
    ds_lookup_e                lookup;
    const ds_key_t            *key;         /* the record, when found */
    const ngx_str_t           *origin;      /* Origin, or same-origin Referer's; NULL */
} ds_auth_facts_t;

typedef enum {
    DS_VERDICT_REFUSE = 0,
    DS_VERDICT_LOOKUP,         /* decidable once the key is looked up */
    DS_VERDICT_ADMIT
} ds_verdict_e;

typedef struct {
    ds_verdict_e               verdict;
    ngx_uint_t                 status;      /* of a refusal */
    const char                *error;       /* of a refusal */
    unsigned                   allow_origin:1;
} ds_auth_verdict_t;


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

/*
 * The commands of one pipelined batch, in storage of a fixed size: a push
 * that would not fit is refused, never written past the end.
 */
typedef struct {
    ds_cmd_t                  *cmd;
    ngx_uint_t                 n;
    ngx_uint_t                 size;
    ngx_log_t                 *log;
} ds_cmds_t;

#define ds_cmds_init(cmds, storage, nstorage, lg)                             \
    ((cmds)->cmd = (storage), (cmds)->n = 0, (cmds)->size = (nstorage),        \
     (cmds)->log = (lg))

/* replies is NULL when Redis failed or timed out */
typedef void (*ds_batch_handler_pt)(ngx_http_request_t *r, ds_reply_t *replies,
    ngx_uint_t n);

typedef void (*ds_continue_pt)(ngx_http_request_t *r);


typedef struct ds_ctx_s  ds_ctx_t;

/*
 * What a feature adds to an answer of status with a body of len bytes, run
 * by ds_send_parts before the headers go out; the reply layer knows no
 * feature.
 */
typedef ngx_int_t (*ds_answer_hook_pt)(ngx_http_request_t *r, ds_ctx_t *ctx,
    ngx_uint_t status, off_t len);

/* CORS, rate-limit headers, the subscriber's shim: one each per request */
#define DS_ANSWER_HOOKS_MAX    4


typedef struct ds_stream_ctx_s  ds_stream_ctx_t;

/* nchan's ids are "<time>:<tag>"; a longer one is never repeated */
#define DS_UNBATCH_ID_MAX      96
/* a round's id inside a message: "<previous message's id>.<rounds before it + 1>" */
#define DS_ROUND_ID_MAX        (DS_UNBATCH_ID_MAX + 1 + NGX_INT_T_LEN)

/* rounds a stream remembers, to drop one that a channel got twice */
#define DS_UNBATCH_SEEN        128

/* what ngx_http_datastream_unbatch.c keeps between two messages */
typedef struct {
    ngx_chain_t               *free;
    ngx_chain_t               *busy;
    size_t                     prev_id_len;   /* 0: not known */
    u_char                     prev_id[DS_UNBATCH_ID_MAX];
    ngx_uint_t                 skip;          /* rounds of the next message the client has */
    uint64_t                   seen[DS_UNBATCH_SEEN];  /* hashes of the last rounds sent */
    ngx_uint_t                 nseen;
} ds_unbatch_t;

/* per-request state */
struct ds_ctx_s {
    ds_route_e                 route;
    ngx_str_t                  name;          /* slug or type from the path */
    ngx_uint_t                 limit;
    ngx_int_t                  param_status;  /* deferred 400/404 of path/args */
    const char                *param_error;
    ds_kind_e                  kind;
    u_char                     key_hash[DATASTREAM_APIKEY_HASH_HEX_LEN];
    ds_key_t                   key;
    unsigned                   authenticated:1;
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
    ds_answer_hook_pt          answer_hooks[DS_ANSWER_HOOKS_MAX];
    ngx_uint_t                 nanswer_hooks;
};


/*
 * state of an nchan SSE subscriber request (in a location the module does
 * not serve itself), created before nchan runs: the authorization
 * subrequest fills in the initial event, the body filter sends it
 */
/* a WebSocket/SSE subscriber's state (ngx_http_datastream_sse_initial.c) */
struct ds_stream_ctx_s {
    ngx_pool_t                *pool;          /* the subscriber request's */
    ngx_str_t                  initial;       /* the whole event, or empty */
    ds_ctx_t                  *sub;           /* the authorization's, while both live */
    unsigned                   wants_initial:1;
    unsigned                   done:1;        /* the initial event is behind */
    unsigned                   websocket:1;
    ds_unbatch_t               unbatch;
    ngx_event_t                lifetime;      /* SSE: ends the stream */
    ngx_event_t                heartbeat;     /* SSE: the next comment */
    ngx_buf_t                  heartbeat_buf;
    ngx_chain_t                heartbeat_link;
};


extern ngx_module_t  ngx_http_datastream_module;


/* module */
ds_ctx_t *ds_ctx_get(ngx_http_request_t *r, ds_route_e route);
ngx_int_t ds_content_begin(ngx_http_request_t *r, ds_route_e route,
    ds_ctx_t **ctxp);
ngx_str_t *ds_key_name(ngx_pool_t *pool, ngx_str_t *prefix, datastream_key_e key,
    ngx_str_t *parts, ngx_uint_t nparts);
ngx_str_t *ds_redis_key(ngx_http_request_t *r, datastream_key_e key, ngx_str_t *parts,
    ngx_uint_t nparts);
ngx_str_t *ds_history_key(ngx_http_request_t *r, ngx_uint_t by_type, ngx_str_t *name,
    ngx_uint_t prefixed);

/* redis */
ngx_int_t ds_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_datastream_main_conf_t *dmcf);
void ds_redis_exit_process(void);
ngx_int_t ds_redis_batch(ngx_http_request_t *r, ds_cmds_t *cmds,
    ds_batch_handler_pt handler);

/* command builder (pure) */
ngx_int_t ds_cmds_push_argv(ds_cmds_t *cmds, ngx_uint_t argc, const ngx_str_t *argv);
ngx_int_t ds_cmds_push(ds_cmds_t *cmds, const char *name, ngx_uint_t nargs, ...);

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
ngx_int_t ds_answer_hook_add(ds_ctx_t *ctx, ds_answer_hook_pt hook);
ngx_int_t ds_answer_hook_every(ds_answer_hook_pt hook);

/* auth */
ds_cred_t ds_cred_rest(ngx_http_request_t *r);
ds_cred_t ds_cred_stream(ngx_http_request_t *r, ngx_uint_t websocket);
ds_auth_verdict_t ds_auth_decide(const ds_auth_facts_t *facts);
void ds_auth_start(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cred_t *cred,
    ds_continue_pt next);
ngx_int_t ds_cors_preflight(ngx_http_request_t *r);

/*
 * Redis scripts of lua/, embedded at build time.  A token names its key by id
 * only: on a key cache miss, ds_lua_key_by_id finds the key among the live
 * keys and reads its record in one read-only round trip.
 */
extern const char  ds_lua_key_by_id[];

/* key cache */
ngx_int_t ds_keycache_get(const u_char *hash, ds_key_t *key, ngx_pool_t *pool);
void ds_keycache_put(const u_char *hash, ds_key_t *key, ngx_msec_t ttl);
ngx_int_t ds_keycache_get_id(const u_char *id, ds_key_t *key, u_char *hash,
    ngx_pool_t *pool);
void ds_keycache_put_id_unknown(const u_char *id, ngx_msec_t ttl);

/* tokens */
ngx_int_t ds_token_mint(ngx_http_request_t *r, ds_key_t *key, ngx_str_t *out);
ngx_int_t ds_token_verify(ngx_http_request_t *r, ngx_str_t *token, ds_key_t *key,
    const char **err);
ngx_int_t ds_token_load_secret(ngx_cycle_t *cycle,
    ngx_http_datastream_main_conf_t *dmcf);

/* rate limit */
ngx_int_t ds_ratelimit_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmds_t *cmds);
ngx_int_t ds_ratelimit_check(ngx_http_request_t *r, ds_ctx_t *ctx,
    ds_reply_t *replies);

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
ngx_uint_t ds_is_websocket(ngx_http_request_t *r);
void ds_subscriber_channel(ngx_http_request_t *subscriber, ngx_str_t *name,
    ngx_uint_t *type);
ngx_int_t ds_subprotocol_filter_init(ngx_conf_t *cf);

/* SSE initial event */
ngx_int_t ds_sse_initial_filter_init(ngx_conf_t *cf);
ngx_int_t ds_unbatch_filter_init(ngx_conf_t *cf);
ds_stream_ctx_t *ds_stream_ctx(ngx_http_request_t *main);
ngx_int_t ds_resume_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx);
ngx_int_t ds_stream_phase_handler(ngx_http_request_t *r);
ngx_int_t ds_stream_timer_start(ngx_http_request_t *r, ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_msec_t delay);
ngx_int_t ds_stream_lifetime_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx,
    ngx_msec_t lifetime);
ngx_int_t ds_stream_heartbeat_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx,
    ngx_msec_t interval);
ngx_int_t ds_stream_link(ngx_http_request_t *r, ds_ctx_t *ctx);
void ds_stream_set_initial(ds_stream_ctx_t *sctx, ds_reply_t *reply);
ngx_int_t ds_redact_handler(ngx_http_request_t *r);
ngx_int_t ds_redact_log_handler(ngx_http_request_t *r);
ngx_int_t ds_subscriber_shim_upstream(ngx_http_request_t *r, ds_ctx_t *ctx,
    ngx_uint_t status, off_t len);
ngx_int_t ds_healthz_handler(ngx_http_request_t *r);
ngx_int_t ds_readyz_handler(ngx_http_request_t *r);

/* error log writer */
ngx_int_t ds_log_redact_chain(ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ds_log_redact_init_module(ngx_cycle_t *cycle);

/* metrics */
ngx_int_t ds_metrics_init_conf(ngx_conf_t *cf, ngx_http_datastream_main_conf_t *dmcf);
void ds_metrics_redis_error(void);
ngx_int_t ds_metrics_handler(ngx_http_request_t *r);

/* params (pure) */
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
