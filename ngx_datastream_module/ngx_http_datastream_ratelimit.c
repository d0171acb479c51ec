/*
 * Fixed one-minute window per key, shared by all replicas through Redis:
 * INCR <prefix>rl:<key id>:<minute> and EXPIRE it, pipelined in front of the
 * request's own reads so limiting costs no extra round trip.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


/*
 * The counter's commands open the batch; ctx->step_base tells the caller's
 * reply handler where the replies to its own commands begin.
 */
ngx_int_t
ds_ratelimit_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmds_t *cmds)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ngx_str_t                        parts[2], *key;
    time_t                           now;

    static ngx_str_t  ttl = ngx_string(ngx_value(DATASTREAM_RATE_WINDOW_S));

    if (!ctx->authenticated) {
        ctx->step_base = cmds->n;
        return NGX_OK;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    now = ngx_time();

    parts[0].data = ctx->key.id;
    parts[0].len = DATASTREAM_APIKEY_ID_LEN;

    parts[1].data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (parts[1].data == NULL) {
        return NGX_ERROR;
    }

    parts[1].len = ngx_sprintf(parts[1].data, "%T", now / DATASTREAM_RATE_WINDOW_S)
                   - parts[1].data;

    key = ds_redis_key(r, DATASTREAM_KEY_RATE, parts, 2);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ctx->rl_limit = ctx->key.rate_limit ? ctx->key.rate_limit
                    : (ctx->key.kind == DS_KIND_PK ? dlcf->rate_limit_pk
                                                   : dlcf->rate_limit_sk);
    ctx->rl_reset = DATASTREAM_RATE_WINDOW_S - now % DATASTREAM_RATE_WINDOW_S;

    if (ds_cmds_push(cmds, "INCR", 1, key) != NGX_OK
        || ds_cmds_push(cmds, "EXPIRE", 2, key, &ttl) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->step_base = cmds->n;

    return NGX_OK;
}


static ngx_int_t
ds_header_uint(ngx_http_request_t *r, const char *name, ngx_uint_t n)
{
    ngx_str_t  v;

    v.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    v.len = ngx_sprintf(v.data, "%ui", n) - v.data;

    return ds_header_set(r, name, &v);
}


static ngx_int_t
ds_ratelimit_headers(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_uint_t status,
    off_t len)
{
    if (ds_header_uint(r, "X-Ratelimit-Limit", ctx->rl_limit) != NGX_OK
        || ds_header_uint(r, "X-Ratelimit-Remaining", ctx->rl_remaining) != NGX_OK
        || ds_header_uint(r, "X-Ratelimit-Reset", ctx->rl_reset) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* NGX_OK within the limit, NGX_DECLINED over it; either answer tells the count */
ngx_int_t
ds_ratelimit_check(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *replies)
{
    ngx_uint_t  count;

    if (replies[0].type != REDIS_REPLY_INTEGER || replies[0].integer < 0) {
        return NGX_ERROR;
    }

    count = (ngx_uint_t) replies[0].integer;

    ctx->rl_remaining = count >= ctx->rl_limit ? 0 : ctx->rl_limit - count;

    if (ds_answer_hook_add(ctx, ds_ratelimit_headers) != NGX_OK) {
        return NGX_ERROR;
    }

    return count > ctx->rl_limit ? NGX_DECLINED : NGX_OK;
}
