/*
 * One WebSocket frame and one SSE event per round (datastream_unbatch).
 *
 * nchan's Redis storage costs the same per message whatever its size, so
 * the consumer publishes the rounds of one channel that are ready together
 * as one message: round objects joined by '\n' (a compact round object
 * never holds a raw newline). nchan writes every message to a subscriber
 * through the body filter chain, as one call: a WebSocket text frame
 * (plain, or ws+meta.nchan with its "id: ...\ncontent-type: ...\n\n"
 * head), or one SSE event with a data: line per round. This filter gives
 * each round its own frame or event again, with an id of its own: the last
 * round of a message carries the message's id, round k before it
 * "<previous message's id>.<k>", which ngx_http_datastream_resume.c turns
 * back into "resume after the previous message, without its first k
 * rounds". The previous id is known from the stream's start (the id it
 * resumed from, or the channel's newest when it began) and from every
 * message since.
 * The consumer publishes each round once; a message posted by hand may
 * repeat one, so a round whose bytes equal one of the stream's last
 * DS_UNBATCH_SEEN is not sent twice (an SSE event left without data still
 * moves the client's id; a WebSocket frame is dropped whole).
 * A message of one round passes unchanged. Output points into nchan's
 * buffers, which nchan keeps until everything is written (r->out empty);
 * the filter's own buffers are recycled per request, so a long-lived
 * subscriber's pool does not grow with the messages it is sent.
 */

#include "ngx_http_datastream_module.h"


#define DS_WS_TEXT_FIN         0x81
#define DS_WS_HEAD_MAX         10
#define DS_META_ID             "id: "
/* a head of our own: the WebSocket header or nothing, "id: <id>", '\n' */
#define DS_UNBATCH_HEAD_MAX    (DS_WS_HEAD_MAX + sizeof(DS_META_ID) - 1 \
                                + DS_ROUND_ID_MAX + 1)


static ngx_http_output_body_filter_pt  ds_next_body_filter;


/* nchan's output as contiguous pieces, addressed by offset in the whole */
typedef struct {
    u_char                    *pos;
    u_char                    *last;
    off_t                      start;
} ds_seg_t;

typedef struct {
    ds_seg_t                  *seg;
    ngx_uint_t                 nseg;
    off_t                      len;
    unsigned                   flush:1;
    unsigned                   last_buf:1;
    unsigned                   last_in_chain:1;
} ds_msg_t;

/* a range [from, to) of the message */
typedef struct {
    off_t                      from;
    off_t                      to;
} ds_span_t;

/* what is being built: the output chain, its tail, the request's free list */
typedef struct {
    ngx_http_request_t        *r;
    ds_unbatch_t              *state;
    const ds_msg_t            *msg;
    ngx_chain_t               *out;
    ngx_chain_t              **tail;
    ngx_buf_t                 *last;
} ds_out_t;


static ngx_int_t
ds_msg_read(ngx_chain_t *in, ds_msg_t *msg, ngx_uint_t max)
{
    ngx_chain_t  *cl;
    ngx_buf_t    *b;

    msg->nseg = 0;
    msg->len = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        msg->flush |= b->flush;
        msg->last_buf |= b->last_buf;
        msg->last_in_chain |= b->last_in_chain;

        if (ngx_buf_special(b)) {
            continue;
        }

        if (b->in_file || !ngx_buf_in_memory(b) || msg->nseg == max) {
            return NGX_DECLINED;
        }

        if (b->last == b->pos) {
            continue;
        }

        msg->seg[msg->nseg].pos = b->pos;
        msg->seg[msg->nseg].last = b->last;
        msg->seg[msg->nseg].start = msg->len;
        msg->len += b->last - b->pos;
        msg->nseg++;
    }

    return NGX_OK;
}


/* the piece holding offset at: the last one starting at or before it */
static ngx_uint_t
ds_msg_seg(const ds_msg_t *msg, off_t at)
{
    ngx_uint_t  lo = 0, hi = msg->nseg, mid;

    while (hi - lo > 1) {
        mid = lo + (hi - lo) / 2;
        if (msg->seg[mid].start <= at) {
            lo = mid;
        } else {
            hi = mid;
        }
    }

    return lo;
}


static ngx_int_t
ds_msg_byte(const ds_msg_t *msg, off_t at)
{
    const ds_seg_t  *s;

    if (at < 0 || at >= msg->len) {
        return -1;
    }

    s = &msg->seg[ds_msg_seg(msg, at)];

    return s->pos[at - s->start];
}


/* the offset of the first c in [from, to), or to */
static off_t
ds_msg_find(const ds_msg_t *msg, off_t from, off_t to, u_char c)
{
    const ds_seg_t  *s;
    ngx_uint_t       i;
    u_char          *p, *end;

    for (i = ds_msg_seg(msg, from); i < msg->nseg && from < to; i++) {
        s = &msg->seg[i];
        p = s->pos + (from - s->start);
        end = s->pos + ngx_min(to - s->start, s->last - s->pos);

        p = ngx_strlchr(p, end, c);
        if (p) {
            return s->start + (p - s->pos);
        }

        from = s->start + (s->last - s->pos);
    }

    return to;
}


static ngx_uint_t
ds_msg_starts(const ds_msg_t *msg, off_t at, const char *text, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (ds_msg_byte(msg, at + i) != (u_char) text[i]) {
            return 0;
        }
    }

    return 1;
}


static ngx_buf_t *
ds_out_buf(ds_out_t *o)
{
    ngx_chain_t  *cl;
    ngx_buf_t    *b;
    u_char       *start;

    cl = ngx_chain_get_free_buf(o->r->pool, &o->state->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;
    start = b->start;

    if (start == NULL) {
        start = ngx_palloc(o->r->pool, DS_UNBATCH_HEAD_MAX);
        if (start == NULL) {
            return NULL;
        }
    }

    ngx_memzero(b, sizeof(ngx_buf_t));
    b->start = start;
    b->end = start + DS_UNBATCH_HEAD_MAX;
    b->pos = start;
    b->last = start;
    b->tag = (ngx_buf_tag_t) &ngx_http_datastream_module;

    *o->tail = cl;
    o->tail = &cl->next;
    o->last = b;

    return b;
}


/* the bytes of span, as buffers pointing into the message */
static ngx_int_t
ds_out_span(ds_out_t *o, ds_span_t span)
{
    const ds_seg_t  *s;
    ngx_buf_t       *b;
    ngx_uint_t       i;
    off_t            from, to;

    for (i = ds_msg_seg(o->msg, span.from); i < o->msg->nseg; i++) {
        s = &o->msg->seg[i];
        from = ngx_max(span.from, s->start);
        to = ngx_min(span.to, s->start + (s->last - s->pos));

        if (from >= to) {
            break;
        }

        b = ds_out_buf(o);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->memory = 1;
        b->pos = s->pos + (from - s->start);
        b->last = s->pos + (to - s->start);
    }

    return NGX_OK;
}


static ngx_int_t
ds_out_text(ds_out_t *o, const u_char *text, size_t len)
{
    ngx_buf_t  *b;

    b = ds_out_buf(o);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->temporary = 1;
    b->last = ngx_cpymem(b->pos, text, len);

    return NGX_OK;
}


static ngx_int_t
ds_out_send(ds_out_t *o)
{
    ngx_int_t  rc;

    o->last->flush = 1;
    o->last->last_buf = o->msg->last_buf;
    o->last->last_in_chain = o->msg->last_in_chain;

    rc = ds_next_body_filter(o->r, o->out);

    ngx_chain_update_chains(o->r->pool, &o->state->free, &o->state->busy, &o->out,
                            (ngx_buf_tag_t) &ngx_http_datastream_module);

    return rc;
}


/* [from, to) cut at '\n' into rounds; an empty piece is no round */
static ngx_uint_t
ds_rounds(const ds_msg_t *msg, off_t from, off_t to, ds_span_t *round,
    ngx_uint_t max)
{
    ngx_uint_t  n;
    off_t       nl;

    for (n = 0; from < to; from = nl + 1) {
        nl = ds_msg_find(msg, from, to, '\n');

        if (nl > from) {
            if (n == max) {
                return 0;
            }
            round[n].from = from;
            round[n++].to = nl;
        }
    }

    return n;
}


/* the id of round k of a message, not its last; 0 while the previous is unknown */
static size_t
ds_round_id(const ds_unbatch_t *state, ngx_uint_t k, u_char *buf)
{
    if (state->prev_id_len == 0) {
        return 0;
    }

    return ngx_sprintf(buf, "%*s.%ui", state->prev_id_len, state->prev_id, k) - buf;
}


/* the message's id, for the rounds of the next one */
static void
ds_remember_id(const ds_msg_t *msg, ds_unbatch_t *state, ds_span_t id)
{
    off_t  at;

    if (id.to <= id.from || id.to - id.from > DS_UNBATCH_ID_MAX) {
        return;
    }

    for (at = id.from; at < id.to; at++) {
        state->prev_id[at - id.from] = (u_char) ds_msg_byte(msg, at);
    }

    state->prev_id_len = id.to - id.from;
}


/* FNV-1a of the span's bytes */
static uint64_t
ds_span_hash(const ds_msg_t *msg, ds_span_t span)
{
    const ds_seg_t  *sg;
    ngx_uint_t       i;
    uint64_t         h = 0xcbf29ce484222325ULL;
    u_char          *p, *end;

    for (i = ds_msg_seg(msg, span.from); i < msg->nseg; i++) {
        sg = &msg->seg[i];
        if (sg->start >= span.to) {
            break;
        }

        p = sg->pos + ngx_max(span.from - sg->start, 0);
        end = sg->pos + ngx_min(span.to - sg->start, sg->last - sg->pos);

        for ( /* void */ ; p < end; p++) {
            h = (h ^ *p) * 0x100000001b3ULL;
        }
    }

    return h;
}


/* true for a round the stream sent lately; remembers the others */
static ngx_uint_t
ds_seen(ds_unbatch_t *state, const ds_msg_t *msg, ds_span_t round)
{
    uint64_t    h;
    ngx_uint_t  i, n;

    h = ds_span_hash(msg, round);
    n = ngx_min(state->nseen, DS_UNBATCH_SEEN);

    for (i = 0; i < n; i++) {
        if (state->seen[i] == h) {
            return 1;
        }
    }

    state->seen[state->nseen++ % DS_UNBATCH_SEEN] = h;

    return 0;
}


/* rounds of this message the client already has: the first message only */
static ngx_uint_t
ds_dropped(ds_unbatch_t *state, ngx_uint_t n)
{
    ngx_uint_t  skip = state->skip;

    state->skip = 0;

    /* the message a round id pointed into has more rounds than that */
    return skip < n ? skip : 0;
}


static ngx_int_t
ds_ws_head(ds_out_t *o, off_t len, const u_char *id, size_t id_len)
{
    u_char      head[DS_UNBATCH_HEAD_MAX], *p = head;
    ngx_uint_t  i;

    *p++ = DS_WS_TEXT_FIN;

    if (len <= 125) {
        *p++ = (u_char) len;

    } else if (len <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 127;
        for (i = 8; i > 0; i--) {
            *p++ = (u_char) ((uint64_t) len >> ((i - 1) * 8));
        }
    }

    if (id_len) {
        p = ngx_cpymem(p, DS_META_ID, sizeof(DS_META_ID) - 1);
        p = ngx_cpymem(p, id, id_len);
    }

    return ds_out_text(o, head, p - head);
}


/*
 * A text frame: header, then (ws+meta.nchan) "id: <id>" + "\n<rest of the
 * head>\n\n", then the payload.
 */
static ngx_int_t
ds_unbatch_ws(ds_out_t *o, ds_span_t *round, ngx_uint_t max)
{
    const ds_msg_t  *msg = o->msg;
    ngx_int_t        b1, rc;
    ngx_uint_t       i, n, meta, bare, drop;
    ds_span_t        id, rest, head;
    off_t            at, len, nl, frame;
    u_char           rid[DS_ROUND_ID_MAX];
    size_t           rid_len;

    if (ds_msg_byte(msg, 0) != DS_WS_TEXT_FIN) {
        return NGX_DECLINED;
    }

    b1 = ds_msg_byte(msg, 1);
    if (b1 < 0 || (b1 & 0x80)) {
        return NGX_DECLINED;
    }

    at = 2;
    len = b1;

    if (b1 >= 126) {
        for (len = 0, i = b1 == 126 ? 2 : 8; i > 0; i--, at++) {
            if (ds_msg_byte(msg, at) < 0) {
                return NGX_DECLINED;
            }
            len = (len << 8) | ds_msg_byte(msg, at);
        }
    }

    if (at + len != msg->len) {
        return NGX_DECLINED;
    }

    meta = ds_msg_starts(msg, at, DS_META_ID, sizeof(DS_META_ID) - 1);
    id.from = id.to = rest.from = rest.to = at;

    if (meta) {
        id.from = at + sizeof(DS_META_ID) - 1;
        id.to = ds_msg_find(msg, id.from, msg->len, '\n');

        for (nl = id.to; nl < msg->len; nl = ds_msg_find(msg, nl + 1, msg->len, '\n')) {
            if (ds_msg_byte(msg, nl + 1) == '\n') {
                break;
            }
        }

        if (nl >= msg->len || id.to - id.from > DS_UNBATCH_ID_MAX) {
            return NGX_DECLINED;
        }

        rest.from = id.to;
        rest.to = nl + 2;
    }

    n = ds_rounds(msg, rest.to, msg->len, round, max);
    drop = ds_dropped(o->state, n);

    if (n < 2) {
        /* unchanged, or nothing at all for a repeat */
        rc = (n == 1 && ds_seen(o->state, msg, round[0])) ? NGX_OK : NGX_DECLINED;
        goto done;
    }

    for (i = drop; i < n; i++) {
        if (ds_seen(o->state, msg, round[i])) {
            continue;
        }

        frame = round[i].to - round[i].from;
        head = rest;

        if (!meta) {
            rc = ds_ws_head(o, frame, NULL, 0);

        } else if (i + 1 == n) {
            /* the message's own head, "id: <its id>" included */
            head.from = id.from - (sizeof(DS_META_ID) - 1);
            frame += head.to - head.from;
            rc = ds_ws_head(o, frame, NULL, 0);

        } else {
            /* without an id to give, the head starts after its own "\n" */
            rid_len = ds_round_id(o->state, i + 1, rid);
            bare = rid_len == 0;
            head.from += bare;
            frame += (bare ? 0 : sizeof(DS_META_ID) - 1 + rid_len) + (head.to - head.from);
            rc = ds_ws_head(o, frame, rid, rid_len);
        }

        if (rc != NGX_OK
            || (meta && ds_out_span(o, head) != NGX_OK)
            || ds_out_span(o, round[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    rc = NGX_OK;

done:

    if (meta) {
        ds_remember_id(msg, o->state, id);
    }

    return rc;
}


/* the value of an "id:" line, without its '\n' */
static ds_span_t
ds_sse_id(const ds_msg_t *msg, ds_span_t line)
{
    ds_span_t  id;

    id.from = line.from + sizeof("id:") - 1;
    id.from += ds_msg_byte(msg, id.from) == ' ';
    id.to = line.to - (ds_msg_byte(msg, line.to - 1) == '\n');

    return id;
}


/*
 * Events end with an empty line; one with several data: lines becomes one
 * event per data: line: event: on each, the round's own id: on each but the
 * last, which keeps the other fields as nchan wrote them.
 */
static ngx_int_t
ds_unbatch_sse(ds_out_t *o, ds_span_t *line, ngx_uint_t max)
{
    static u_char     blank[] = "\n";
    const ds_msg_t   *msg = o->msg;
    ngx_uint_t        n, i, j, k, r, first, data, split, drop;
    off_t             at, nl;
    ds_span_t         span, id;
    u_char            text[DS_UNBATCH_HEAD_MAX], *p;

    /* every line with its '\n' */
    for (n = 0, at = 0; at < msg->len; at = nl + 1) {
        nl = ds_msg_find(msg, at, msg->len, '\n');
        if (n == max) {
            return NGX_DECLINED;
        }
        line[n].from = at;
        line[n++].to = nl + 1 <= msg->len ? nl + 1 : msg->len;
    }

    split = 0;

    for (first = 0, i = 0; i < n; i++) {
        if (line[i].to - line[i].from > 1 && i + 1 < n) {
            continue;
        }

        /* line[first .. i] is an event, with its empty line */
        id.from = id.to = 0;

        for (data = 0, k = first; k <= i; k++) {
            data += ds_msg_starts(msg, line[k].from, "data:", 5);
            if (ds_msg_starts(msg, line[k].from, "id:", 3)) {
                id = ds_sse_id(msg, line[k]);
            }
        }

        drop = data ? ds_dropped(o->state, data) : 0;

        if (data < 2) {
            for (k = first; data && k <= i; k++) {
                if (ds_msg_starts(msg, line[k].from, "data:", 5)
                    && ds_seen(o->state, msg, line[k]))
                {
                    data = 2;    /* the event goes out without it */
                    line[k].to = line[k].from;
                }
            }
        }

        if (data < 2) {
            span.from = line[first].from;
            span.to = line[i].to;
            if (ds_out_span(o, span) != NGX_OK) {
                return NGX_ERROR;
            }
            ds_remember_id(msg, o->state, id);
            first = i + 1;
            continue;
        }

        split = 1;

        for (r = 0, k = first; k <= i; k++) {
            if (line[k].to == line[k].from || !ds_msg_starts(msg, line[k].from, "data:", 5)) {
                continue;
            }

            if (++r == data) {
                if (ds_seen(o->state, msg, line[k])) {
                    line[k].to = line[k].from;
                }
                continue;
            }

            if (r > drop && !ds_seen(o->state, msg, line[k])) {
                for (j = first; j <= i; j++) {
                    if (ds_msg_starts(msg, line[j].from, "event:", 6)
                        && ds_out_span(o, line[j]) != NGX_OK)
                    {
                        return NGX_ERROR;
                    }
                }

                p = ngx_cpymem(text, DS_META_ID, sizeof(DS_META_ID) - 1);
                p += ds_round_id(o->state, r, p);
                *p++ = '\n';

                if ((p - text > (ssize_t) sizeof(DS_META_ID)
                     && ds_out_text(o, text, p - text) != NGX_OK)
                    || ds_out_span(o, line[k]) != NGX_OK
                    || ds_out_text(o, blank, 1) != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            line[k].to = line[k].from;
        }

        /* the last data: line, after every other field, as nchan wrote them */
        for (k = first; k <= i; k++) {
            if (line[k].to > line[k].from && ds_out_span(o, line[k]) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        ds_remember_id(msg, o->state, id);
        first = i + 1;
    }

    return split ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ds_unbatch_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ds_stream_ctx_t  *sctx;
    ngx_chain_t      *cl;
    ngx_uint_t        nbuf;
    ds_out_t          o;
    ds_msg_t          msg;
    ds_span_t        *part;
    ngx_int_t         rc;

    if (r != r->main || in == NULL) {
        return ds_next_body_filter(r, in);
    }

    sctx = ds_stream_ctx(r);

    if (sctx == NULL
        || !((ngx_http_datastream_loc_conf_t *)
             ngx_http_get_module_loc_conf(r, ngx_http_datastream_module))->unbatch)
    {
        return ds_next_body_filter(r, in);
    }

    for (nbuf = 0, cl = in; cl; cl = cl->next) {
        nbuf++;
    }

    ngx_memzero(&msg, sizeof(ds_msg_t));
    ngx_memzero(&o, sizeof(ds_out_t));

    /* scratch for this call only: the worker's heap, not the request's pool */
    msg.seg = ngx_alloc(nbuf * sizeof(ds_seg_t), r->connection->log);
    if (msg.seg == NULL) {
        return NGX_ERROR;
    }

    part = NULL;
    rc = ds_msg_read(in, &msg, nbuf);

    if (rc == NGX_OK && msg.len > 0) {
        /* at most one round or line per byte */
        part = ngx_alloc((size_t) (msg.len + 1) * sizeof(ds_span_t), r->connection->log);
        if (part == NULL) {
            ngx_free(msg.seg);
            return NGX_ERROR;
        }

        o.r = r;
        o.state = &sctx->unbatch;
        o.msg = &msg;
        o.tail = &o.out;

        rc = sctx->websocket ? ds_unbatch_ws(&o, part, msg.len + 1)
                             : ds_unbatch_sse(&o, part, msg.len + 1);
    } else {
        rc = NGX_DECLINED;
    }

    if (rc == NGX_OK && o.out == NULL) {
        /* a repeat only: nothing to write, nchan's buffers are done with */

    } else if (rc == NGX_OK) {
        rc = ds_out_send(&o);

    } else if (rc == NGX_DECLINED) {
        /* unchanged; whatever was built goes back to the free list */
        if (o.out) {
            *o.tail = sctx->unbatch.free;
            sctx->unbatch.free = o.out;
            o.out = NULL;
        }

        rc = ds_next_body_filter(r, in);
        ngx_chain_update_chains(r->pool, &sctx->unbatch.free, &sctx->unbatch.busy,
                                &o.out, (ngx_buf_tag_t) &ngx_http_datastream_module);
    }

    ngx_free(part);
    ngx_free(msg.seg);

    return rc;
}


ngx_int_t
ds_unbatch_filter_init(ngx_conf_t *cf)
{
    ds_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ds_unbatch_body_filter;

    return NGX_OK;
}
