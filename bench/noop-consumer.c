/* datastream-bench-noop: the baseline of the consumer throughput benchmark.
 * It does what the consumer does with JetStream and nothing else: bind to a
 * durable pull consumer configured like the consumer's (explicit ack,
 * deliver all, same ack wait and max ack pending), fetch batches of the same
 * size, ack every message without waiting. No decoding, no Redis, no nchan.
 *
 * With --live it is the baseline of the live path instead: it starts at the
 * stream's new messages, like a consumer that is already caught up, and reports
 * how long datastream-bench-pub's messages took to reach it (their stamped send
 * time -> the fetch that returned them): the part of any consumer's latency that
 * is JetStream's and the machine's. With --forward (implies --live) it is also
 * the simplest complete live path: each fetched message is POSTed as it is
 * (pipelined, one POST per message) to an nchan publisher, and the batch is
 * acked once nchan has answered all of it.
 *
 * Stops after --expect messages or --idle-ms without a message; prints one
 * JSON line with the count, the time from the first to the last message, its
 * peak RSS and, with --live, the latency percentiles. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <nats/nats.h>

#include "http_publish.h"
#include "wall_clock.h"

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-bench-noop [options]\n"
        "  --url URL          NATS (env NATS_URL, default nats://127.0.0.1:4222)\n"
        "  --stream S         stream (default DebeziumStream)\n"
        "  --subject S        filter subject (default datastream.public.rounds)\n"
        "  --durable D        durable consumer name (default bench-noop)\n"
        "  --batch N          messages per fetch (default 64, like the consumer's BATCH_SIZE)\n"
        "  --fetch-timeout-ms T  (default 1000, like FETCH_TIMEOUT_MS)\n"
        "  --max-ack-pending N   (default 1000, like MAX_ACK_PENDING)\n"
        "  --expect N         stop after N messages (default 0 = until idle)\n"
        "  --idle-ms T        stop after T ms without a message (default 3000)\n"
        "  --live             start at new messages; report their latency from datastream-bench-pub\n"
        "  --forward URL      POST each message to the nchan publisher URL/CHANNELS before the ack (implies --live)\n"
        "  --channels C       channels of --forward (default game.crash,type.crash)\n");
}

/* Receipt latencies of the stamped messages, in microseconds. */
typedef struct {
    int64_t *us;
    size_t   n, cap;
} samples_t;

static int
samples_add(samples_t *sm, int64_t us)
{
    if (sm->n == sm->cap) {
        size_t   cap = sm->cap ? sm->cap * 2 : 65536;
        int64_t *p = realloc(sm->us, cap * sizeof(*p));

        if (p == NULL) return -1;
        sm->us = p;
        sm->cap = cap;
    }
    sm->us[sm->n++] = us;
    return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}

/* The send time datastream-bench-pub writes into the row's extras (escaped JSON inside the
 * envelope), or -1. */
static int64_t
stamped_send_us(const char *data, int len)
{
    static const char key[] = "bench_sent_us\\\": ";
    const char       *p = memmem(data, (size_t) len, key, sizeof(key) - 1);
    char             *end;
    long long         v;

    if (p == NULL) return -1;
    p += sizeof(key) - 1;
    errno = 0;
    v = strtoll(p, &end, 10);
    return (errno || end == p || end > data + len) ? -1 : v;
}

static int64_t
percentile_us(const samples_t *sm, double q)
{
    return sm->us[(size_t) (q * (double) (sm->n - 1) + 0.5)];
}

static int
num(const char *s, long long lo, long long hi, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno || *end || end == s || *out < lo || *out > hi) ? -1 : 0;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "url", required_argument, NULL, 'u' },
        { "stream", required_argument, NULL, 's' },
        { "subject", required_argument, NULL, 'j' },
        { "durable", required_argument, NULL, 'd' },
        { "batch", required_argument, NULL, 'b' },
        { "fetch-timeout-ms", required_argument, NULL, 't' },
        { "max-ack-pending", required_argument, NULL, 'a' },
        { "expect", required_argument, NULL, 'e' },
        { "idle-ms", required_argument, NULL, 'i' },
        { "live", no_argument, NULL, 'l' },
        { "forward", required_argument, NULL, 'f' },
        { "channels", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char       *url = getenv("NATS_URL") ? getenv("NATS_URL") : "nats://127.0.0.1:4222";
    const char       *stream = "DebeziumStream", *subject = "datastream.public.rounds";
    const char       *durable = "bench-noop";
    const char       *forward = NULL, *channels = "game.crash,type.crash";
    http_t            http = { .fd = -1 };
    http_counts_t     posted = { 0, 0, 0 };
    long long         batch = 64, fetch_ms = 1000, max_ack_pending = 1000, expect = 0, idle_ms = 3000;
    int               opt, live = 0;
    natsConnection   *nc = NULL;
    natsOptions      *no = NULL;
    jsCtx            *js = NULL;
    natsSubscription *sub = NULL;
    jsConsumerInfo   *ci = NULL;
    jsConsumerConfig  cc;
    jsSubOptions      so;
    jsErrCode         jerr = 0;
    natsStatus        s;
    long long         got = 0, ack_errors = 0;
    samples_t         received = { NULL, 0, 0 };
    int64_t           first_ms = 0, last_ms = 0, last_seen;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 's': stream = optarg; break;
        case 'j': subject = optarg; break;
        case 'd': durable = optarg; break;
        case 'b': if (num(optarg, 1, 10000, &batch)) goto bad; break;
        case 't': if (num(optarg, 10, 600000, &fetch_ms)) goto bad; break;
        case 'a': if (num(optarg, 1, 1000000, &max_ack_pending)) goto bad; break;
        case 'e': if (num(optarg, 0, INT64_MAX, &expect)) goto bad; break;
        case 'i': if (num(optarg, 10, 3600000, &idle_ms)) goto bad; break;
        case 'l': live = 1; break;
        case 'f': forward = optarg; live = 1; break;
        case 'c': channels = optarg; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (optind != argc || (forward && parse_http_url(&http, forward) != 0)) goto bad;
    if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR
        || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"signal handlers\"}\n");
        return 1;
    }

    s = natsOptions_Create(&no);
    if (s == NATS_OK) s = natsOptions_SetURL(no, url);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, no);
    if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, NULL);
    if (s == NATS_OK) {
        jsConsumerConfig_Init(&cc);
        cc.Durable = durable;
        cc.FilterSubject = subject;
        cc.AckPolicy = js_AckExplicit;
        cc.DeliverPolicy = live ? js_DeliverNew : js_DeliverAll;
        cc.AckWait = 30LL * 1000 * 1000 * 1000;
        cc.MaxDeliver = 1000;
        cc.MaxAckPending = max_ack_pending;
        s = js_AddConsumer(&ci, js, stream, &cc, NULL, &jerr);
        jsConsumerInfo_Destroy(ci);
    }
    if (s == NATS_OK) {
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.Consumer = durable;
        s = js_PullSubscribe(&sub, js, subject, durable, NULL, &so, &jerr);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"setup\",\"error\":\"%s\",\"js_error\":%d}\n",
                natsStatus_GetText(s), (int) jerr);
        goto out;
    }

    last_seen = nats_Now();
    while (!stop_flag && (expect == 0 || got < expect)) {
        natsMsgList list = { 0 };

        s = natsSubscription_Fetch(&list, sub, (int) batch, fetch_ms, &jerr);
        if (s == NATS_OK) {
            int64_t now_us = wall_clock_us();

            for (int i = 0; live && i < list.Count; i++) {
                int64_t sent = stamped_send_us(natsMsg_GetData(list.Msgs[i]), natsMsg_GetDataLength(list.Msgs[i]));

                if (sent > 0 && samples_add(&received, now_us - sent) != 0) {
                    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory\"}\n");
                    stop_flag = 1;
                }
            }
            /* A failed POST is counted in posted.errors; its message is acked all the same. */
            for (int i = 0; forward && i < list.Count; i++)
                (void) http_post(&http, channels, natsMsg_GetData(list.Msgs[i]), natsMsg_GetDataLength(list.Msgs[i]),
                                 &posted);
            if (forward && http_collect(&http, 0, &posted) != 0) http_reset(&http, &posted);
            for (int i = 0; i < list.Count; i++) {
                if (natsMsg_Ack(list.Msgs[i], NULL) != NATS_OK) ack_errors++;
            }
            got += list.Count;
            last_seen = last_ms = nats_Now();
            if (first_ms == 0 && list.Count > 0) first_ms = last_ms;
            natsMsgList_Destroy(&list);
        } else if (s != NATS_TIMEOUT) {
            natsMsgList_Destroy(&list);
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"fetch\",\"error\":\"%s\"}\n", natsStatus_GetText(s));
            break;
        }
        if (nats_Now() - last_seen > idle_ms) break;
    }
    if (natsConnection_FlushTimeout(nc, 10000) != NATS_OK) ack_errors++;
    {
        struct rusage ru;
        double        secs = (double) (last_ms - first_ms) / 1000.0;
        long          rss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
        printf("{\"tool\":\"datastream-bench-noop\",\"messages\":%lld,\"ack_errors\":%lld,\"seconds\":%.3f,"
               "\"msgs_per_s\":%.1f,\"rss_kb\":%ld,\"batch\":%lld,\"forwarded\":%lld,\"forward_errors\":%lld",
               got, ack_errors, secs, secs > 0 ? (double) got / secs : 0.0, rss, batch,
               posted.delivered + posted.created, posted.errors);
        if (received.n > 0) {
            qsort(received.us, received.n, sizeof(*received.us), cmp_i64);
            printf(",\"received\":%zu,\"latency_us\":{\"p50\":%lld,\"p99\":%lld,\"max\":%lld}",
                   received.n, (long long) percentile_us(&received, 0.50),
                   (long long) percentile_us(&received, 0.99), (long long) percentile_us(&received, 1.0));
        }
        printf("}\n");
    }
out:
    free(received.us);
    if (http.fd >= 0) (void) close(http.fd);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(no);
    nats_Close();
    return s == NATS_OK || s == NATS_TIMEOUT ? 0 : 1;
bad:
    usage(stderr);
    return 2;
}
