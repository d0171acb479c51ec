#include "nats_io.h"

#include <jansson.h>
#include <string.h>

static void
on_publish_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    dsf_nats_t *fn = closure;

    (void) js;
    fn->publish_errors++;
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"publish not acknowledged\",\"error\":\"%s\"}\n",
            pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
}

int
dsf_nats_connect(dsf_nats_t *fn, const char *url)
{
    return dsf_nats_connect_as(fn, url, NULL, NULL);
}

int
dsf_nats_connect_as(dsf_nats_t *fn, const char *url, const char *user, const char *password)
{
    natsOptions *opts = NULL;
    jsOptions    jo;
    natsStatus   s;

    memset(fn, 0, sizeof(*fn));
    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, url);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK && user != NULL) s = natsOptions_SetUserInfo(opts, user, password);
    if (s == NATS_OK) s = natsConnection_Connect(&fn->conn, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot connect to NATS\",\"url\":\"%s\",\"error\":\"%s\"}\n",
                url, natsStatus_GetText(s));
        return -1;
    }
    s = jsOptions_Init(&jo);
    if (s == NATS_OK) {
        jo.PublishAsync.MaxPending = 4096;
        jo.PublishAsync.ErrHandler = on_publish_error;
        jo.PublishAsync.ErrHandlerClosure = fn;
        s = natsConnection_JetStream(&fn->js, fn->conn, &jo);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"JetStream context\",\"error\":\"%s\"}\n",
                natsStatus_GetText(s));
        dsf_nats_close(fn);
        return -1;
    }
    return 0;
}

void
dsf_nats_close(dsf_nats_t *fn)
{
    jsCtx_Destroy(fn->js);
    natsConnection_Destroy(fn->conn);
    fn->js = NULL;
    fn->conn = NULL;
}

int
dsf_nats_ensure_stream(dsf_nats_t *fn, const char *stream, const char *prefix)
{
    jsStreamInfo   *si = NULL;
    jsStreamConfig  cfg;
    jsErrCode       jerr = 0;
    char            subject[256];
    const char     *subjects[1] = { subject };
    natsStatus      s;

    s = js_GetStreamInfo(&si, fn->js, stream, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return 0;
    }
    if (s != NATS_NOT_FOUND) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"stream info\",\"stream\":\"%s\",\"error\":\"%s\"}\n",
                stream, natsStatus_GetText(s));
        return -1;
    }
    if (snprintf(subject, sizeof(subject), "%s.>", prefix) >= (int) sizeof(subject)) {
        return -1;
    }
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    s = js_AddStream(&si, fn->js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot create stream\",\"stream\":\"%s\",\"error\":\"%s\",\"code\":%d}\n",
                stream, natsStatus_GetText(s), (int) jerr);
        return -1;
    }
    jsStreamInfo_Destroy(si);
    return 0;
}

int
dsf_nats_publish(dsf_nats_t *fn, const char *subject, const char *data, int len)
{
    natsStatus s = js_PublishAsync(fn->js, subject, data, len, NULL);

    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"publish\",\"subject\":\"%s\",\"error\":\"%s\"}\n",
                subject, natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

int
dsf_nats_publish_core(dsf_nats_t *fn, const char *subject, const char *data, int len)
{
    return natsConnection_Publish(fn->conn, subject, data, len) == NATS_OK ? 0 : -1;
}

int
dsf_nats_flush(dsf_nats_t *fn, int64_t timeout_ms)
{
    jsPubOptions po;
    natsStatus   s;

    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    s = js_PublishAsyncComplete(fn->js, &po);
    if (s == NATS_OK) {
        s = natsConnection_FlushTimeout(fn->conn, timeout_ms);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"waiting for publish acks\",\"error\":\"%s\"}\n",
                natsStatus_GetText(s));
        return -1;
    }
    return fn->publish_errors ? -1 : 0;
}

static json_t *
message_as_json(natsMsg *msg)
{
    json_t      *obj = json_object();
    json_t      *headers = json_object();
    const char **keys = NULL;
    int          nkeys = 0;

    if (obj == NULL || headers == NULL) {
        json_decref(obj);
        json_decref(headers);
        return NULL;
    }
    json_object_set_new(obj, "subject", json_string(natsMsg_GetSubject(msg)));
    json_object_set_new(obj, "data",
                        json_stringn(natsMsg_GetData(msg), (size_t) natsMsg_GetDataLength(msg)));
    if (natsMsgHeader_Keys(msg, &keys, &nkeys) == NATS_OK) {
        for (int i = 0; i < nkeys; i++) {
            const char *value = NULL;
            if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK) {
                json_object_set_new(headers, keys[i], json_string(value));
            }
        }
        free((void *) keys);
    }
    json_object_set_new(obj, "headers", headers);
    return obj;
}

int
dsf_nats_print(dsf_nats_t *fn, const char *subject, int count,
                int64_t timeout_ms, FILE *out)
{
    natsSubscription *sub = NULL;
    int64_t           deadline = nats_Now() + timeout_ms;
    int               printed = 0;

    if (natsConnection_SubscribeSync(&sub, fn->conn, subject) != NATS_OK
        || natsConnection_Flush(fn->conn) != NATS_OK)
    {
        natsSubscription_Destroy(sub);
        return -1;
    }
    /* Tell the caller the subscription is live, so it can start publishing. */
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"subscribed\",\"subject\":\"%s\"}\n", subject);
    fflush(stderr);

    while (count <= 0 || printed < count) {
        natsMsg *msg = NULL;
        int64_t  left = deadline - nats_Now();
        json_t  *obj;
        char    *line;

        if (left <= 0 || natsSubscription_NextMsg(&msg, sub, left) != NATS_OK) {
            break;
        }
        obj = message_as_json(msg);
        natsMsg_Destroy(msg);
        line = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(obj);
        if (line == NULL) {
            natsSubscription_Destroy(sub);
            return -1;
        }
        fprintf(out, "%s\n", line);
        fflush(out);
        free(line);
        printed++;
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return printed;
}
