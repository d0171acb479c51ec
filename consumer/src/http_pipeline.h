/* Minimal HTTP/1.1 client for one keep-alive connection with request pipelining: a batch of
 * POSTs is written at once and the answers are read back in order, so a batch costs one
 * round trip and the order of publications is kept. Sending and receiving are separate
 * steps so that several connections can have their batches in flight at the same time. */
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

/* Connects if needed and writes every request (POST with a JSON body). A failure shows in
 * the ds_http_receive that must follow each send, with the same requests. */
void ds_http_send(ds_http *h, ds_http_request *reqs, size_t n);
/* Reads the answers; returns how many were read (a prefix of reqs), or -1 when the server
 * cannot be reached at all. */
int ds_http_receive(ds_http *h, ds_http_request *reqs, size_t n);

#endif
