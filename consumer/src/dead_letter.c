#include "dead_letter.h"

#include "log.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

/* Header values are one line: parser messages may quote raw input bytes. */
static void one_line(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = ((unsigned char)src[i] < 0x20 || src[i] == 0x7f) ? ' ' : src[i];
    dst[i] = '\0';
}

int dsc_dead_letter_publish(jsCtx *js, natsMsg *msg, const char *reason_text, uint64_t stream_seq,
                            uint64_t deliveries)
{
    char subject[512], seq[24], count[24], reason[512];
    one_line(reason, sizeof reason, reason_text);
    snprintf(subject, sizeof subject, "dlq.%s", natsMsg_GetSubject(msg));
    snprintf(seq, sizeof seq, "%" PRIu64, stream_seq);
    snprintf(count, sizeof count, "%" PRIu64, deliveries);
    natsMsg *dlq = NULL;
    jsPubAck *ack = NULL;
    jsErrCode err = 0;
    natsStatus s = natsMsg_Create(&dlq, subject, NULL, natsMsg_GetData(msg),
                                  natsMsg_GetDataLength(msg));
    if (s == NATS_OK) s = natsMsgHeader_Set(dlq, "Datastream-Dlq-Reason", reason);
    if (s == NATS_OK) s = natsMsgHeader_Set(dlq, "Datastream-Dlq-Subject", natsMsg_GetSubject(msg));
    if (s == NATS_OK) s = natsMsgHeader_Set(dlq, "Datastream-Dlq-Stream-Seq", seq);
    if (s == NATS_OK) s = natsMsgHeader_Set(dlq, "Datastream-Dlq-Deliveries", count);
    if (s == NATS_OK) s = js_PublishMsg(&ack, js, dlq, NULL, &err);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(dlq);
    if (s != NATS_OK) {
        dsc_log(DSC_LOG_WARN, "dead letter publish failed", "{s:s, s:s}", "subject", subject,
                "error", natsStatus_GetText(s));
        return -1;
    }
    dsc_log(DSC_LOG_WARN, "dead-lettered", "{s:s, s:s, s:I, s:I}", "subject", subject, "reason",
            reason, "stream_seq", (json_int_t)stream_seq, "deliveries", (json_int_t)deliveries);
    return 0;
}
