#include "source_jetstream.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

#define DLQ_STREAM "DataStreamDeadLetters"
#define NS_PER_MS 1000000LL

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    ds_log(LOG_WARN, "nats disconnected", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    ds_log(LOG_INFO, "nats connected", NULL);
}

int ds_nats_open(ds_nats *n, const ds_config *cfg)
{
    memset(n, 0, sizeof *n);
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, cfg->nats_url);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 1000);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    /* With a connected callback, a failed first connect returns at once and keeps retrying
     * in the background instead of blocking start-up (and signal handling). */
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_reconnected, NULL);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&n->nc, opts);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    if (s == NATS_OK) s = natsConnection_JetStream(&n->js, n->nc, NULL);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        ds_log(LOG_ERROR, "nats setup failed", "{s:s}", "error", natsStatus_GetText(s));
        ds_nats_close(n);
        return -1;
    }
    return 0;
}

bool ds_nats_connected(ds_nats *n)
{
    return n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

void ds_nats_close(ds_nats *n)
{
    if (n->nc)
        natsConnection_FlushTimeout(n->nc, 2000);
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
    n->js = NULL;
    n->nc = NULL;
}

static int ensure_stream(ds_nats *n, const char *name, const char *subject)
{
    jsStreamInfo *si = NULL;
    jsErrCode err = 0;
    if (js_GetStreamInfo(&si, n->js, name, NULL, &err) == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = {subject};
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    natsStatus s = js_AddStream(&si, n->js, &sc, NULL, &err);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK && err != JSStreamNameExistErr) {
        ds_log(LOG_WARN, "stream create failed", "{s:s, s:s, s:i}", "stream", name, "error",
               natsStatus_GetText(s), "js_error", (int)err);
        return -1;
    }
    ds_log(LOG_INFO, "stream ready", "{s:s, s:s}", "stream", name, "subjects", subject);
    return 0;
}

int ds_nats_ensure_streams(ds_nats *n, const ds_config *cfg)
{
    char subjects[DS_TEXT_MAX + 4];
    snprintf(subjects, sizeof subjects, "%s.>", cfg->prefix);
    if (cfg->create_stream && ensure_stream(n, cfg->stream, subjects) != 0)
        return -1;
    return ensure_stream(n, DLQ_STREAM, "dlq.>");
}

void ds_source_init(ds_source *s, const ds_config *cfg, ds_nats *nats, const char *durable,
                    const char *table)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->nats = nats;
    s->durable = durable;
    snprintf(s->subject, sizeof s->subject, "%s.public.%s", cfg->prefix, table);
}

static natsStatus upsert_consumer(ds_source *s)
{
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = s->durable;
    cc.FilterSubject = s->subject;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.AckWait = s->cfg->ack_wait_s * 1000 * NS_PER_MS;
    cc.MaxDeliver = s->cfg->max_deliver;
    cc.MaxAckPending = s->cfg->max_ack_pending;
    jsConsumerInfo *ci = NULL;
    jsErrCode err = 0;
    natsStatus st = js_AddConsumer(&ci, s->nats->js, s->cfg->stream, &cc, NULL, &err);
    if (st != NATS_OK) {
        /* Exists with another configuration: bring it to ours, keeping its position. */
        st = js_UpdateConsumer(&ci, s->nats->js, s->cfg->stream, &cc, NULL, &err);
    }
    jsConsumerInfo_Destroy(ci);
    if (st != NATS_OK)
        ds_log(LOG_WARN, "consumer create failed", "{s:s, s:s, s:i}", "durable", s->durable,
               "error", natsStatus_GetText(st), "js_error", (int)err);
    return st;
}

int ds_source_ensure(ds_source *s)
{
    if (s->sub)
        return 0;
    if (!ds_nats_connected(s->nats) || ds_nats_ensure_streams(s->nats, s->cfg) != 0 ||
        upsert_consumer(s) != NATS_OK)
        return -1;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = s->cfg->stream;
    so.Consumer = s->durable;
    jsErrCode err = 0;
    natsStatus st = js_PullSubscribe(&s->sub, s->nats->js, s->subject, s->durable, NULL, &so, &err);
    if (st != NATS_OK) {
        ds_log(LOG_WARN, "subscribe failed", "{s:s, s:s}", "durable", s->durable, "error",
               natsStatus_GetText(st));
        s->sub = NULL;
        return -1;
    }
    ds_log(LOG_INFO, "subscribed", "{s:s, s:s, s:s}", "stream", s->cfg->stream, "durable",
           s->durable, "subject", s->subject);
    return 0;
}

natsStatus ds_source_fetch(ds_source *s, natsMsgList *list)
{
    jsErrCode err = 0;
    memset(list, 0, sizeof *list);
    return natsSubscription_Fetch(list, s->sub, (int)s->cfg->batch_size, s->cfg->fetch_timeout_ms,
                                  &err);
}

int64_t ds_source_lag(ds_source *s)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode err = 0;
    if (js_GetConsumerInfo(&ci, s->nats->js, s->cfg->stream, s->durable, NULL, &err) != NATS_OK)
        return -1;
    int64_t lag = (int64_t)ci->NumPending + ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
    return lag;
}

void ds_source_close(ds_source *s)
{
    /* Destroy without Unsubscribe: the durable outlives the process. */
    natsSubscription_Destroy(s->sub);
    s->sub = NULL;
}
