/*
 * Fixed one-minute window per key, shared by all replicas through Redis:
 * INCR <prefix>rl:<key id>:<minute> and EXPIRE it, pipelined in front of the
 * request's own reads so limiting costs no extra round trip.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


#define DS_RL_CMDS   2


/* the number of commands added, or NGX_ERROR */
ngx_int_t
ds_ratelimit_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmd_t *cmds)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ngx_str_t                        suffix, *key;
    u_char                          *p;
    time_t                           now;

    if (!ctx->authenticated) {
        return 0;
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    now = ngx_time();

    suffix.data = ngx_pnalloc(r->pool, DS_KEY_ID_LEN + 1 + NGX_TIME_T_LEN);
    if (suffix.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(suffix.data, "%*s:%T", (size_t) DS_KEY_ID_LEN, ctx->key.id,
                    now / DS_RATE_WINDOW);
    suffix.len = p - suffix.data;

    key = ds_prefixed(r, "rl:", &suffix);
    if (key == NULL) {
        return NGX_ERROR;
    }

    ctx->rl_limit = ctx->key.rate_limit ? ctx->key.rate_limit
                    : (ctx->key.kind == DS_KIND_PK ? dlcf->rate_limit_pk
                                                   : dlcf->rate_limit_sk);
    ctx->rl_reset = DS_RATE_WINDOW - now % DS_RATE_WINDOW;

    ds_cmd_set(&cmds[0], 2, "INCR", "");
    ds_cmd_set_str(&cmds[0], 1, key);
    ds_cmd_set(&cmds[1], 3, "EXPIRE", "", "60");
    ds_cmd_set_str(&cmds[1], 1, key);

    return DS_RL_CMDS;
}


/* NGX_OK within the limit, NGX_DECLINED over it */
ngx_int_t
ds_ratelimit_check(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *replies)
{
    ngx_uint_t  count;

    if (replies[0].type != REDIS_REPLY_INTEGER || replies[0].integer < 0) {
        return NGX_ERROR;
    }

    count = (ngx_uint_t) replies[0].integer;

    ctx->rate_limited = 1;
    ctx->rl_remaining = count >= ctx->rl_limit ? 0 : ctx->rl_limit - count;

    return count > ctx->rl_limit ? NGX_DECLINED : NGX_OK;
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


ngx_int_t
ds_ratelimit_headers(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    if (!ctx->rate_limited) {
        return NGX_OK;
    }

    if (ds_header_uint(r, "X-Ratelimit-Limit", ctx->rl_limit) != NGX_OK
        || ds_header_uint(r, "X-Ratelimit-Remaining", ctx->rl_remaining) != NGX_OK
        || ds_header_uint(r, "X-Ratelimit-Reset", ctx->rl_reset) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
