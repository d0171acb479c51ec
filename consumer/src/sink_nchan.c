#include "sink_nchan.h"

#include "datastream_contract.h"

#include "http_pipeline.h"
#include "json_text.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <publish path>/game.<slug> or /type.<type> */
#define PATH_MAX_LEN (DSC_TEXT_MAX + sizeof "/game." + DATASTREAM_NAME_MAX)

/* Bytes of one nchan message: the publisher location keeps up to 1 MiB in memory. */
#define DSC_NCHAN_MESSAGE_MAX (256 * 1024)

/* nchan's answers for a stored message: delivered (201) or no subscriber yet (202). */
static bool accepted(int status)
{
    return status == 201 || status == 202;
}

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

/* A channel of the batch: its messages go over one connection, in order. */
typedef struct {
    const char *kind;   /* "game" or "type" */
    const char *name;
    size_t conn;
    size_t open;        /* its message still taking rounds, or SIZE_MAX */
} channel_t;

typedef struct {
    char path[PATH_MAX_LEN];
    dsc_text_t body;
    size_t conn;
    size_t len;
} message_t;

static size_t channel_index(channel_t *chans, size_t *count, const char *kind, const char *name,
                            size_t nconn)
{
    for (size_t i = 0; i < *count; i++)
        if (chans[i].kind == kind && strcmp(chans[i].name, name) == 0)
            return i;
    chans[*count] = (channel_t){kind, name, *count % nconn, SIZE_MAX};
    return (*count)++;
}

/* Adds json to the channel's open message, or opens one; returns the message's index. */
static size_t add_round(const dsc_nchan_t *n, channel_t *ch, message_t *msgs, size_t *nmsgs,
                        const char *json)
{
    size_t len = strlen(json);
    if (ch->open != SIZE_MAX && msgs[ch->open].len + 1 + len <= DSC_NCHAN_MESSAGE_MAX) {
        message_t *m = &msgs[ch->open];
        dsc_text_raw(&m->body, "\n");
        dsc_text_raw(&m->body, json);
        m->len += 1 + len;
        return ch->open;
    }
    message_t *m = &msgs[*nmsgs];
    snprintf(m->path, sizeof m->path, "%s/%s.%s", n->cfg->publish_path, ch->kind, ch->name);
    dsc_text_raw(&m->body, json);
    m->len = len;
    m->conn = ch->conn;
    ch->open = *nmsgs;
    return (*nmsgs)++;
}

int dsc_nchan_publish(dsc_nchan_t *n, dsc_publication_t *pubs, size_t count)
{
    static const char game[] = "game", type[] = "type";
    if (count == 0)
        return 0;
    channel_t *chans = calloc(2 * count, sizeof *chans);
    message_t *msgs = calloc(2 * count, sizeof *msgs);
    /* the messages carrying round i: msg_of[2i] (its game), msg_of[2i + 1] (its type), or
     * SIZE_MAX for a channel that already has it */
    size_t *msg_of = calloc(2 * count, sizeof *msg_of);
    /* requests grouped by connection, in message order within each group */
    dsc_http_request_t *reqs = calloc(2 * count, sizeof *reqs);
    size_t *req_of = calloc(2 * count, sizeof *req_of);
    size_t first[DSC_PUBLISH_CONNECTIONS_MAX + 1] = {0}, fill[DSC_PUBLISH_CONNECTIONS_MAX];
    size_t nchans = 0, nmsgs = 0;
    int rc = -1, answered = 0;
    if (!chans || !msgs || !msg_of || !reqs || !req_of)
        goto out;
    for (size_t i = 0; i < count; i++) {
        msg_of[2 * i] = msg_of[2 * i + 1] = SIZE_MAX;
        if (!pubs[i].game_done) {
            size_t g = channel_index(chans, &nchans, game, pubs[i].slug, n->nconn);
            msg_of[2 * i] = add_round(n, &chans[g], msgs, &nmsgs, pubs[i].json);
        }
        if (!pubs[i].type_done) {
            size_t t = channel_index(chans, &nchans, type, pubs[i].type, n->nconn);
            msg_of[2 * i + 1] = add_round(n, &chans[t], msgs, &nmsgs, pubs[i].json);
        }
    }
    for (size_t m = 0; m < nmsgs; m++) {
        if (msgs[m].body.failed)
            goto out;
        first[msgs[m].conn + 1]++;
    }
    for (size_t c = 0; c < n->nconn; c++)
        first[c + 1] += first[c];
    memcpy(fill, first, sizeof fill);
    for (size_t m = 0; m < nmsgs; m++) {
        size_t k = fill[msgs[m].conn]++;
        req_of[m] = k;
        reqs[k].path = msgs[m].path;
        reqs[k].body = msgs[m].body.data;
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
    for (size_t i = 0; i < count; i++) {
        if (msg_of[2 * i] != SIZE_MAX)
            pubs[i].game_done = accepted(reqs[req_of[msg_of[2 * i]]].status);
        if (msg_of[2 * i + 1] != SIZE_MAX)
            pubs[i].type_done = accepted(reqs[req_of[msg_of[2 * i + 1]]].status);
        if (!pubs[i].game_done || !pubs[i].type_done)
            rc = -1;
    }
    if (rc != 0)
        dsc_log(DSC_LOG_WARN, "nchan publish failed", "{s:i, s:i, s:i, s:i}", "rounds", (int)count,
                "messages", (int)nmsgs, "answered", answered, "first_status", reqs[0].status);
out:
    for (size_t m = 0; msgs && m < nmsgs; m++)
        free(msgs[m].body.data);
    free(chans);
    free(msgs);
    free(msg_of);
    free(reqs);
    free(req_of);
    return rc;
}
