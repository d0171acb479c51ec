/* libFuzzer target: a relation message and a change message, as the server
 * would send them one after the other (input: 2-byte big-endian length of the
 * first, then both). Parsing must refuse or accept any bytes without crashing,
 * leaking or reading out of bounds; an accepted pair must encode to an
 * envelope or be refused for a column count that does not match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debezium.h"
#include "pgoutput.h"

static dscdc_msg_t   relation, change;
static dscdc_table_t table;

static void
table_from(const dscdc_msg_t *m)
{
    memset(&table, 0, sizeof(table));
    snprintf(table.schema, sizeof(table.schema), "%.*s", (int) (m->u.relation.schema.len % DSCDC_NAME_MAX),
             m->u.relation.schema.p);
    snprintf(table.table, sizeof(table.table), "%.*s", (int) (m->u.relation.table.len % DSCDC_NAME_MAX),
             m->u.relation.table.p);
    table.ncolumns = m->u.relation.ncolumns;
    for (uint16_t i = 0; i < table.ncolumns; i++) {
        const dscdc_rel_column_t *rc = &m->u.relation.columns[i];
        dscdc_column_t           *c = &table.columns[i];

        snprintf(c->name, sizeof(c->name), "%.*s", (int) (rc->name.len % DSCDC_NAME_MAX), rc->name.p);
        c->type_oid = rc->type_oid;
        c->typmod = rc->typmod;
        c->key = rc->key;
        c->not_null = (rc->typmod & 1) != 0;   /* any bit: both paths get fuzzed */
        c->default_value = i == 0 ? dscdc_encode_default(c, "'{}'::jsonb") : NULL;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t         first;
    char           errmsg[256];
    dscdc_source_t src = { "datastream", "datastream", "false", 1, 2, 1, 3, 4 };

    if (size < 2 || (first = ((size_t) data[0] << 8 | data[1])) > size - 2) {
        return 0;
    }
    if (dscdc_pgoutput_parse((const char *) data + 2, first, &relation) != 0
        || relation.kind != DSCDC_MSG_RELATION)
    {
        return 0;
    }
    table_from(&relation);
    if (dscdc_table_finish(&table, "datastream") != 0) {
        /* A name that is not UTF-8: the server never sends one in a UTF-8 database. */
        dscdc_table_clear(&table);
        return 0;
    }
    if (dscdc_pgoutput_parse((const char *) data + 2 + first, size - 2 - first, &change) == 0
        && (change.kind == DSCDC_MSG_INSERT || change.kind == DSCDC_MSG_UPDATE
            || change.kind == DSCDC_MSG_DELETE))
    {
        dscdc_change_t chg = { 'u', change.u.change.has_old ? DSCDC_ROW_KEY_ONLY : DSCDC_ROW_NONE,
                               &change.u.change.old_tuple,
                               change.kind == DSCDC_MSG_DELETE ? DSCDC_ROW_NONE : DSCDC_ROW_FULL,
                               &change.u.change.new_tuple };
        for (int wrap = 0; wrap < 2; wrap++) {
            char *value = dscdc_envelope(&table, &chg, &src, wrap, errmsg, sizeof(errmsg));
            if (value == NULL && errmsg[0] == '\0') {
                abort();   /* a refusal always says why */
            }
            free(value);
        }
    }
    dscdc_table_clear(&table);
    return 0;
}
