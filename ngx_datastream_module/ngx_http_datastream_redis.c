/*
 * One asynchronous hiredis connection per worker, driven by nginx's event
 * loop. Requests send pipelined batches of commands; a batch completes when
 * every reply arrived, or fails as a whole when Redis is unreachable or a
 * reply is later than datastream_redis_timeout. A late reply means the
 * connection cannot be trusted: it is dropped and a new one is made.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define DS_BACKOFF_MIN   100
#define DS_BACKOFF_MAX   2000


/* ties one hiredis context to the nginx connection that watches its socket */
typedef struct {
    redisAsyncContext     *ac;
    ngx_connection_t      *c;
} ds_link_t;

typedef struct {
    char                   host[NGX_SOCKADDR_STRLEN + 1];
    int                    port;
    ngx_msec_t             timeout;
    redisAsyncContext     *ac;        /* NULL while down */
    ngx_msec_t             backoff;
    ngx_event_t            reconnect;
    ngx_log_t             *log;
    unsigned               exiting:1;
} ds_redis_t;

typedef struct ds_batch_s  ds_batch_t;

typedef struct {
    ds_batch_t            *batch;
    ngx_uint_t             index;
} ds_slot_t;

struct ds_batch_s {
    ngx_http_request_t    *r;         /* NULL once the request is gone */
    ngx_pool_cleanup_t    *cln;
    ds_batch_handler_pt    handler;
    ds_reply_t            *replies;
    ngx_uint_t             n;
    ngx_uint_t             pending;
    unsigned               failed:1;
    redisAsyncContext     *ac;
    ngx_event_t            timer;
    ds_slot_t              slots[];
};


static ds_redis_t  ds_redis;


static void ds_redis_connect(void);


static void
ds_schedule_reconnect(void)
{
    if (ds_redis.exiting || ds_redis.reconnect.timer_set) {
        return;
    }

    ngx_add_timer(&ds_redis.reconnect, ds_redis.backoff);
    ds_redis.backoff = ngx_min(ds_redis.backoff * 2, DS_BACKOFF_MAX);
}


static void
ds_reconnect_handler(ngx_event_t *ev)
{
    if (ds_redis.ac == NULL) {
        ds_redis_connect();
    }
}


/* the context is about to be freed by hiredis: forget it */
static void
ds_redis_lost(const redisAsyncContext *ac)
{
    if (ds_redis.ac != ac) {
        return;
    }

    ds_redis.ac = NULL;
    ds_metrics_redis_error();
    ngx_log_error(NGX_LOG_WARN, ds_redis.log, 0,
                  "datastream: redis %s:%d lost: %s", ds_redis.host,
                  ds_redis.port, ac->errstr[0] ? ac->errstr : "closed");
    ds_schedule_reconnect();
}


static void
ds_on_connect(const redisAsyncContext *ac, int status)
{
    if (status == REDIS_OK) {
        ds_redis.backoff = DS_BACKOFF_MIN;
        ngx_log_error(NGX_LOG_INFO, ds_redis.log, 0,
                      "datastream: redis %s:%d connected", ds_redis.host,
                      ds_redis.port);
        return;
    }

    ds_redis_lost(ac);
}


static void
ds_on_disconnect(const redisAsyncContext *ac, int status)
{
    ds_redis_lost(ac);
}


static void
ds_ev_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ds_link_t         *link = c->data;

    redisAsyncHandleRead(link->ac);
}


static void
ds_ev_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ds_link_t         *link = c->data;

    redisAsyncHandleWrite(link->ac);
}


/*
 * Level-triggered, unlike nginx's own sockets: hiredis reads at most 16 KB
 * per call, so an edge-triggered socket could keep a large reply unread.
 */
static void
ds_watch(ngx_event_t *ev, ngx_int_t event)
{
    if (!ev->active && ngx_add_event(ev, event, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "datastream: redis add event failed");
    }
}


static void
ds_unwatch(ngx_event_t *ev, ngx_int_t event)
{
    if (ev->active && ngx_del_event(ev, event, 0) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "datastream: redis del event failed");
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }
}


static void
ds_hook_add_read(void *data)
{
    ds_link_t  *link = data;

    ds_watch(link->c->read, NGX_READ_EVENT);
}


static void
ds_hook_del_read(void *data)
{
    ds_link_t  *link = data;

    ds_unwatch(link->c->read, NGX_READ_EVENT);
}


static void
ds_hook_add_write(void *data)
{
    ds_link_t  *link = data;

    ds_watch(link->c->write, NGX_WRITE_EVENT);
}


static void
ds_hook_del_write(void *data)
{
    ds_link_t  *link = data;

    ds_unwatch(link->c->write, NGX_WRITE_EVENT);
}


/* hiredis closes the socket itself right after this hook */
static void
ds_hook_cleanup(void *data)
{
    ds_link_t  *link = data;

    ds_unwatch(link->c->read, NGX_READ_EVENT);
    ds_unwatch(link->c->write, NGX_WRITE_EVENT);
    ngx_free_connection(link->c);
    link->c->fd = (ngx_socket_t) -1;
    ngx_free(link);
}


static ngx_int_t
ds_attach(redisAsyncContext *ac)
{
    ds_link_t         *link;
    ngx_connection_t  *c;

    link = ngx_alloc(sizeof(ds_link_t), ds_redis.log);
    if (link == NULL) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, ds_redis.log);
    if (c == NULL) {
        ngx_free(link);
        return NGX_ERROR;
    }

    link->ac = ac;
    link->c = c;

    c->data = link;
    c->read->handler = ds_ev_read;
    c->write->handler = ds_ev_write;
    c->read->log = ds_redis.log;
    c->write->log = ds_redis.log;

    ac->ev.data = link;
    ac->ev.addRead = ds_hook_add_read;
    ac->ev.delRead = ds_hook_del_read;
    ac->ev.addWrite = ds_hook_add_write;
    ac->ev.delWrite = ds_hook_del_write;
    ac->ev.cleanup = ds_hook_cleanup;

    return NGX_OK;
}


static void
ds_redis_connect(void)
{
    redisAsyncContext  *ac;

    if (ds_redis.exiting) {
        return;
    }

    ac = redisAsyncConnect(ds_redis.host, ds_redis.port);
    if (ac == NULL) {
        ds_schedule_reconnect();
        return;
    }

    if (ac->err || ds_attach(ac) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ds_redis.log, 0,
                      "datastream: redis %s:%d connect failed: %s",
                      ds_redis.host, ds_redis.port,
                      ac->err ? ac->errstr : "no free connection");
        redisAsyncFree(ac);
        ds_metrics_redis_error();
        ds_schedule_reconnect();
        return;
    }

    if (redisAsyncSetConnectCallback(ac, ds_on_connect) != REDIS_OK
        || redisAsyncSetDisconnectCallback(ac, ds_on_disconnect) != REDIS_OK)
    {
        redisAsyncFree(ac);
        ds_schedule_reconnect();
        return;
    }

    ds_redis.ac = ac;

    /* the socket becomes writable when the connect completes or fails */
    ds_hook_add_write(ac->ev.data);
}


ngx_int_t
ds_redis_init_process(ngx_cycle_t *cycle, ngx_http_datastream_main_conf_t *dmcf)
{
    ngx_memzero(&ds_redis, sizeof(ds_redis_t));

    ngx_memcpy(ds_redis.host, dmcf->redis_host.data,
               ngx_min(dmcf->redis_host.len, NGX_SOCKADDR_STRLEN));
    ds_redis.port = dmcf->redis_port;
    ds_redis.timeout = dmcf->redis_timeout;
    ds_redis.log = cycle->log;
    ds_redis.backoff = DS_BACKOFF_MIN;

    ds_redis.reconnect.handler = ds_reconnect_handler;
    ds_redis.reconnect.log = cycle->log;
    ds_redis.reconnect.data = &ds_redis;
    ds_redis.reconnect.cancelable = 1;

    ds_redis_connect();

    return NGX_OK;
}


void
ds_redis_exit_process(void)
{
    redisAsyncContext  *ac;

    ds_redis.exiting = 1;

    if (ds_redis.reconnect.timer_set) {
        ngx_del_timer(&ds_redis.reconnect);
    }

    ac = ds_redis.ac;
    if (ac) {
        ds_redis.ac = NULL;
        redisAsyncFree(ac);
    }
}


static ngx_int_t
ds_reply_copy(ngx_pool_t *pool, ds_reply_t *dst, redisReply *src, ngx_uint_t depth)
{
    size_t  i;

    ngx_memzero(dst, sizeof(ds_reply_t));
    dst->type = src->type;
    dst->integer = src->integer;

    if (src->str) {
        dst->str.data = ngx_pnalloc(pool, src->len + 1);
        if (dst->str.data == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(dst->str.data, src->str, src->len);
        dst->str.data[src->len] = '\0';
        dst->str.len = src->len;
    }

    if (src->type != REDIS_REPLY_ARRAY || src->elements == 0) {
        return NGX_OK;
    }

    /* the module never asks for nested arrays deeper than this */
    if (depth > 2) {
        return NGX_ERROR;
    }

    dst->element = ngx_palloc(pool, src->elements * sizeof(ds_reply_t));
    if (dst->element == NULL) {
        return NGX_ERROR;
    }
    dst->elements = src->elements;

    for (i = 0; i < src->elements; i++) {
        if (ds_reply_copy(pool, &dst->element[i], src->element[i], depth + 1)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ds_batch_complete(ds_batch_t *b)
{
    ngx_http_request_t   *r = b->r;
    ds_batch_handler_pt   handler = b->handler;
    ds_reply_t           *replies = b->failed ? NULL : b->replies;
    ngx_uint_t            n = b->n;
    ngx_connection_t     *c;

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    if (b->cln) {
        b->cln->handler = NULL;
    }

    ngx_free(b);

    if (r == NULL || ds_redis.exiting) {
        return;
    }

    if (replies == NULL) {
        ds_metrics_redis_error();
    }

    c = r->connection;
    handler(r, replies, n);
    ngx_http_run_posted_requests(c);
}


static void
ds_reply_cb(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply  *reply = data;
    ds_slot_t   *slot = privdata;
    ds_batch_t  *b = slot->batch;

    if (reply == NULL) {
        b->failed = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        /* NOAUTH, OOM, WRONGTYPE...: the read model cannot be trusted */
        ngx_log_error(NGX_LOG_ERR, ds_redis.log, 0, "datastream: redis error: %*s",
                      (size_t) ngx_min(reply->len, 256), reply->str);
        b->failed = 1;

    } else if (b->r && !b->failed) {
        if (ds_reply_copy(b->r->pool, &b->replies[slot->index], reply, 0)
            != NGX_OK)
        {
            b->failed = 1;
        }
    }

    if (--b->pending == 0) {
        ds_batch_complete(b);
    }
}


/* the request pool is going away: replies still on their way are dropped */
static void
ds_batch_request_gone(void *data)
{
    ds_batch_t  *b = data;

    b->r = NULL;
    b->cln = NULL;

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }
}


static void
ds_batch_timeout(ngx_event_t *ev)
{
    ds_batch_t         *b = ev->data;
    redisAsyncContext  *ac = b->ac;

    ngx_log_error(NGX_LOG_WARN, ds_redis.log, 0,
                  "datastream: redis %s:%d timed out after %M ms",
                  ds_redis.host, ds_redis.port, ds_redis.timeout);

    b->failed = 1;

    if (ds_redis.ac == ac) {
        /* every pending callback, this batch's included, runs with NULL */
        ds_redis.ac = NULL;
        ds_metrics_redis_error();
        ds_schedule_reconnect();
        redisAsyncFree(ac);
    }
}


ngx_int_t
ds_redis_batch(ngx_http_request_t *r, ds_cmds_t *cmds, ds_batch_handler_pt handler)
{
    ds_batch_t  *b;
    ds_cmd_t    *cmd;
    ngx_uint_t   i, n;

    n = cmds->n;
    cmd = cmds->cmd;

    if (ds_redis.ac == NULL) {
        /* a request is a reason to try now rather than after the backoff */
        ds_redis_connect();
        if (ds_redis.ac == NULL) {
            ds_metrics_redis_error();
            return NGX_ERROR;
        }
    }

    b = ngx_calloc(sizeof(ds_batch_t) + n * sizeof(ds_slot_t), r->connection->log);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->replies = ngx_pcalloc(r->pool, n * sizeof(ds_reply_t));
    b->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (b->replies == NULL || b->cln == NULL) {
        ngx_free(b);
        return NGX_ERROR;
    }

    b->r = r;
    b->handler = handler;
    b->n = n;
    b->ac = ds_redis.ac;

    for (i = 0; i < n; i++) {
        b->slots[i].batch = b;
        b->slots[i].index = i;

        if (redisAsyncCommandArgv(b->ac, ds_reply_cb, &b->slots[i], cmd[i].argc,
                                  cmd[i].argv, cmd[i].argvlen)
            != REDIS_OK)
        {
            break;
        }

        b->pending++;
    }

    if (i < n) {
        /* commands already queued still answer into this batch */
        b->r = NULL;
        if (b->pending == 0) {
            ngx_free(b);
        } else {
            b->failed = 1;
        }
        return NGX_ERROR;
    }

    b->cln->handler = ds_batch_request_gone;
    b->cln->data = b;

    b->timer.handler = ds_batch_timeout;
    b->timer.data = b;
    b->timer.log = r->connection->log;
    ngx_add_timer(&b->timer, ds_redis.timeout);

    return NGX_OK;
}
