/* Pipelined HTTP POSTs to an nchan publisher location, one keep-alive
 * connection: what the consumer does with nchan, without the consumer. Used by
 * datastream-bench-pub --nchan and by datastream-bench-noop --forward. */
#ifndef BENCH_HTTP_PUBLISH_H
#define BENCH_HTTP_PUBLISH_H

#include <stddef.h>

/* Requests in flight at most on the connection. */
#define PIPELINE 64
/* Largest body http_post sends; longer ones fail. */
#define HTTP_PUBLISH_BODY_MAX 4096

typedef struct {
    int  fd;
    char host[64];
    int  port;
    char path[256];
    char in[65536];
    size_t in_len;
    int  outstanding;
    int  sent_on_conn;
} http_t;

typedef struct {
    long long created, delivered, errors;
} http_counts_t;

/* http://HOST:PORT[/PATH]; 0 or -1 when the URL is not of that form. */
int  parse_http_url(http_t *h, const char *url);
int  http_connect(http_t *h);
/* POSTs body to PATH/channels, keeping at most PIPELINE requests unanswered; -1 when it
 * failed, a failed request counted in n->errors once, as is every answer but 201 and 202. */
int  http_post(http_t *h, const char *channels, const char *body, int blen, http_counts_t *n);
/* Reads answers; blocks until at most `keep` requests are outstanding. */
int  http_collect(http_t *h, int keep, http_counts_t *n);
/* Closes the connection; what it had unanswered counts as errors. */
void http_reset(http_t *h, http_counts_t *n);

#endif
