/* Minimal HTTP/1.1 client for one keep-alive connection with request pipelining: a batch of
 * POSTs is written at once and the answers are read back in order, so a batch costs one
 * round trip and the order of publications is kept. Sending and receiving are separate
 * steps so that several connections can have their batches in flight at the same time. */
#ifndef DSC_HTTP_PIPELINE_H
#define DSC_HTTP_PIPELINE_H

#include <stddef.h>

typedef struct dsc_http_s dsc_http_t;

typedef struct {
    const char *path;
    const char *body;
    int status;         /* out: HTTP status, 0 when no answer arrived */
} dsc_http_request_t;

dsc_http_t *dsc_http_new(const char *host, int port);
void dsc_http_free(dsc_http_t *h);

/* Opens the connection if needed. 0 when connected. */
int dsc_http_connect(dsc_http_t *h);

/* Connects if needed and writes every request (POST with a JSON body). A failure shows in
 * the dsc_http_receive that must follow each send, with the same requests. */
void dsc_http_send(dsc_http_t *h, dsc_http_request_t *reqs, size_t n);
/* Reads the answers; returns how many were read (a prefix of reqs), or -1 when the server
 * cannot be reached at all. */
int dsc_http_receive(dsc_http_t *h, dsc_http_request_t *reqs, size_t n);

#endif
