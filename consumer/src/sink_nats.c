#include "sink_nats.h"

#include "datastream_contract.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

#define FLUSH_TIMEOUT_MS 2000

static natsStatus publish_one(natsConnection *nc, const char *kind, const char *name,
                              const char *json)
{
    char subject[sizeof "rounds.game." + DATASTREAM_NAME_MAX];
    snprintf(subject, sizeof subject, "rounds.%s.%s", kind, name);
    return natsConnection_Publish(nc, subject, json, (int)strlen(json));
}

int dsc_nats_publish_rounds(natsConnection *nc, dsc_publication_t *pubs, size_t count)
{
    natsStatus s = NATS_OK;
    for (size_t i = 0; i < count && s == NATS_OK; i++) {
        s = publish_one(nc, "game", pubs[i].slug, pubs[i].json);
        if (s == NATS_OK)
            s = publish_one(nc, "type", pubs[i].type, pubs[i].json);
    }
    /* The flush round trip proves the server has the messages. */
    if (s == NATS_OK && count > 0)
        s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
    if (s == NATS_OK)
        return 0;
    dsc_log(DSC_LOG_WARN, "nats publish failed", "{s:s}", "error", natsStatus_GetText(s));
    return -1;
}
