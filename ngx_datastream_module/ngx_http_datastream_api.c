/*
 * The REST API under /api/: routing, then authentication, then one
 * pipelined Redis round trip carrying the rate-limit counter and the reads.
 * History and latest answers pass the stored round bytes through unchanged.
 * /api/games needs a second round trip and lives in its own file.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


/* the rate limit's two commands and at most three reads */
#define DS_API_CMDS_MAX   5


static void ds_api_run(ngx_http_request_t *r);


static ngx_int_t
ds_api_route(ngx_http_request_t *r, ds_ctx_t *ctx, ngx_uint_t *methods)
{
    u_char  *p, *end;
    size_t   len;

    static const char  prefix[] = "/api/";

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    if (r->uri.len < sizeof(prefix) - 1
        || ngx_strncmp(p, prefix, sizeof(prefix) - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof(prefix) - 1;
    len = end - p;
    *methods = NGX_HTTP_GET;

#define DS_IS(s)       (len == sizeof(s) - 1 && ngx_strncmp(p, s, sizeof(s) - 1) == 0)
#define DS_STARTS(s)   (len >= sizeof(s) - 1 && ngx_strncmp(p, s, sizeof(s) - 1) == 0)

    if (DS_IS("games")) {
        ctx->route = DS_ROUTE_GAMES;

    } else if (DS_IS("auth/token")) {
        ctx->route = DS_ROUTE_TOKEN;
        *methods = NGX_HTTP_POST;

    } else if (DS_STARTS("latest/")) {
        ctx->route = DS_ROUTE_LATEST;
        p += sizeof("latest/") - 1;

    } else if (DS_STARTS("history/type/")) {
        ctx->route = DS_ROUTE_HISTORY_TYPE;
        p += sizeof("history/type/") - 1;

    } else if (DS_STARTS("history/")) {
        ctx->route = DS_ROUTE_HISTORY;
        p += sizeof("history/") - 1;

    } else {
        return NGX_DECLINED;
    }

#undef DS_IS
#undef DS_STARTS

    ctx->name.data = p;
    ctx->name.len = end - p;

    return NGX_OK;
}


/* path and argument errors are answered only after authentication */
static void
ds_api_params(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ngx_str_t  limit;

    if (ctx->route == DS_ROUTE_GAMES || ctx->route == DS_ROUTE_TOKEN) {
        return;
    }

    if (!datastream_name_valid((const char *) ctx->name.data, ctx->name.len)) {
        ctx->param_status = NGX_HTTP_NOT_FOUND;
        ctx->param_error = ctx->route == DS_ROUTE_HISTORY_TYPE
                           ? "Game type not found" : "Game not found";
        return;
    }

    if (ctx->route != DS_ROUTE_LATEST
        && ngx_http_arg(r, (u_char *) "limit", sizeof("limit") - 1, &limit) == NGX_OK
        && ds_parse_limit(limit.data, limit.len, &ctx->limit) != NGX_OK)
    {
        ctx->param_status = NGX_HTTP_BAD_REQUEST;
        ctx->param_error = "Invalid limit: expected an integer from 1 to "
                           ngx_value(DATASTREAM_HISTORY_LIMIT_MAX);
    }
}


ngx_int_t
ds_api_handler(ngx_http_request_t *r)
{
    ngx_http_datastream_loc_conf_t  *dlcf;
    ds_ctx_t                        *ctx;
    ds_cred_t                        cred;
    ngx_uint_t                       methods;
    ngx_str_t                        allow;
    ngx_int_t                        rc;

    rc = ds_content_begin(r, DS_ROUTE_UNKNOWN, &ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ds_api_route(r, ctx, &methods) != NGX_OK) {
        return ds_send_error(r, NGX_HTTP_NOT_FOUND, "Not found");
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        ctx->route = DS_ROUTE_PREFLIGHT;
        return ds_cors_preflight(r);
    }

    if (!(r->method & methods)) {
        if (methods == NGX_HTTP_POST) {
            ngx_str_set(&allow, "POST, OPTIONS");
        } else {
            ngx_str_set(&allow, "GET, OPTIONS");
        }

        if (ds_header_set(r, "Allow", &allow) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ds_send_error(r, NGX_HTTP_NOT_ALLOWED, "Method not allowed");
    }

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_datastream_module);

    cred = ds_cred_rest(r);

    if (dlcf->auth && cred.type == DS_CRED_TOKEN) {
        return ds_send_error(r, NGX_HTTP_UNAUTHORIZED,
                             "Tokens are only accepted on streaming endpoints");
    }

    if (!dlcf->auth && ctx->route == DS_ROUTE_TOKEN) {
        return ds_send_error(r, NGX_HTTP_BAD_REQUEST,
                             "Authentication is disabled: no token needed");
    }

    ds_api_params(r, ctx);

    r->main->count++;
    ds_auth_start(r, ctx, &cred, ds_api_run);

    return NGX_DONE;
}


/* ZREVRANGE of the route's history, from the newest, limit members */
static ngx_int_t
ds_api_range(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmds_t *cmds, ngx_uint_t limit)
{
    ngx_str_t  *key, stop;

    static ngx_str_t  zero = ngx_string("0");

    key = ds_history_key(r, ctx->route == DS_ROUTE_HISTORY_TYPE, &ctx->name, 1);
    stop.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (key == NULL || stop.data == NULL) {
        return NGX_ERROR;
    }

    stop.len = ngx_sprintf(stop.data, "%ui", limit - 1) - stop.data;

    return ds_cmds_push(cmds, "ZREVRANGE", 3, key, &zero, &stop);
}


/* the data reads of the route */
static ngx_int_t
ds_api_cmds(ngx_http_request_t *r, ds_ctx_t *ctx, ds_cmds_t *cmds)
{
    ngx_str_t  *games, *revisions, *history;
    ngx_int_t   rc;

    games = ds_redis_key(r, DATASTREAM_KEY_GAMES, NULL, 0);
    if (games == NULL) {
        return NGX_ERROR;
    }

    switch (ctx->route) {

    case DS_ROUTE_GAMES:
        return ds_cmds_push(cmds, "HGETALL", 1, games);

    case DS_ROUTE_LATEST:
        if (ds_cmds_push(cmds, "HGET", 2, games, &ctx->name) != NGX_OK) {
            return NGX_ERROR;
        }

        return ds_api_range(r, ctx, cmds, 1);

    case DS_ROUTE_HISTORY:
        rc = ds_cmds_push(cmds, "HEXISTS", 2, games, &ctx->name);
        break;

    case DS_ROUTE_HISTORY_TYPE:
        rc = ds_cmds_push(cmds, "HVALS", 1, games);
        break;

    default:
        return NGX_OK;
    }

    history = ds_history_key(r, ctx->route == DS_ROUTE_HISTORY_TYPE, &ctx->name, 0);
    revisions = ds_redis_key(r, DATASTREAM_KEY_HISTORY_REVISIONS, NULL, 0);

    if (rc != NGX_OK || history == NULL || revisions == NULL) {
        return NGX_ERROR;
    }

    ctx->history = *history;

    if (ds_cmds_push(cmds, "HGET", 2, revisions, &ctx->history) != NGX_OK) {
        return NGX_ERROR;
    }

    /* with an answer cached, the members are only read when it is stale */
    if (ds_history_known(&ctx->history) == NGX_OK) {
        return NGX_OK;
    }

    ctx->history_read = 1;

    return ds_api_range(r, ctx, cmds, ctx->limit);
}


static void
ds_api_history_read(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ds_ctx_t   *ctx;
    ngx_int_t   rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    rc = replies ? ds_history_answer(r, &ctx->history, ctx->history_rev,
                                     ctx->limit, &replies[0])
                 : ds_send_unavailable(r);

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ds_api_history(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *data)
{
    ds_reply_t  *rev = &data[1];
    ds_cmd_t     cmd;
    ds_cmds_t    cmds;
    ngx_int_t    rc;

    if (rev->type == REDIS_REPLY_STRING) {
        ctx->history_rev = &rev->str;

        if (!ctx->history_read) {
            rc = ds_history_cached(r, &ctx->history, &rev->str, ctx->limit);
            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
    }

    if (ctx->history_read) {
        return ds_history_answer(r, &ctx->history, ctx->history_rev, ctx->limit,
                                 &data[2]);
    }

    ds_cmds_init(&cmds, &cmd, 1, r->connection->log);

    if (ds_api_range(r, ctx, &cmds, ctx->limit) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ds_redis_batch(r, &cmds, ds_api_history_read) != NGX_OK) {
        return ds_send_unavailable(r);
    }

    return NGX_DONE;
}


/*
 * The headline value of a round, as raw JSON text: the first of these
 * extras that is present, whatever the game's type; else "null".
 */
static void
ds_api_headline(ngx_http_request_t *r, ngx_str_t *member, ngx_str_t *value)
{
    static const char  *keys[] = { "point", "result", "color" };

    ngx_str_t   raw, extras;
    ngx_uint_t  i;

    ngx_str_set(value, "null");

    if (ds_json_member(member->data, member->data + member->len, "extras", &raw)
        != NGX_OK
        || ds_json_unquote(r->pool, &raw, &extras) != NGX_OK)
    {
        return;
    }

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (ds_json_member(extras.data, extras.data + extras.len, keys[i], &raw)
            == NGX_OK)
        {
            *value = raw;
            return;
        }
    }
}


static ngx_int_t
ds_api_send_latest(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *game,
    ds_reply_t *list)
{
    ngx_str_t  *member, value, body;
    u_char     *close, *p;

    if (game->type != REDIS_REPLY_STRING) {
        return ds_send_error(r, NGX_HTTP_NOT_FOUND, "Game not found");
    }

    if (list->type != REDIS_REPLY_ARRAY || list->elements == 0) {
        return ds_send_error(r, NGX_HTTP_NOT_FOUND, "No rounds yet for game %V",
                             &ctx->name);
    }

    member = &list->element[0].str;

    close = member->data + member->len;
    while (close > member->data && close[-1] != '}') {
        close--;
    }

    if (close - member->data < 3) {
        return ds_send_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                             "Stored round is not a JSON object");
    }
    close--;

    ds_api_headline(r, member, &value);

    body.data = ngx_pnalloc(r->pool, (close - member->data)
                            + sizeof(",\"value\":}") - 1 + value.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body.data, member->data, close - member->data);
    p = ngx_cpymem(p, ",\"value\":", sizeof(",\"value\":") - 1);
    p = ngx_cpymem(p, value.data, value.len);
    *p++ = '}';
    body.len = p - body.data;

    return ds_send(r, NGX_HTTP_OK, &body);
}


static ngx_int_t
ds_api_send_token(ngx_http_request_t *r, ds_ctx_t *ctx)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    ngx_str_t                         token, body;
    ngx_int_t                         rc;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    rc = ds_token_mint(r, &ctx->key, &token);
    if (rc == NGX_DECLINED) {
        return ds_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                             "Token signing is not configured");
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = ngx_pnalloc(r->pool, token.len + NGX_TIME_T_LEN
                            + sizeof("{\"token\":\"\",\"expires_in\":}") - 1);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_sprintf(body.data, "{\"token\":\"%V\",\"expires_in\":%T}", &token,
                           dmcf->token_ttl) - body.data;

    return ds_send(r, NGX_HTTP_OK, &body);
}

static ngx_int_t
ds_api_answer(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *data)
{
    switch (ctx->route) {

    case DS_ROUTE_GAMES:
        return ds_api_games(r, ctx, &data[0]);

    case DS_ROUTE_LATEST:
        return ds_api_send_latest(r, ctx, &data[0], &data[1]);

    case DS_ROUTE_HISTORY:
        if (data[0].type != REDIS_REPLY_INTEGER || data[0].integer == 0) {
            return ds_send_error(r, NGX_HTTP_NOT_FOUND, "Game not found");
        }
        return ds_api_history(r, ctx, data);

    case DS_ROUTE_HISTORY_TYPE:
        if (data[0].type != REDIS_REPLY_ARRAY
            || ds_games_have_type(&data[0], &ctx->name) != NGX_OK)
        {
            return ds_send_error(r, NGX_HTTP_NOT_FOUND, "Game type not found");
        }
        return ds_api_history(r, ctx, data);

    case DS_ROUTE_TOKEN:
        return ds_api_send_token(r, ctx);

    default:
        return ds_send_error(r, NGX_HTTP_NOT_FOUND, "Not found");
    }
}


static ngx_int_t
ds_api_respond(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *data)
{
    if (ctx->param_status) {
        return ds_send_error(r, ctx->param_status, "%s", ctx->param_error);
    }

    return ds_api_answer(r, ctx, data);
}


static ngx_int_t
ds_api_after_redis(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *replies)
{
    ngx_int_t  rc;

    if (replies == NULL) {
        return ds_send_unavailable(r);
    }

    if (ctx->step_base) {
        rc = ds_ratelimit_check(r, ctx, replies);

        if (rc == NGX_DECLINED) {
            return ds_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                 "Too many requests, please slow down");
        }

        if (rc != NGX_OK) {
            return ds_send_unavailable(r);
        }
    }

    return ds_api_respond(r, ctx, replies + ctx->step_base);
}


static void
ds_api_data_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ds_ctx_t   *ctx;
    ngx_int_t   rc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    rc = ds_api_after_redis(r, ctx, replies);
    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* authenticated: one round trip for the rate limit and the data */
static void
ds_api_run(ngx_http_request_t *r)
{
    ds_ctx_t   *ctx;
    ds_cmd_t    cmd[DS_API_CMDS_MAX];
    ds_cmds_t   cmds;

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    ds_cmds_init(&cmds, cmd, DS_API_CMDS_MAX, r->connection->log);

    if (ds_ratelimit_cmds(r, ctx, &cmds) != NGX_OK
        || (!ctx->param_status && ds_api_cmds(r, ctx, &cmds) != NGX_OK))
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (cmds.n == 0) {
        /* only a path or argument error needs no Redis at all */
        ngx_http_finalize_request(r, ds_api_respond(r, ctx, NULL));
        return;
    }

    if (ds_redis_batch(r, &cmds, ds_api_data_done) != NGX_OK) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
    }
}
