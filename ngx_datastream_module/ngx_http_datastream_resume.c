/*
 * Where a subscriber of a datastream_unbatch location starts.
 *
 * A round that is not the last of its nchan message carries the id
 * "<id of the message before>.<k>", k counting the rounds of its message
 * up to it (ngx_http_datastream_unbatch.c). A resume from such an id is a
 * resume from the message before with the first k rounds of the next one
 * dropped: the Last-Event-ID header or ?last_event_id= argument that nchan
 * reads is cut back to the plain id, and the filter is told k.
 *
 * A fresh subscriber (no id) is made to resume from the channel's newest
 * stored message, read from nchan's Redis storage before nchan sees the
 * request. nchan then delivers the channel from that message on instead of
 * from the moment its own Redis subscription is in place, which closes the
 * window in which a fresh subscriber missed rounds published right after
 * its handshake, and the filter knows the id before the stream's first
 * message. A channel without a stored message starts from its oldest
 * ("0:0"), which is then whatever is published next.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


#define DS_RESUME_HEADER      "Last-Event-ID"
#define DS_RESUME_ARG         "last_event_id"
#define DS_RESUME_OLDEST      "0:0"


static void
ds_resume_remember(ds_stream_ctx_t *sctx, const u_char *id, size_t len)
{
    if (len == 0 || len > DS_UNBATCH_ID_MAX) {
        return;
    }

    ngx_memcpy(sctx->unbatch.prev_id, id, len);
    sctx->unbatch.prev_id_len = len;
}


/* "<id>.<k>": the length of <id> and k; NGX_DECLINED for any other id */
static ngx_int_t
ds_resume_split(ngx_str_t *id, size_t *plain, ngx_uint_t *skip)
{
    u_char     *dot;
    ngx_int_t   k;

    for (dot = id->data + id->len; dot > id->data && dot[-1] != '.'; dot--) {
        /* void */
    }

    if (dot == id->data || (size_t) (dot - 1 - id->data) > DS_UNBATCH_ID_MAX) {
        return NGX_DECLINED;
    }

    k = ngx_atoi(dot, id->data + id->len - dot);
    if (k == NGX_ERROR || k == 0) {
        return NGX_DECLINED;
    }

    *plain = dot - 1 - id->data;
    *skip = k;

    return NGX_OK;
}


static ngx_int_t
ds_resume_from_header(ds_stream_ctx_t *sctx, ngx_str_t *value)
{
    size_t      plain;
    ngx_uint_t  skip;

    if (ds_resume_split(value, &plain, &skip) == NGX_OK) {
        value->len = plain;
        sctx->unbatch.skip = skip;
    }

    ds_resume_remember(sctx, value->data, value->len);

    return NGX_DECLINED;
}


static ngx_int_t
ds_resume_from_arg(ngx_http_request_t *r, ds_stream_ctx_t *sctx, ngx_str_t *arg)
{
    size_t      plain, cut;
    ngx_uint_t  skip;
    u_char     *args, *p, *src, id[DS_UNBATCH_ID_MAX];

    if (ds_resume_split(arg, &plain, &skip) == NGX_OK) {
        /* the argument points into r->args: the same query without ".<k>" */
        cut = arg->len - plain;
        args = ngx_pnalloc(r->pool, r->args.len - cut);
        if (args == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(args, r->args.data, arg->data + plain - r->args.data);
        p = ngx_cpymem(p, arg->data + arg->len,
                       r->args.data + r->args.len - (arg->data + arg->len));

        arg->data = args + (arg->data - r->args.data);
        arg->len = plain;
        r->args.data = args;
        r->args.len = p - args;
        sctx->unbatch.skip = skip;
    }

    if (arg->len > DS_UNBATCH_ID_MAX) {
        return NGX_DECLINED;
    }

    /* ids in frames and events are as nchan writes them, unescaped */
    p = id;
    src = arg->data;
    ngx_unescape_uri(&p, &src, arg->len, NGX_UNESCAPE_URI);
    ds_resume_remember(sctx, id, p - id);

    return NGX_DECLINED;
}


static ngx_int_t
ds_resume_header(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_table_elt_t  *h;
    u_char           *value;

    static u_char     lowcase[] = "last-event-id";

    h = ngx_list_push(&r->headers_in.headers);
    value = ngx_pnalloc(r->pool, id->len);

    if (h == NULL || value == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(value, id->data, id->len);

    h->hash = ngx_hash_key(lowcase, sizeof(lowcase) - 1);
    ngx_str_set(&h->key, DS_RESUME_HEADER);
    h->lowcase_key = lowcase;
    h->value.data = value;
    h->value.len = id->len;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static void
ds_resume_found(ngx_http_request_t *r, ds_reply_t *replies, ngx_uint_t n)
{
    ds_stream_ctx_t  *sctx;
    ngx_str_t         id = ngx_null_string;

    sctx = ngx_http_get_module_ctx(r, ngx_http_datastream_module);

    /* without an answer, nchan's own start ("newest"); the authorization tells */
    if (replies != NULL && n == 1) {
        if (replies[0].type == REDIS_REPLY_STRING && replies[0].str.len > 0
            && replies[0].str.len <= DS_UNBATCH_ID_MAX)
        {
            id = replies[0].str;

        } else if (replies[0].type == REDIS_REPLY_NIL) {
            ngx_str_set(&id, DS_RESUME_OLDEST);
        }
    }

    if (id.len) {
        if (ds_resume_header(r, &id) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ds_resume_remember(sctx, id.data, id.len);
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_finalize_request(r, NGX_DONE);
}


static ngx_int_t
ds_resume_lookup(ngx_http_request_t *r)
{
    ds_cmd_t     cmd[1];
    ds_cmds_t    cmds;
    ngx_str_t    name, key;
    ngx_uint_t   by_type;
    u_char      *p;

    static ngx_str_t  field = ngx_string("current_message");

    ds_subscriber_channel(r, &name, &by_type);

    /* a path that names no channel is answered by the authorization */
    if (!datastream_name_valid((const char *) name.data, name.len)) {
        return NGX_DECLINED;
    }

    key.len = sizeof(DATASTREAM_NCHAN_CHANNEL_KEY "game.}") - 1 + name.len;
    key.data = ngx_pnalloc(r->pool, key.len);
    if (key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(key.data, DATASTREAM_NCHAN_CHANNEL_KEY "%s.%V}", by_type ? "type" : "game",
                    &name);
    key.len = p - key.data;

    ds_cmds_init(&cmds, cmd, 1, r->connection->log);

    if (ds_cmds_push(&cmds, "HGET", 2, &key, &field) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ds_redis_batch(r, &cmds, ds_resume_found) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* the phases go on when Redis answers; the request waits for it */
    r->main->count++;

    return NGX_DONE;
}


ngx_int_t
ds_resume_start(ngx_http_request_t *r, ds_stream_ctx_t *sctx)
{
    ngx_str_t  *header, arg;

    header = ds_header_in(r, DS_RESUME_HEADER, sizeof(DS_RESUME_HEADER) - 1);

    /* nchan reads the header before the argument */
    if (header != NULL && header->len) {
        return ds_resume_from_header(sctx, header);
    }

    if (ngx_http_arg(r, (u_char *) DS_RESUME_ARG, sizeof(DS_RESUME_ARG) - 1, &arg) == NGX_OK
        && arg.len)
    {
        return ds_resume_from_arg(r, sctx, &arg);
    }

    return ds_resume_lookup(r);
}
