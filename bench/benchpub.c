/* datastream-bench-pub: publishes rounds at a fixed rate for latency and
 * fan-out measurements, each stamped with its send time.
 *
 *   --nats URL       Debezium insert envelopes into JetStream (<prefix>.public.rounds):
 *                    the whole pipeline, consumer included
 *   --nchan URL      round objects POSTed to an nchan publisher, URL/game.<slug>,type.<type>:
 *                    the backend alone (what the consumer does for each round)
 *   --pushpin SPEC   the same round objects published to Pushpin's ZeroMQ input (a PUSH
 *                    socket connected to SPEC, e.g. tcp://127.0.0.1:5560), one item per
 *                    channel game.<slug> and type.<type>: the peer product fed alike
 *
 * The send time goes into "extras" as "bench_sent_us" (microseconds). It is the
 * time the message was *scheduled* for, not when it left: a publisher that
 * falls behind shows up as latency instead of hiding it. Prints one JSON line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <zmq.h>

#include "http_publish.h"
#include "wall_clock.h"

/* A round object goes to nchan as one POST body: no larger than http_post sends. */
#define MSG_MAX HTTP_PUBLISH_BODY_MAX

typedef struct {
    int         id;
    const char *slug;
    const char *type;
} game_t;

static const game_t known_games[] = {
    { 1, "crash", "multiplier" },
    { 2, "double", "color" },
    { 3, "slot", "slots" },
    { 4, "wall-street", "trending" },
};
#define NKNOWN ((int) (sizeof(known_games) / sizeof(known_games[0])))

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static void
sleep_until_us(int64_t t)
{
    int64_t d = t - wall_clock_us();

    if (d > 0) {
        struct timespec ts = { (time_t) (d / 1000000), (long) (d % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_flag) {
        }
    }
}

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-bench-pub (--nats URL | --nchan URL | --pushpin SPEC) --rate R --count N [options]\n"
        "  --games a,b,..   slugs to cycle through (default crash); reference games only\n"
        "  --start-id ID    first round id (default: microseconds since epoch / 1000)\n"
        "  --prefix P       Debezium topic prefix (default datastream)\n"
        "  --max-time S     stop after S seconds whatever was sent (default count/rate + 30)\n");
}

/* ------------------------------------------------------------------ Pushpin publisher */

/* A bounded string builder: `overflow` is set instead of writing past `cap`. */
typedef struct {
    char  *buf;
    size_t cap, len;
    int    overflow;
} sbuf_t;

static void
sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void
sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* s[0, n) as the inside of a JSON string. */
static void
sb_json(sbuf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) s[i];
        char          esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char) ch;
            sb_put(b, esc, 2);
        } else if (ch < 0x20) {
            int k = snprintf(esc, sizeof(esc), "\\u%04x", ch);
            if (k < 0 || (size_t) k >= sizeof(esc)) b->overflow = 1;
            else sb_put(b, esc, (size_t) k);
        } else {
            sb_put(b, (const char *) &ch, 1);
        }
    }
}

/* Pushpin's ZeroMQ publish input rather than its HTTP one: each message leaves at its
 * scheduled time on one connection, where the HTTP endpoint closes the connection after
 * every answer (a connection per message, or batches that add their own wait). */
typedef struct {
    void *ctx;
    void *sock;
} pushpin_t;

static void
pushpin_close(pushpin_t *p)
{
    if (p->sock != NULL) (void) zmq_close(p->sock);
    /* Waits at most the linger time for queued messages to leave. */
    while (p->ctx != NULL && zmq_ctx_term(p->ctx) != 0 && errno == EINTR) {
    }
    p->sock = p->ctx = NULL;
}

static int
pushpin_open(pushpin_t *p, const char *spec)
{
    /* A whole run fits in the queue: a handler that falls behind shows as latency (the
     * stamp is the scheduled time), not as a publisher blocked in send. Messages queue
     * only on an established connection, so a handler that is not there counts as errors.
     * Every wait is bounded: a send that cannot queue in 5 s is an error, close gives up
     * after 10 s. */
    int hwm = 1000000, immediate = 1, send_timeout_ms = 5000, linger_ms = 10000;

    p->sock = NULL;
    p->ctx = zmq_ctx_new();
    if (p->ctx == NULL) return -1;
    p->sock = zmq_socket(p->ctx, ZMQ_PUSH);
    if (p->sock == NULL
        || zmq_setsockopt(p->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) != 0
        || zmq_setsockopt(p->sock, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) != 0
        || zmq_setsockopt(p->sock, ZMQ_SNDTIMEO, &send_timeout_ms, sizeof(send_timeout_ms)) != 0
        || zmq_setsockopt(p->sock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms)) != 0
        || zmq_connect(p->sock, spec) != 0)
    {
        pushpin_close(p);
        return -1;
    }
    return 0;
}

/* One publish item ("J" + JSON) per channel: the WebSocket message is the round object
 * itself, the HTTP stream gets it framed as nchan's EventSource frames it (id:, data:). */
static int
pushpin_publish(pushpin_t *p, const game_t *g, const char *round, size_t len, long long id)
{
    char   buf[3 * MSG_MAX];
    char   channel[128], sse_id[32];
    int    k;

    k = snprintf(sse_id, sizeof(sse_id), "id: %lld\\ndata: ", id);
    if (k < 0 || (size_t) k >= sizeof(sse_id)) return -1;
    for (int c = 0; c < 2; c++) {
        sbuf_t b = { buf, sizeof(buf), 0, 0 };
        k = c == 0 ? snprintf(channel, sizeof(channel), "game.%s", g->slug)
                   : snprintf(channel, sizeof(channel), "type.%s", g->type);
        if (k < 0 || (size_t) k >= sizeof(channel)) return -1;
        sb_str(&b, "J{\"channel\":\"");
        sb_str(&b, channel);
        sb_str(&b, "\",\"formats\":{\"ws-message\":{\"content\":\"");
        sb_json(&b, round, len);
        sb_str(&b, "\"},\"http-stream\":{\"content\":\"");
        sb_str(&b, sse_id);
        sb_json(&b, round, len);
        sb_str(&b, "\\n\\n\"}}}");
        if (b.overflow || zmq_send(p->sock, b.buf, b.len, 0) != (int) b.len) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ messages */

static int
iso8601(char *out, size_t cap, int64_t us)
{
    time_t    secs = (time_t) (us / 1000000);
    struct tm tm;
    char      date[32];

    if (gmtime_r(&secs, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return -1;
    }
    int n = snprintf(out, cap, "%s.%06lldZ", date, (long long) (us % 1000000));
    return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}

static const char *
point_of(long long i, char *buf, size_t cap)
{
    double roll = (double) ((i * 7919) % 1000) / 1000.0;
    double point = 0.99 / (1.0 - roll * 0.99);
    int    n = snprintf(buf, cap, "%.2f", point < 1.0 ? 1.0 : point);
    return (n < 0 || (size_t) n >= cap) ? "1.00" : buf;
}

/* The round object as the consumer publishes it, stamped in extras. */
static int
round_object(char *out, size_t cap, long long id, const game_t *g, const char *fin, const char *pt, int64_t due)
{
    int n = snprintf(out, cap,
                     "{\"round_id\":%lld,\"game_id\":%d,\"game_slug\":\"%s\",\"game_type\":\"%s\","
                     "\"finished_at\":\"%s\",\"extras\":\"{\\\"point\\\": \\\"%s\\\", \\\"bench_sent_us\\\": %lld}\","
                     "\"timestamp\":%lld}",
                     id, g->id, g->slug, g->type, fin, pt, (long long) due, (long long) (due / 1000));
    return (n < 0 || (size_t) n >= cap) ? -1 : n;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "nats", required_argument, NULL, 'n' },
        { "nchan", required_argument, NULL, 'c' },
        { "pushpin", required_argument, NULL, 'P' },
        { "rate", required_argument, NULL, 'r' },
        { "count", required_argument, NULL, 'N' },
        { "games", required_argument, NULL, 'g' },
        { "start-id", required_argument, NULL, 'i' },
        { "prefix", required_argument, NULL, 'p' },
        { "max-time", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char   *nats_url = NULL, *nchan_url = NULL, *pushpin_spec = NULL, *prefix = "datastream";
    char          games_arg[256] = "crash";
    const game_t *games[16];
    int           ngames = 0, opt;
    double        rate = 100, max_time = -1;
    long long     count = 1000, start_id = -1;
    char         *end;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        errno = 0;
        switch (opt) {
        case 'n': nats_url = optarg; break;
        case 'c': nchan_url = optarg; break;
        case 'P': pushpin_spec = optarg; break;
        case 'r': rate = strtod(optarg, &end); if (*end || errno || rate <= 0) goto bad; break;
        case 'N': count = strtoll(optarg, &end, 10); if (*end || errno || count < 1) goto bad; break;
        case 'g':
            if (snprintf(games_arg, sizeof(games_arg), "%s", optarg) >= (int) sizeof(games_arg)) goto bad;
            break;
        case 'i': start_id = strtoll(optarg, &end, 10); if (*end || errno || start_id < 1) goto bad; break;
        case 'p': prefix = optarg; break;
        case 'M': max_time = strtod(optarg, &end); if (*end || errno || max_time <= 0) goto bad; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if ((nats_url != NULL) + (nchan_url != NULL) + (pushpin_spec != NULL) != 1 || optind != argc) goto bad;
    for (char *save = NULL, *tok = strtok_r(games_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int k = 0; k < NKNOWN; k++) {
            if (strcmp(tok, known_games[k].slug) == 0 && ngames < 16) {
                games[ngames++] = &known_games[k];
                found = 1;
            }
        }
        if (!found) goto bad;
    }
    if (ngames == 0) goto bad;
    if (start_id < 0) start_id = wall_clock_us() / 1000;
    if (max_time < 0) max_time = (double) count / rate + 30;

    if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR
        || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
    {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"signal handlers\"}\n");
        return 1;
    }

    http_t           http;
    pushpin_t        pushpin = { NULL, NULL };
    natsConnection  *nc = NULL;
    jsCtx           *js = NULL;
    char             subject[256];
    memset(&http, 0, sizeof(http));
    http.fd = -1;

    if (snprintf(subject, sizeof(subject), "%s.public.rounds", prefix) >= (int) sizeof(subject)) goto bad;
    if (nchan_url) {
        if (parse_http_url(&http, nchan_url) != 0) goto bad;
        if (http_connect(&http) != 0) {
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot connect to the publisher\",\"url\":\"%s\"}\n", nchan_url);
            return 1;
        }
    } else if (pushpin_spec) {
        if (pushpin_open(&pushpin, pushpin_spec) != 0) {
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot open the ZeroMQ socket\",\"spec\":\"%s\",\"error\":\"%s\"}\n",
                    pushpin_spec, zmq_strerror(zmq_errno()));
            return 1;
        }
    } else {
        natsOptions *no = NULL;
        jsOptions    jo;
        natsStatus   s = natsOptions_Create(&no);
        if (s == NATS_OK) s = natsOptions_SetURL(no, nats_url);
        /* Without it the client's flusher thread holds each publish for a millisecond to
         * gather more, and that millisecond would count as the pipeline's latency. */
        if (s == NATS_OK) s = natsOptions_SetSendAsap(no, true);
        if (s == NATS_OK) s = natsConnection_Connect(&nc, no);
        natsOptions_Destroy(no);
        if (s == NATS_OK) s = jsOptions_Init(&jo);
        if (s == NATS_OK) {
            jo.PublishAsync.MaxPending = 65536;
            s = natsConnection_JetStream(&js, nc, &jo);
        }
        if (s != NATS_OK) {
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"NATS\",\"error\":\"%s\"}\n", natsStatus_GetText(s));
            jsCtx_Destroy(js);
            natsConnection_Destroy(nc);
            nats_Close();
            return 1;
        }
    }

    long long     sent = 0, errors = 0;
    http_counts_t hc = { 0, 0, 0 };
    int64_t   max_behind = 0;
    int64_t   t0 = wall_clock_us() + 1000;
    int64_t   deadline = t0 + (int64_t) (max_time * 1e6);
    char      msg[MSG_MAX], channels[256], fin[40], pt[16];

    for (long long i = 0; i < count && !stop_flag; i++) {
        const game_t *g = games[i % ngames];
        int64_t       due = t0 + (int64_t) ((double) i * 1e6 / rate);
        int           n;

        sleep_until_us(due);
        int64_t now = wall_clock_us();
        if (now > deadline) break;
        if (now - due > max_behind) max_behind = now - due;
        if (iso8601(fin, sizeof(fin), due) != 0) { errors++; continue; }
        point_of(i, pt, sizeof(pt));
        if (nats_url == NULL) {
            n = round_object(msg, sizeof(msg), start_id + i, g, fin, pt, due);
            if (n < 0) { errors++; continue; }
            if (pushpin_spec) {
                if (pushpin_publish(&pushpin, g, msg, (size_t) n, start_id + i) != 0) { errors++; continue; }
            } else {
                int cn = snprintf(channels, sizeof(channels), "game.%s,type.%s", g->slug, g->type);
                if (cn < 0 || (size_t) cn >= sizeof(channels)) { errors++; continue; }
                if (http_post(&http, channels, msg, n, &hc) != 0) continue;    /* in hc.errors */
            }
        } else {
            long long lsn = due * 4 + (i & 3);
            n = snprintf(msg, sizeof(msg),
                         "{\"before\":null,\"after\":{\"id\":%lld,\"game_id\":%d,\"finished_at\":\"%s\","
                         "\"extras\":\"{\\\"point\\\": \\\"%s\\\", \\\"bench_sent_us\\\": %lld}\"},"
                         "\"source\":{\"version\":\"3.4.2.Final\",\"connector\":\"postgresql\",\"name\":\"%s\","
                         "\"ts_ms\":%lld,\"snapshot\":\"false\",\"db\":\"datastream\",\"schema\":\"public\","
                         "\"table\":\"rounds\",\"txId\":%lld,\"lsn\":%lld,\"xmin\":null},"
                         "\"transaction\":null,\"op\":\"c\",\"ts_ms\":%lld}",
                         start_id + i, g->id, fin, pt, (long long) due, prefix, (long long) (due / 1000),
                         lsn / 16, lsn, (long long) (due / 1000));
            if (n < 0 || (size_t) n >= sizeof(msg)) { errors++; continue; }
            if (js_PublishAsync(js, subject, msg, n, NULL) != NATS_OK) { errors++; continue; }
        }
        sent++;
    }
    double secs = (double) (wall_clock_us() - t0) / 1e6;
    if (js != NULL) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 30000;
        if (js_PublishAsyncComplete(js, &po) != NATS_OK) errors++;
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        nats_Close();
    }
    if (http.fd >= 0) {
        if (http_collect(&http, 0, &hc) != 0) http_reset(&http, &hc);
        if (http.fd >= 0) (void) close(http.fd);
    }
    pushpin_close(&pushpin);
    errors += hc.errors;
    printf("{\"tool\":\"datastream-bench-pub\",\"target\":\"%s\",\"rate\":%.1f,\"sent\":%lld,\"errors\":%lld,"
           "\"nchan_201\":%lld,\"nchan_202\":%lld,\"seconds\":%.3f,\"achieved_rate\":%.1f,"
           "\"max_behind_us\":%lld,\"first_id\":%lld}\n",
           nchan_url ? "nchan" : pushpin_spec ? "pushpin" : "jetstream", rate, sent, errors, hc.delivered, hc.created, secs,
           secs > 0 ? (double) sent / secs : 0.0, (long long) max_behind, start_id);
    return errors ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}
