/*
 * GET /api/games: the games registry joined with the newest round of each
 * game. Two round trips: the registry, then one pipelined ZREVRANGE per game.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>
#include <jansson.h>


typedef struct {
    const char   *slug;
    const char   *name;       /* NULL when the registry entry has none */
    const char   *type;
} ds_game_t;


static ngx_int_t
ds_send_json_text(ngx_http_request_t *r, ngx_uint_t status, json_t *doc)
{
    char       *text;
    ngx_str_t   body;

    text = json_dumps(doc, JSON_COMPACT);
    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.len = ngx_strlen(text);
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body.data, text, body.len);
    free(text);

    return ds_send(r, status, &body);
}


/* a JSON array of the members, as stored */


static int
ds_game_cmp(const void *a, const void *b)
{
    return ngx_strcmp(((const ds_game_t *) a)->slug, ((const ds_game_t *) b)->slug);
}


static const char *
ds_pool_cstr(ngx_pool_t *pool, const char *s)
{
    size_t   len;
    u_char  *copy;

    if (s == NULL) {
        return NULL;
    }

    len = ngx_strlen(s) + 1;
    copy = ngx_pnalloc(pool, len);
    if (copy == NULL) {
        return NULL;
    }

    return (const char *) ngx_cpymem(copy, s, len) - len;
}


/* the registry, sorted by slug; entries that are not valid JSON are skipped */
static ngx_array_t *
ds_games_parse(ngx_http_request_t *r, ds_reply_t *hash)
{
    ngx_array_t  *games;
    ds_game_t    *g;
    json_t       *doc;
    size_t        i;

    games = ngx_array_create(r->pool, hash->elements / 2 + 1, sizeof(ds_game_t));
    if (games == NULL) {
        return NULL;
    }

    for (i = 0; i + 1 < hash->elements; i += 2) {
        doc = json_loadb((const char *) hash->element[i + 1].str.data,
                         hash->element[i + 1].str.len, 0, NULL);
        if (doc == NULL) {
            continue;
        }

        g = ngx_array_push(games);
        if (g == NULL) {
            json_decref(doc);
            return NULL;
        }

        g->slug = (const char *) hash->element[i].str.data;
        g->name = ds_pool_cstr(r->pool, json_string_value(json_object_get(doc, "name")));
        g->type = ds_pool_cstr(r->pool, json_string_value(json_object_get(doc, "type")));
        json_decref(doc);
    }

    ngx_qsort(games->elts, games->nelts, sizeof(ds_game_t), ds_game_cmp);

    return games;
}


static json_t *
ds_games_render(ds_game_t *g, ngx_uint_t n, ds_reply_t *latest)
{
    json_t      *list, *item, *round, *id, *at;
    ngx_uint_t   i;
    ds_reply_t  *l;

    list = json_array();
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        l = &latest[i];
        round = (l->type == REDIS_REPLY_ARRAY && l->elements)
                ? json_loadb((const char *) l->element[0].str.data,
                             l->element[0].str.len, 0, NULL)
                : NULL;

        id = round ? json_object_get(round, "round_id") : NULL;
        at = round ? json_object_get(round, "finished_at") : NULL;

        item = json_pack("{s:s, s:s?, s:s?, s:O?, s:O?}",
                         "slug", g[i].slug, "name", g[i].name, "type", g[i].type,
                         "last_round", id, "last_update", at);
        json_decref(round);

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}


static void
ds_api_games_latest_done(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ds_ctx_t  *ctx;
    json_t    *list;
    ngx_int_t  rc;

    if (replies == NULL) {
        ngx_http_finalize_request(r, ds_send_unavailable(r));
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    list = ds_games_render(ctx->games->elts, ctx->games->nelts, replies);
    if (list == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ds_send_json_text(r, NGX_HTTP_OK, list);
    json_decref(list);

    ngx_http_finalize_request(r, rc);
}


/* second step of /api/games: the newest round of every game, pipelined */
ngx_int_t
ds_api_games(ngx_http_request_t *r, ds_ctx_t *ctx, ds_reply_t *hash)
{
    ds_game_t   *g;
    ds_cmd_t    *cmd;
    ds_cmds_t    cmds;
    ngx_str_t    slug, *key;
    ngx_uint_t   i;
    json_t      *empty;
    ngx_int_t    rc;

    static ngx_str_t  zero = ngx_string("0");

    if (hash->type != REDIS_REPLY_ARRAY) {
        return ds_send_unavailable(r);
    }

    ctx->games = ds_games_parse(r, hash);
    if (ctx->games == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->games->nelts == 0) {
        empty = json_array();
        if (empty == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        rc = ds_send_json_text(r, NGX_HTTP_OK, empty);
        json_decref(empty);
        return rc;
    }

    cmd = ngx_palloc(r->pool, ctx->games->nelts * sizeof(ds_cmd_t));
    if (cmd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ds_cmds_init(&cmds, cmd, ctx->games->nelts, r->connection->log);

    g = ctx->games->elts;
    for (i = 0; i < ctx->games->nelts; i++) {
        slug.data = (u_char *) g[i].slug;
        slug.len = ngx_strlen(g[i].slug);

        key = ds_history_key(r, 0, &slug, 1);
        if (key == NULL || ds_cmds_push(&cmds, "ZREVRANGE", 3, key, &zero, &zero)
                           != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ds_redis_batch(r, &cmds, ds_api_games_latest_done)
        != NGX_OK)
    {
        return ds_send_unavailable(r);
    }

    return NGX_DONE;
}


/* whether any game of the registry (HVALS of it) has this type */
ngx_int_t
ds_games_have_type(ds_reply_t *games, ngx_str_t *type)
{
    ngx_str_t   value;
    size_t      i;

    if (games->type != REDIS_REPLY_ARRAY) {
        return NGX_DECLINED;
    }

    for (i = 0; i < games->elements; i++) {
        if (ds_json_member(games->element[i].str.data,
                           games->element[i].str.data + games->element[i].str.len,
                           "type", &value) == NGX_OK
            && value.len == type->len + 2
            && ngx_strncmp(value.data + 1, type->data, type->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
