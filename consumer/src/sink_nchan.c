#include "sink_nchan.h"

#include "datastream_contract.h"

#include "http_pipeline.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <publish path>/game.<slug>,type.<type> */
#define PATH_MAX_LEN (DSC_TEXT_MAX + sizeof "/game.,type." + 2 * DATASTREAM_NAME_MAX)

struct dsc_nchan_s {
    const dsc_config_t *cfg;
    size_t nconn;
    dsc_http_t *http[DSC_PUBLISH_CONNECTIONS_MAX];
};

dsc_nchan_t *dsc_nchan_new(const dsc_config_t *cfg)
{
    dsc_nchan_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->cfg = cfg;
    n->nconn = (size_t)cfg->publish_connections;
    for (size_t c = 0; c < n->nconn; c++) {
        n->http[c] = dsc_http_new(cfg->publish_host, cfg->publish_port);
        if (!n->http[c]) {
            dsc_nchan_free(n);
            return NULL;
        }
    }
    return n;
}

void dsc_nchan_free(dsc_nchan_t *n)
{
    if (!n)
        return;
    for (size_t c = 0; c < n->nconn; c++)
        dsc_http_free(n->http[c]);
    free(n);
}

/* A connection of its own: the publishing connections belong to the publishing thread. */
int dsc_nchan_probe(const dsc_nchan_t *n)
{
    dsc_http_t *probe = dsc_http_new(n->cfg->publish_host, n->cfg->publish_port);
    int rc = probe ? dsc_http_connect(probe) : -1;
    dsc_http_free(probe);
    return rc;
}

/* Index of name in names[0..*count), added when missing. */
static size_t name_index(const char **names, size_t *count, const char *name)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    names[*count] = name;
    return (*count)++;
}

static size_t id_index(int64_t *ids, size_t *count, int64_t id)
{
    for (size_t i = 0; i < *count; i++)
        if (ids[i] == id)
            return i;
    ids[*count] = id;
    return (*count)++;
}

/* Notes that entry k of a table (a game, a round) travels on connection c; true when it
 * already travels on another one. fresh: k was just added to the table. */
static bool on_two_connections(size_t *conn_of, size_t k, bool fresh, size_t c)
{
    if (fresh)
        conn_of[k] = c;
    return conn_of[k] != c;
}

/* Spreads the publications over the connections by game type, so every publication to a
 * channel travels on one connection and nchan receives each channel's rounds in order.
 * A game seen with two types in one batch (rows carrying their own game_type), or a round
 * whose versions in the batch have two types, would tie two connections together: then the
 * whole batch uses the first connection, so that those publications keep their order too. */
static int assign_connections(const dsc_nchan_t *n, const dsc_publication_t *pubs, size_t count,
                              size_t *conn)
{
    const char **types = calloc(count, sizeof *types);
    const char **slugs = calloc(count, sizeof *slugs);
    int64_t *rounds = calloc(count, sizeof *rounds);
    size_t *slug_conn = calloc(count, sizeof *slug_conn);
    size_t *round_conn = calloc(count, sizeof *round_conn);
    size_t ntypes = 0, nslugs = 0, nrounds = 0;
    bool tied = false;
    int rc = -1;
    if (!types || !slugs || !rounds || !slug_conn || !round_conn)
        goto out;
    for (size_t i = 0; i < count; i++) {
        conn[i] = name_index(types, &ntypes, pubs[i].type) % n->nconn;
        size_t before = nslugs, s = name_index(slugs, &nslugs, pubs[i].slug);
        tied |= on_two_connections(slug_conn, s, s == before, conn[i]);
        before = nrounds;
        size_t r = id_index(rounds, &nrounds, pubs[i].round_id);
        tied |= on_two_connections(round_conn, r, r == before, conn[i]);
    }
    for (size_t i = 0; i < count && tied; i++)
        conn[i] = 0;
    rc = 0;
out:
    free(types);
    free(slugs);
    free(rounds);
    free(slug_conn);
    free(round_conn);
    return rc;
}

int dsc_nchan_publish(dsc_nchan_t *n, dsc_publication_t *pubs, size_t count)
{
    if (count == 0)
        return 0;
    /* Requests grouped by connection, in publication order within each group. */
    dsc_http_request_t *reqs = calloc(count, sizeof *reqs);
    size_t *order = calloc(count, sizeof *order), *conn = calloc(count, sizeof *conn);
    char (*paths)[PATH_MAX_LEN] = calloc(count, PATH_MAX_LEN);
    size_t first[DSC_PUBLISH_CONNECTIONS_MAX + 1] = {0};
    int rc = -1, answered = 0;
    for (size_t i = 0; i < count; i++)
        pubs[i].ok = false;
    if (!reqs || !order || !conn || !paths || assign_connections(n, pubs, count, conn) != 0)
        goto out;
    for (size_t i = 0; i < count; i++)
        first[conn[i] + 1]++;
    for (size_t c = 0; c < n->nconn; c++)
        first[c + 1] += first[c];
    size_t fill[DSC_PUBLISH_CONNECTIONS_MAX];
    memcpy(fill, first, sizeof fill);
    for (size_t i = 0; i < count; i++) {
        size_t k = fill[conn[i]]++;
        order[k] = i;
        snprintf(paths[k], PATH_MAX_LEN, "%s/game.%s,type.%s", n->cfg->publish_path,
                 pubs[i].slug, pubs[i].type);
        reqs[k].path = paths[k];
        reqs[k].body = pubs[i].json;
    }
    /* All batches go out before any answer is read: the connections work in parallel. */
    for (size_t c = 0; c < n->nconn; c++)
        dsc_http_send(n->http[c], reqs + first[c], first[c + 1] - first[c]);
    for (size_t c = 0; c < n->nconn; c++) {
        int got = dsc_http_receive(n->http[c], reqs + first[c], first[c + 1] - first[c]);
        if (got > 0)
            answered += got;
    }
    rc = 0;
    for (size_t k = 0; k < count; k++) {
        pubs[order[k]].ok = reqs[k].status == 201 || reqs[k].status == 202;
        if (!pubs[order[k]].ok)
            rc = -1;
    }
    if (rc != 0)
        dsc_log(DSC_LOG_WARN, "nchan publish failed", "{s:i, s:i, s:i}", "requests", (int)count,
                "answered", answered, "first_status", reqs[0].status);
out:
    free(reqs);
    free(order);
    free(conn);
    free(paths);
    return rc;
}
