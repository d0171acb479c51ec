/*
 * ngx_http_datastream_module: directives, configuration and process hooks.
 * The REST API, subscriber authorization, health and metrics live in their
 * own files; this one only wires them into nginx.
 */

#include "ngx_http_datastream_module.h"

#include <openssl/rand.h>


#define DS_SECRET_RANDOM_LEN   32
#define DS_SECRET_FILE_MAX     4096


static void *ds_create_main_conf(ngx_conf_t *cf);
static char *ds_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ds_create_loc_conf(ngx_conf_t *cf);
static char *ds_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ds_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ds_init_module(ngx_cycle_t *cycle);
static ngx_int_t ds_init_process(ngx_cycle_t *cycle);
static void ds_exit_process(ngx_cycle_t *cycle);
static char *ds_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ds_conf_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ds_conf_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


static ngx_command_t  ds_commands[] = {

    { ngx_string("datastream_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ds_conf_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("datastream_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, prefix),
      NULL },

    { ngx_string("datastream_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("datastream_token_secret_env"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, secret_env),
      NULL },

    { ngx_string("datastream_token_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ds_conf_secret_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("datastream_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, token_ttl),
      NULL },

    { ngx_string("datastream_key_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, key_cache_ttl),
      NULL },

    { ngx_string("datastream_history_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, history_cache),
      NULL },

    { ngx_string("datastream_log_redact"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_datastream_main_conf_t, log_redact),
      NULL },

    { ngx_string("datastream_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, auth),
      NULL },

    { ngx_string("datastream_rate_limit_sk"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, rate_limit_sk),
      NULL },

    { ngx_string("datastream_rate_limit_pk"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, rate_limit_pk),
      NULL },

    { ngx_string("datastream_metrics_nchan_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, nchan_status),
      NULL },

    { ngx_string("datastream_sse_initial"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, sse_initial),
      NULL },

    { ngx_string("datastream_sse_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, sse_lifetime),
      NULL },

    { ngx_string("datastream_sse_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, sse_heartbeat),
      NULL },

    { ngx_string("datastream_unbatch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_datastream_loc_conf_t, unbatch),
      NULL },

    { ngx_string("datastream_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ds_conf_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      DS_HANDLER_API,
      NULL },

    { ngx_string("datastream_subscriber_auth"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ds_conf_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      DS_HANDLER_SUBSCRIBER_AUTH,
      NULL },

    { ngx_string("datastream_healthz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ds_conf_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      DS_HANDLER_HEALTHZ,
      NULL },

    { ngx_string("datastream_readyz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ds_conf_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      DS_HANDLER_READYZ,
      NULL },

    { ngx_string("datastream_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ds_conf_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      DS_HANDLER_METRICS,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ds_module_ctx = {
    NULL,                                  /* preconfiguration */
    ds_postconfiguration,                  /* postconfiguration */

    ds_create_main_conf,                   /* create main configuration */
    ds_init_main_conf,                     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ds_create_loc_conf,                    /* create location configuration */
    ds_merge_loc_conf                      /* merge location configuration */
};


ngx_module_t  ngx_http_datastream_module = {
    NGX_MODULE_V1,
    &ds_module_ctx,                        /* module context */
    ds_commands,                           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ds_init_module,                        /* init module */
    ds_init_process,                       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ds_exit_process,                       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_handler_pt  ds_handlers[DS_HANDLER_COUNT] = {
    [DS_HANDLER_API]             = ds_api_handler,
    [DS_HANDLER_SUBSCRIBER_AUTH] = ds_subscriber_auth_handler,
    [DS_HANDLER_HEALTHZ]         = ds_healthz_handler,
    [DS_HANDLER_READYZ]          = ds_readyz_handler,
    [DS_HANDLER_METRICS]         = ds_metrics_handler,
};


static void *
ds_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_datastream_main_conf_t  *dmcf;

    dmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_datastream_main_conf_t));
    if (dmcf == NULL) {
        return NULL;
    }

    dmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    dmcf->token_ttl = NGX_CONF_UNSET;
    dmcf->key_cache_ttl = NGX_CONF_UNSET_MSEC;
    dmcf->log_redact = NGX_CONF_UNSET;
    dmcf->history_cache = NGX_CONF_UNSET_SIZE;

    return dmcf;
}


static char *
ds_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_datastream_main_conf_t *dmcf = conf;

    if (dmcf->redis_host.len == 0) {
        ngx_str_set(&dmcf->redis_host, "127.0.0.1");
        dmcf->redis_port = 6379;
    }

    if (dmcf->prefix.data == NULL) {
        ngx_str_set(&dmcf->prefix, "ds:");
    }

    if (dmcf->prefix.len > DATASTREAM_REDIS_PREFIX_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "datastream_redis_prefix: longer than %d bytes",
                           DATASTREAM_REDIS_PREFIX_MAX);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_msec_value(dmcf->redis_timeout, 1000);
    ngx_conf_init_value(dmcf->token_ttl, 30);
    ngx_conf_init_msec_value(dmcf->key_cache_ttl, 5000);
    ngx_conf_init_value(dmcf->log_redact, 1);
    ngx_conf_init_size_value(dmcf->history_cache, 8 * 1024 * 1024);

    if (dmcf->secret.len == 0 && dmcf->secret_env.len == 0) {
        /*
         * Without a configured secret, tokens still work on this instance:
         * the secret is drawn once here, before the workers fork, so every
         * worker shares it. Replicas need a configured secret.
         */
        dmcf->secret.data = ngx_pnalloc(cf->pool, DS_SECRET_RANDOM_LEN);
        if (dmcf->secret.data == NULL) {
            return NGX_CONF_ERROR;
        }

        if (RAND_bytes(dmcf->secret.data, DS_SECRET_RANDOM_LEN) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "datastream: cannot draw a random token secret");
            return NGX_CONF_ERROR;
        }

        dmcf->secret.len = DS_SECRET_RANDOM_LEN;
    }

    return NGX_CONF_OK;
}


static void *
ds_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_datastream_loc_conf_t  *dlcf;

    dlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_datastream_loc_conf_t));
    if (dlcf == NULL) {
        return NULL;
    }

    dlcf->auth = NGX_CONF_UNSET;
    dlcf->rate_limit_sk = NGX_CONF_UNSET_UINT;
    dlcf->rate_limit_pk = NGX_CONF_UNSET_UINT;
    dlcf->sse_initial = NGX_CONF_UNSET;
    dlcf->unbatch = NGX_CONF_UNSET;
    dlcf->sse_lifetime = NGX_CONF_UNSET_MSEC;
    dlcf->sse_heartbeat = NGX_CONF_UNSET_MSEC;

    return dlcf;
}


static char *
ds_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_datastream_loc_conf_t *prev = parent;
    ngx_http_datastream_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_datastream_main_conf_t  *dmcf;

    /*
     * the core module has merged error_log already: the chain is final,
     * unless it is the main one (wrapped when the module is initialized)
     */
    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_datastream_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (dmcf->log_redact && clcf->error_log != &cf->cycle->new_log
        && ds_log_redact_chain(cf->pool, clcf->error_log) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->auth, prev->auth, 1);
    ngx_conf_merge_uint_value(conf->rate_limit_sk, prev->rate_limit_sk, 1000);
    ngx_conf_merge_uint_value(conf->rate_limit_pk, prev->rate_limit_pk, 100);
    ngx_conf_merge_str_value(conf->nchan_status, prev->nchan_status, "");
    ngx_conf_merge_value(conf->sse_initial, prev->sse_initial, 0);
    ngx_conf_merge_value(conf->unbatch, prev->unbatch, 0);
    ngx_conf_merge_msec_value(conf->sse_lifetime, prev->sse_lifetime, 10 * 60 * 1000);
    ngx_conf_merge_msec_value(conf->sse_heartbeat, prev->sse_heartbeat, 15 * 1000);

    return NGX_CONF_OK;
}


static char *
ds_conf_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_datastream_main_conf_t *dmcf = conf;

    ngx_str_t  *value;
    ngx_url_t   u;
    u_char     *text;
    size_t      len;

    if (dmcf->redis_host.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    /* resolved once here: hiredis would resolve with a blocking call */
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "datastream_redis: %s in \"%V\"",
                           u.err ? u.err : "no address", &u.url);
        return NGX_CONF_ERROR;
    }

    text = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (text == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);
    if (len == 0) {
        return NGX_CONF_ERROR;
    }
    text[len] = '\0';

    dmcf->redis_host.data = text;
    dmcf->redis_host.len = len;
    dmcf->redis_port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_CONF_OK;
}


static char *
ds_conf_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_datastream_main_conf_t *dmcf = conf;

    ngx_str_t  *value, path;
    ngx_fd_t    fd;
    ssize_t     n;
    u_char     *buf;

    if (dmcf->secret.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    buf = ngx_pnalloc(cf->pool, DS_SECRET_FILE_MAX);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "datastream_token_secret_file: cannot open \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_fd(fd, buf, DS_SECRET_FILE_MAX);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno, "close() \"%V\" failed",
                           &path);
    }

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "datastream_token_secret_file: cannot read \"%V\"",
                           &path);
        return NGX_CONF_ERROR;
    }

    /* files written by editors and secret stores end with a newline */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    if (n == 0 || n == DS_SECRET_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "datastream_token_secret_file: \"%V\" must hold "
                           "1 to %d bytes", &path, DS_SECRET_FILE_MAX - 1);
        return NGX_CONF_ERROR;
    }

    dmcf->secret.data = buf;
    dmcf->secret.len = n;

    return NGX_CONF_OK;
}


static char *
ds_conf_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_datastream_loc_conf_t *dlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (dlcf->handler != DS_HANDLER_NONE) {
        return "is duplicate";
    }

    dlcf->handler = (ds_handler_e) cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ds_handlers[cmd->offset];

    return NGX_CONF_OK;
}


static ngx_int_t
ds_phase_handler_add(ngx_conf_t *cf, ngx_http_phases phase,
    ngx_http_handler_pt handler)
{
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_handler_pt        *h;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[phase].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = handler;

    return NGX_OK;
}


/* LOG phase handlers run in their order: this one before the access log */
static ngx_int_t
ds_log_handler_add_first(ngx_conf_t *cf, ngx_http_handler_pt handler)
{
    ngx_array_t                *handlers;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    handlers = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;

    if (ngx_array_push(handlers) == NULL) {
        return NGX_ERROR;
    }

    h = handlers->elts;
    ngx_memmove(&h[1], &h[0], (handlers->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = handler;

    return NGX_OK;
}


static ngx_int_t
ds_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_datastream_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_datastream_module);

    if (ds_metrics_init_conf(cf, dmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * credentials leave the request line before anything can log it, and
     * that of a request nginx refused before POST_READ before the access
     * log writes it
     */
    if (ds_phase_handler_add(cf, NGX_HTTP_POST_READ_PHASE, ds_redact_handler)
        != NGX_OK
        || ds_phase_handler_add(cf, NGX_HTTP_PREACCESS_PHASE,
                                ds_stream_phase_handler)
           != NGX_OK
        || ds_log_handler_add_first(cf, ds_redact_log_handler) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ds_subprotocol_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ds_sse_initial_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* registered last, so it runs first: it sees nchan's output alone */
    return ds_unbatch_filter_init(cf);
}


static ngx_int_t
ds_init_module(ngx_cycle_t *cycle)
{
    ngx_http_datastream_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_datastream_module);
    if (dmcf == NULL || !dmcf->log_redact) {
        return NGX_OK;
    }

    return ds_log_redact_init_module(cycle);
}


static ngx_int_t
ds_init_process(ngx_cycle_t *cycle)
{
    ngx_http_datastream_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_datastream_module);
    if (dmcf == NULL) {
        return NGX_OK;
    }

    if (ds_token_load_secret(cycle, dmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ds_redis_init_process(cycle, dmcf);
}


static void
ds_exit_process(ngx_cycle_t *cycle)
{
    ds_redis_exit_process();
    ds_history_exit_process();
}


ds_ctx_t *
ds_ctx_get(ngx_http_request_t *r, ds_route_e route)
{
    ds_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);
    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ds_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->route = route;
    ctx->limit = DATASTREAM_HISTORY_LIMIT_DEFAULT;
    ngx_http_set_ctx(r, ctx, ngx_http_datastream_module);

    return ctx;
}


/*
 * The opening of every content handler: its context, and any request body
 * read and dropped, since no route reads one and keepalive needs it gone.
 * ctxp may be NULL for a handler that needs the context only to be counted.
 */
ngx_int_t
ds_content_begin(ngx_http_request_t *r, ds_route_e route, ds_ctx_t **ctxp)
{
    ds_ctx_t  *ctx;

    ctx = ds_ctx_get(r, route);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctxp) {
        *ctxp = ctx;
    }

    return ngx_http_discard_request_body(r);
}
