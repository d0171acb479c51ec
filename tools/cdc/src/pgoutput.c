#include "pgoutput.h"

#include <string.h>

/* A bounded reader: every read past the end marks the cursor bad once. */
typedef struct {
    const unsigned char *p;
    size_t               left;
    int                  bad;
} cursor_t;

static const unsigned char *
take(cursor_t *c, size_t n)
{
    const unsigned char *at = c->p;

    if (c->bad || c->left < n) {
        c->bad = 1;
        return NULL;
    }
    c->p += n;
    c->left -= n;
    return at;
}

static uint8_t
u8(cursor_t *c)
{
    const unsigned char *b = take(c, 1);

    return b ? b[0] : 0;
}

static uint16_t
u16(cursor_t *c)
{
    const unsigned char *b = take(c, 2);

    return b ? (uint16_t) ((b[0] << 8) | b[1]) : 0;
}

static uint32_t
u32(cursor_t *c)
{
    const unsigned char *b = take(c, 4);

    return b ? ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) | ((uint32_t) b[2] << 8) | b[3] : 0;
}

static uint64_t
u64(cursor_t *c)
{
    uint64_t hi = u32(c);

    return (hi << 32) | u32(c);
}

/* PostgreSQL's timestamps are signed: +infinity (INT64_MAX) saturates instead of overflowing;
 * -infinity (INT64_MIN) moved by the epoch stays representable. */
static int64_t
pg_time_to_unix_us(uint64_t pg_us)
{
    int64_t  t = (int64_t) pg_us;

    return t > INT64_MAX - DSCDC_PG_EPOCH_US ? INT64_MAX : t + DSCDC_PG_EPOCH_US;
}

static dscdc_bytes_t
cstring(cursor_t *c)
{
    dscdc_bytes_t s = { NULL, 0 };
    const void   *nul;

    if (c->bad || (nul = memchr(c->p, '\0', c->left)) == NULL) {
        c->bad = 1;
        return s;
    }
    s.p = (const char *) c->p;
    s.len = (uint32_t) ((const unsigned char *) nul - c->p);
    take(c, s.len + 1);
    return s;
}

static void
tuple(cursor_t *c, dscdc_tuple_t *t)
{
    t->ncolumns = u16(c);
    if (t->ncolumns > DSCDC_MAX_COLUMNS) {
        c->bad = 1;
        return;
    }
    for (uint16_t i = 0; i < t->ncolumns && !c->bad; i++) {
        dscdc_value_t *v = &t->values[i];
        uint8_t        kind = u8(c);
        uint32_t       len;

        v->text.p = NULL;
        v->text.len = 0;
        switch (kind) {
        case 'n': v->kind = DSCDC_VALUE_NULL; break;
        case 'u': v->kind = DSCDC_VALUE_UNCHANGED_TOAST; break;
        case 't':
            v->kind = DSCDC_VALUE_TEXT;
            len = u32(c);
            v->text.p = (const char *) take(c, len);
            v->text.len = len;
            break;
        default:
            /* 'b' (binary) is only sent when asked for; nothing else exists. */
            c->bad = 1;
        }
    }
}

static void
relation(cursor_t *c, dscdc_msg_t *m)
{
    m->u.relation.relid = u32(c);
    m->u.relation.schema = cstring(c);
    m->u.relation.table = cstring(c);
    m->u.relation.replica_identity = (char) u8(c);
    m->u.relation.ncolumns = u16(c);
    if (m->u.relation.ncolumns > DSCDC_MAX_COLUMNS) {
        c->bad = 1;
        return;
    }
    for (uint16_t i = 0; i < m->u.relation.ncolumns && !c->bad; i++) {
        dscdc_rel_column_t *col = &m->u.relation.columns[i];

        col->key = u8(c) & 1;
        col->name = cstring(c);
        col->type_oid = u32(c);
        col->typmod = (int32_t) u32(c);
    }
}

static void
change(cursor_t *c, dscdc_msg_t *m)
{
    uint8_t tag;

    m->u.change.relid = u32(c);
    m->u.change.has_old = 0;
    m->u.change.old_tuple.ncolumns = 0;
    m->u.change.new_tuple.ncolumns = 0;
    tag = u8(c);
    if (tag == 'K' || tag == 'O') {
        m->u.change.has_old = 1;
        m->u.change.old_kind = (char) tag;
        tuple(c, &m->u.change.old_tuple);
        if (m->kind == DSCDC_MSG_DELETE) {
            return;
        }
        tag = u8(c);
    } else if (m->kind == DSCDC_MSG_DELETE) {
        c->bad = 1;
        return;
    }
    if (tag != 'N') {
        c->bad = 1;
        return;
    }
    tuple(c, &m->u.change.new_tuple);
}

int
dscdc_pgoutput_parse(const char *data, size_t len, dscdc_msg_t *m)
{
    cursor_t c = { (const unsigned char *) data, len, 0 };
    uint8_t  tag = u8(&c);

    switch (tag) {
    case 'B':
        m->kind = DSCDC_MSG_BEGIN;
        m->u.begin.final_lsn = u64(&c);
        m->u.begin.commit_time_us = pg_time_to_unix_us(u64(&c));
        m->u.begin.xid = u32(&c);
        break;
    case 'C':
        m->kind = DSCDC_MSG_COMMIT;
        (void) u8(&c);   /* flags, unused */
        m->u.commit.commit_lsn = u64(&c);
        m->u.commit.end_lsn = u64(&c);
        m->u.commit.commit_time_us = pg_time_to_unix_us(u64(&c));
        break;
    case 'R':
        m->kind = DSCDC_MSG_RELATION;
        relation(&c, m);
        break;
    case 'I':
    case 'U':
    case 'D':
        m->kind = (dscdc_msg_kind_e) tag;
        change(&c, m);
        break;
    case 'T':
        m->kind = DSCDC_MSG_TRUNCATE;
        m->u.truncate.nrelids = u32(&c);
        (void) u8(&c);   /* CASCADE / RESTART IDENTITY options */
        if (m->u.truncate.nrelids > DSCDC_MAX_TRUNCATE) {
            return -1;
        }
        for (uint32_t i = 0; i < m->u.truncate.nrelids; i++) {
            m->u.truncate.relids[i] = u32(&c);
        }
        break;
    case 'Y':
    case 'O':
    case 'M':
        m->kind = DSCDC_MSG_OTHER;
        return 0;
    default:
        return -1;
    }
    return c.bad ? -1 : 0;
}
