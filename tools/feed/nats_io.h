/* The NATS side of the feed tool: connect, make sure the Debezium stream
 * exists, publish lines to JetStream, print what a subject receives. */
#ifndef DATASTREAM_FEED_NATS_IO_H
#define DATASTREAM_FEED_NATS_IO_H

#include <nats/nats.h>
#include <stdio.h>

typedef struct {
    natsConnection *conn;
    jsCtx          *js;
    int             publish_errors;   /* async publish acks that failed */
} feed_nats_t;

int  feed_nats_connect(feed_nats_t *fn, const char *url);
void feed_nats_close(feed_nats_t *fn);

/* Creates `stream` with subjects "<prefix>.>" and file storage unless it
 * exists already. */
int  feed_nats_ensure_stream(feed_nats_t *fn, const char *stream, const char *prefix);

/* Queues one JetStream publish; acks are collected by feed_nats_flush. */
int  feed_nats_publish(feed_nats_t *fn, const char *subject, const char *data, int len);
int  feed_nats_publish_core(feed_nats_t *fn, const char *subject, const char *data, int len);

/* Waits for every queued publish to be acknowledged; -1 if any failed. */
int  feed_nats_flush(feed_nats_t *fn, int64_t timeout_ms);

/* Prints up to `count` messages of `subject` as JSON lines, or stops after
 * timeout_ms. Returns the number printed, -1 on error. */
int  feed_nats_print(feed_nats_t *fn, const char *subject, int count,
                     int64_t timeout_ms, FILE *out);

#endif
