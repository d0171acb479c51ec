/* The NATS side of the feed tool: connect, make sure the Debezium stream
 * exists, publish lines to JetStream, print what a subject receives. */
#ifndef DSF_NATS_IO_H
#define DSF_NATS_IO_H

#include <nats/nats.h>
#include <stdio.h>

typedef struct {
    natsConnection *conn;
    jsCtx          *js;
    int             publish_errors;   /* async publish acks that failed */
} dsf_nats_t;

int  dsf_nats_connect(dsf_nats_t *fn, const char *url);
/* The same with a user and password beside the URL (user NULL: none). */
int  dsf_nats_connect_as(dsf_nats_t *fn, const char *url, const char *user, const char *password);
void dsf_nats_close(dsf_nats_t *fn);

/* Creates `stream` with subjects "<prefix>.>" and file storage unless it
 * exists already. */
int  dsf_nats_ensure_stream(dsf_nats_t *fn, const char *stream, const char *prefix);

/* Queues one JetStream publish; acks are collected by dsf_nats_flush. */
int  dsf_nats_publish(dsf_nats_t *fn, const char *subject, const char *data, int len);
int  dsf_nats_publish_core(dsf_nats_t *fn, const char *subject, const char *data, int len);

/* Waits for every queued publish to be acknowledged; -1 if any failed. */
int  dsf_nats_flush(dsf_nats_t *fn, int64_t timeout_ms);

/* Prints up to `count` messages of `subject` as JSON lines, or stops after
 * timeout_ms. Returns the number printed, -1 on error. */
int  dsf_nats_print(dsf_nats_t *fn, const char *subject, int count,
                     int64_t timeout_ms, FILE *out);

#endif
