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
    dsc_log(DSC_LOG_WARN, "nats disconnected", NULL);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    dsc_log(DSC_LOG_INFO, "nats connected", NULL);
}

int dsc_nats_open(dsc_nats_t *n, const dsc_config_t *cfg)
{
    memset(n, 0, sizeof *n);
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, cfg->nats_url);
    if (s == NATS_OK && cfg->nats_user[0])
        s = natsOptions_SetUserInfo(opts, cfg->nats_user, cfg->nats_password);
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
        dsc_log(DSC_LOG_ERROR, "nats setup failed", "{s:s}", "error", natsStatus_GetText(s));
        dsc_nats_close(n);
        return -1;
    }
    return 0;
}

bool dsc_nats_connected(dsc_nats_t *n)
{
    return n->nc && natsConnection_Status(n->nc) == NATS_CONN_STATUS_CONNECTED;
}

void dsc_nats_close(dsc_nats_t *n)
{
    if (n->nc)
        natsConnection_FlushTimeout(n->nc, 2000);
    jsCtx_Destroy(n->js);
    natsConnection_Destroy(n->nc);
    n->js = NULL;
    n->nc = NULL;
}

static int ensure_stream(dsc_nats_t *n, const char *name, const char *subject)
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
        dsc_log(DSC_LOG_WARN, "stream create failed", "{s:s, s:s, s:i}", "stream", name, "error",
                natsStatus_GetText(s), "js_error", (int)err);
        return -1;
    }
    dsc_log(DSC_LOG_INFO, "stream ready", "{s:s, s:s}", "stream", name, "subjects", subject);
    return 0;
}

int dsc_nats_ensure_streams(dsc_nats_t *n, const dsc_config_t *cfg)
{
    char subjects[DSC_TEXT_MAX + 4];
    snprintf(subjects, sizeof subjects, "%s.>", cfg->prefix);
    if (cfg->create_stream && ensure_stream(n, cfg->stream, subjects) != 0)
        return -1;
    return ensure_stream(n, DLQ_STREAM, "dlq.>");
}

void dsc_source_init(dsc_source_t *s, const dsc_config_t *cfg, dsc_nats_t *nats,
                     const char *durable, const char *table)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->nats = nats;
    s->durable = durable;
    snprintf(s->subject, sizeof s->subject, "%s.public.%s", cfg->prefix, table);
}

static natsStatus upsert_consumer(dsc_source_t *s)
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
        dsc_log(DSC_LOG_WARN, "consumer create failed", "{s:s, s:s, s:i}", "durable", s->durable,
                "error", natsStatus_GetText(st), "js_error", (int)err);
    return st;
}

int dsc_source_ensure(dsc_source_t *s)
{
    if (s->sub)
        return 0;
    if (!dsc_nats_connected(s->nats) || dsc_nats_ensure_streams(s->nats, s->cfg) != 0 ||
        upsert_consumer(s) != NATS_OK)
        return -1;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = s->cfg->stream;
    so.Consumer = s->durable;
    jsErrCode err = 0;
    natsStatus st = js_PullSubscribe(&s->sub, s->nats->js, s->subject, s->durable, NULL, &so, &err);
    if (st != NATS_OK) {
        dsc_log(DSC_LOG_WARN, "subscribe failed", "{s:s, s:s}", "durable", s->durable, "error",
                natsStatus_GetText(st));
        s->sub = NULL;
        return -1;
    }
    dsc_log(DSC_LOG_INFO, "subscribed", "{s:s, s:s, s:s}", "stream", s->cfg->stream, "durable",
            s->durable, "subject", s->subject);
    return 0;
}

natsStatus dsc_source_fetch(dsc_source_t *s, natsMsgList *list)
{
    jsErrCode err = 0;
    memset(list, 0, sizeof *list);
    return natsSubscription_Fetch(list, s->sub, (int)s->cfg->batch_size, s->cfg->fetch_timeout_ms,
                                  &err);
}

int64_t dsc_source_lag(dsc_source_t *s)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode err = 0;
    if (js_GetConsumerInfo(&ci, s->nats->js, s->cfg->stream, s->durable, NULL, &err) != NATS_OK)
        return -1;
    int64_t lag = (int64_t)ci->NumPending + ci->NumAckPending;
    jsConsumerInfo_Destroy(ci);
    return lag;
}

void dsc_source_close(dsc_source_t *s)
{
    /* Destroy without Unsubscribe: the durable outlives the process. */
    natsSubscription_Destroy(s->sub);
    s->sub = NULL;
}
