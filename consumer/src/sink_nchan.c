#include "sink_nchan.h"

#include "http_pipeline.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN (DS_TEXT_MAX + 2 * 64 + 16)

struct ds_nchan {
    const ds_config *cfg;
    ds_http *http;
};

ds_nchan *ds_nchan_new(const ds_config *cfg)
{
    ds_nchan *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->cfg = cfg;
    n->http = ds_http_new(cfg->publish_host, cfg->publish_port);
    if (!n->http) {
        free(n);
        return NULL;
    }
    return n;
}

void ds_nchan_free(ds_nchan *n)
{
    if (!n)
        return;
    ds_http_free(n->http);
    free(n);
}

int ds_nchan_probe(ds_nchan *n)
{
    return ds_http_connect(n->http);
}

int ds_nchan_publish(ds_nchan *n, ds_publication *pubs, size_t count)
{
    if (count == 0)
        return 0;
    ds_http_request *reqs = calloc(count, sizeof *reqs);
    char (*paths)[PATH_MAX_LEN] = calloc(count, PATH_MAX_LEN);
    int rc = -1;
    if (!reqs || !paths)
        goto out;
    for (size_t i = 0; i < count; i++) {
        pubs[i].ok = false;
        snprintf(paths[i], PATH_MAX_LEN, "%s/game.%s,type.%s", n->cfg->publish_path,
                 pubs[i].slug, pubs[i].type);
        reqs[i].path = paths[i];
        reqs[i].body = pubs[i].json;
    }
    int answered = ds_http_post_batch(n->http, reqs, count);
    rc = 0;
    for (size_t i = 0; i < count; i++) {
        pubs[i].ok = reqs[i].status == 201 || reqs[i].status == 202;
        if (!pubs[i].ok)
            rc = -1;
    }
    if (rc != 0)
        ds_log(LOG_WARN, "nchan publish failed", "{s:i, s:i, s:i}", "requests", (int)count,
               "answered", answered, "first_status", reqs[0].status);
out:
    free(reqs);
    free(paths);
    return rc;
}
