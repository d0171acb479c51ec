/*
 * Per-worker cache of rendered history answers.
 *
 * Reading 1000 members of a history costs Redis far more than the whole
 * answer costs nginx (Redis alone serves about 2 000 such ranges a second,
 * bench/RESULTS.md). Every writer of a history therefore sets a new revision
 * for it in the history revisions hash (DATASTREAM_KEY_HISTORY_REVISIONS;
 * field: the history's name without the prefix), and an answer rendered
 * at one revision is sent again, without reading the members, for as long
 * as the revision is the same. The revision is read in
 * the same round trip as the rate limit and the game check, so an answer is
 * never older than the read model at the time of the request.
 *
 * A history without a revision (written by something else than the
 * consumer) is never cached.
 *
 * An entry holds "[m1,m2,...,mN" and where each member ends, so the answer
 * for any limit up to N is a prefix of it followed by "]". Answers being sent
 * hold a reference to their entry; a replaced entry is freed when its last
 * answer is gone.
 */

#include "ngx_http_datastream_module.h"

#include <hiredis/hiredis.h>


#define DS_HISTORY_SLOTS   64


typedef struct {
    ngx_str_t     name;
    ngx_str_t     rev;
    ngx_uint_t    count;
    unsigned      whole:1;    /* the history held no more than count members */
    size_t       *ends;       /* ends[i]: length of the text with i + 1 members */
    u_char       *text;
    size_t        size;       /* of the whole allocation */
    ngx_uint_t    refs;       /* the slot's and the answers' */
    ngx_msec_t    used;
} ds_history_entry_t;


static ds_history_entry_t  *ds_history_slots[DS_HISTORY_SLOTS];
static size_t               ds_history_bytes;


static void
ds_history_release(ds_history_entry_t *e)
{
    if (--e->refs == 0) {
        ds_history_bytes -= e->size;
        ngx_free(e);
    }
}


static void
ds_history_answer_done(void *data)
{
    ds_history_release(data);
}


static ds_history_entry_t **
ds_history_find(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < DS_HISTORY_SLOTS; i++) {
        if (ds_history_slots[i]
            && ds_history_slots[i]->name.len == name->len
            && ngx_memcmp(ds_history_slots[i]->name.data, name->data, name->len)
               == 0)
        {
            return &ds_history_slots[i];
        }
    }

    return NULL;
}


/* the slot of name, else an empty one, else the least recently used */
static ds_history_entry_t **
ds_history_slot_for(ngx_str_t *name)
{
    ds_history_entry_t  **slot, **oldest;
    ngx_uint_t            i;

    slot = ds_history_find(name);
    if (slot) {
        return slot;
    }

    oldest = &ds_history_slots[0];

    for (i = 0; i < DS_HISTORY_SLOTS; i++) {
        if (ds_history_slots[i] == NULL) {
            return &ds_history_slots[i];
        }

        if ((ngx_msec_int_t) (ds_history_slots[i]->used - (*oldest)->used) < 0) {
            oldest = &ds_history_slots[i];
        }
    }

    return oldest;
}


static void
ds_history_evict(ds_history_entry_t **slot)
{
    if (*slot) {
        ds_history_release(*slot);
        *slot = NULL;
    }
}


/* frees least recently used entries until size more bytes fit in max */
static void
ds_history_make_room(size_t size, size_t max)
{
    ds_history_entry_t  **oldest;
    ngx_uint_t            i;

    while (ds_history_bytes + size > max) {
        oldest = NULL;

        for (i = 0; i < DS_HISTORY_SLOTS; i++) {
            if (ds_history_slots[i]
                && (oldest == NULL
                    || (ngx_msec_int_t) (ds_history_slots[i]->used
                                         - (*oldest)->used) < 0))
            {
                oldest = &ds_history_slots[i];
            }
        }

        if (oldest == NULL) {
            /* what is left is held by answers still being sent */
            return;
        }

        ds_history_evict(oldest);
    }
}


/* the length of "[m1,m2,...,mN" */
static size_t
ds_history_length(ds_reply_t *members)
{
    size_t      len = 1;
    ngx_uint_t  i;

    for (i = 0; i < members->elements; i++) {
        len += members->element[i].str.len + 1;
    }

    return len - (members->elements ? 1 : 0);
}


/* writes "[m1,m2,...,mN" and, when ends is not NULL, where each member ends */
static u_char *
ds_history_render(u_char *text, ds_reply_t *members, size_t *ends)
{
    ngx_uint_t  i;
    u_char     *p = text;

    *p++ = '[';

    for (i = 0; i < members->elements; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, members->element[i].str.data,
                       members->element[i].str.len);

        if (ends) {
            ends[i] = p - text;
        }
    }

    return p;
}


static ds_history_entry_t *
ds_history_build(ngx_str_t *name, ngx_str_t *rev, ngx_uint_t fetched,
    ds_reply_t *members, ngx_log_t *log)
{
    ds_history_entry_t  *e;
    size_t               size;

    size = sizeof(ds_history_entry_t) + members->elements * sizeof(size_t)
           + name->len + rev->len + ds_history_length(members);

    e = ngx_alloc(size, log);
    if (e == NULL) {
        return NULL;
    }

    e->ends = (size_t *) (e + 1);
    e->name.data = (u_char *) (e->ends + members->elements);
    e->name.len = name->len;
    e->rev.data = ngx_cpymem(e->name.data, name->data, name->len);
    e->rev.len = rev->len;
    e->text = ngx_cpymem(e->rev.data, rev->data, rev->len);
    e->count = members->elements;
    e->whole = members->elements < fetched;
    e->size = size;
    e->refs = 1;
    e->used = ngx_current_msec;

    ds_history_render(e->text, members, e->ends);

    return e;
}


static ngx_int_t
ds_history_send(ngx_http_request_t *r, ds_history_entry_t *e, ngx_uint_t limit)
{
    ngx_pool_cleanup_t  *cln;
    ngx_str_t            parts[2];
    ngx_uint_t           n;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    e->refs++;
    e->used = ngx_current_msec;
    cln->handler = ds_history_answer_done;
    cln->data = e;

    n = ngx_min(limit, e->count);

    parts[0].data = e->text;
    parts[0].len = n ? e->ends[n - 1] : 1;
    ngx_str_set(&parts[1], "]");

    return ds_send_parts(r, NGX_HTTP_OK, parts, 2);
}


ngx_int_t
ds_history_cached(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *rev,
    ngx_uint_t limit)
{
    ds_history_entry_t  **slot;

    slot = ds_history_find(name);
    if (slot == NULL) {
        return NGX_DECLINED;
    }

    if ((*slot)->rev.len != rev->len
        || ngx_memcmp((*slot)->rev.data, rev->data, rev->len) != 0)
    {
        /* the history changed: this entry will not serve again */
        ds_history_evict(slot);
        return NGX_DECLINED;
    }

    if (limit > (*slot)->count && !(*slot)->whole) {
        return NGX_DECLINED;
    }

    return ds_history_send(r, *slot, limit);
}


ngx_int_t
ds_history_known(ngx_str_t *name)
{
    return ds_history_find(name) ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ds_history_answer(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *rev,
    ngx_uint_t limit, ds_reply_t *members)
{
    ngx_http_datastream_main_conf_t  *dmcf;
    ds_history_entry_t              **slot, *e;
    ngx_str_t                         body;
    u_char                           *p;

    if (members->type != REDIS_REPLY_ARRAY) {
        return ds_send_unavailable(r);
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_datastream_module);

    if (rev && dmcf->history_cache) {
        e = ds_history_build(name, rev, limit, members, r->connection->log);
        if (e == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (e->size <= dmcf->history_cache) {
            slot = ds_history_slot_for(name);
            ds_history_evict(slot);
            ds_history_make_room(e->size, dmcf->history_cache);
            ds_history_bytes += e->size;
            *slot = e;

            return ds_history_send(r, e, limit);
        }

        ngx_free(e);
    }

    body.data = ngx_pnalloc(r->pool, ds_history_length(members) + 1);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ds_history_render(body.data, members, NULL);
    *p++ = ']';
    body.len = p - body.data;

    return ds_send(r, NGX_HTTP_OK, &body);
}


void
ds_history_exit_process(void)
{
    ngx_uint_t  i;

    for (i = 0; i < DS_HISTORY_SLOTS; i++) {
        ds_history_evict(&ds_history_slots[i]);
    }
}
