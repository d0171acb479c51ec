/* Minimal HTTP/1.1 client for one keep-alive connection with request pipelining: a batch of
 * POSTs is written at once and the answers are read back in order, so a batch costs one
 * round trip and the order of publications is kept. */
#ifndef DS_HTTP_PIPELINE_H
#define DS_HTTP_PIPELINE_H

#include <stddef.h>

typedef struct ds_http ds_http;

typedef struct {
    const char *path;
    const char *body;
    int status;         /* out: HTTP status, 0 when no answer arrived */
} ds_http_request;

ds_http *ds_http_new(const char *host, int port);
void ds_http_free(ds_http *h);

/* Opens the connection if needed. 0 when connected. */
int ds_http_connect(ds_http *h);

/* Sends every request; returns how many answers were read (a prefix of reqs), or -1 when
 * the server cannot be reached at all. */
int ds_http_post_batch(ds_http *h, ds_http_request *reqs, size_t n);

#endif
