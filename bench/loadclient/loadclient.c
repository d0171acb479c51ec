/* datastream-loadclient: holds many WebSocket (RFC 6455) or Server-Sent Events
 * connections from one thread with epoll, takes the send time out of every
 * message it receives and prints one JSON line of results at the end.
 *
 * Send time: the first "bench_sent_us" number in the message (microseconds,
 * also found inside the escaped "extras" string); failing that the round's
 * "timestamp" (milliseconds). Messages sent before their connection was
 * established (nchan's "newest" first message, the SSE "initial" event) are
 * counted as stale and left out of the latency figures.
 *
 * For soaks: --renew opens again every connection that ends (an SSE stream
 * resumes with Last-Event-ID), --account checks each subscriber's rounds
 * against its channel (accounting.h), --stats-file keeps a snapshot of the
 * counts up to date while it runs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../wall_clock.h"

#include "accounting.h"
#include "hist.h"

#define MAX_PATHS        64
#define MAX_HEADERS      16
#define REQ_MAX          4096
#define BUF_INITIAL      4096
#define BUF_LIMIT        (1024 * 1024)
#define HEADER_LIMIT     16384
#define WS_GUID          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define EVENT_ID_MAX     64
#define RETRY_US         1000000   /* a connection that failed is tried again after this */

enum { MODE_WS, MODE_SSE };
enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef struct {
    const char *path;
    int         mode;
} target_t;

typedef struct {
    int       fd;
    int       state;
    int       mode;
    int       chunked;         /* SSE body with Transfer-Encoding: chunked */
    int64_t   chunk_left;      /* bytes left in the current chunk, -1 = size line next */
    size_t    decoded;         /* chunked: bytes at the front of buf already decoded */
    int64_t   open_us;         /* when the handshake completed */
    char     *buf;             /* unparsed input */
    size_t    len, cap;
    size_t    out_off;         /* request bytes already written */
    uint16_t  req_len;
    char      ws_accept[32];   /* expected Sec-WebSocket-Accept */
    /* SSE event under construction: its send time, round and type. */
    int       ev_has_data;
    int64_t   ev_sent_us;
    int       ev_ts_kind;
    long long ev_round_id;
    int       ev_initial;      /* event: initial, the channel's newest round before the stream */
    /* WebSocket fragmented message: send time and round from its first fragment. */
    int       frag_active;
    int64_t   frag_sent_us;
    int       frag_ts_kind;
    long long frag_round_id;
    const char *path;
} conn_t;

/* What outlives a connection when it is opened again (--renew). */
typedef struct {
    acct_sub_t  acct;
    char        last_event_id[EVENT_ID_MAX];
    int64_t     retry_at_us;   /* 0 = not waiting */
} slot_t;

typedef struct {
    const char *host;
    int         port;
    target_t    targets[MAX_PATHS];
    int         ntargets;
    const char *headers[MAX_HEADERS];
    int         nheaders;
    const char *protocol;
    const char *ready_file;
    long        connections;
    double      ramp;          /* connections per second, 0 = all at once */
    double      duration;      /* seconds of measurement after the ramp */
    double      max_time;      /* hard cap, whole run */
    double      idle_timeout;  /* stop after this long without a message (once one came) */
    long long   expect_total;  /* stop once this many fresh messages arrived */
    int         source_ips;    /* spread over 127.0.0.1..N to exceed one address's ports */
    int         default_mode;
    int         renew;
    int         account;
    const char *stats_file;
    const char *latency_log;
} opts_t;

static opts_t   o;
static conn_t  *conns;
static slot_t  *slots;
static acct_t   accounting;
static int      epfd = -1;
static hist_t   lat;
static FILE    *latency_log;   /* --latency-log: one line per timed message */
static volatile sig_atomic_t stop_flag;

static struct {
    long      started, open, connect_failures, handshake_failures, closed_early;
    long      renewals, reopened;
    long long messages, stale, no_timestamp, pings, bytes, deliveries;
    long long ts_micro, ts_milli;
    int64_t   first_rx_us, last_rx_us, ramp_done_us, start_us;
    char      first_error[160];
} st;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static void
note_error(const char *what, const char *detail)
{
    if (st.first_error[0] == '\0') {
        snprintf(st.first_error, sizeof(st.first_error), "%s%s%s", what,
                 detail ? ": " : "", detail ? detail : "");
    }
}

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-loadclient --port P --path PATH [options]\n"
        "\n"
        "  --host H            server address (default 127.0.0.1)\n"
        "  --port P            server port\n"
        "  --path [ws:|sse:]PATH  path to subscribe to; repeat for a mix (connections\n"
        "                      are spread round-robin over the paths)\n"
        "  --mode ws|sse       protocol of paths without a prefix (default ws)\n"
        "  -c, --connections N how many connections (default 100)\n"
        "  --ramp R            new connections per second (default 0 = as fast as possible)\n"
        "  --duration S        seconds to measure once every connection is up (default 10)\n"
        "  --max-time S        hard limit of the whole run (default duration + ramp + 60)\n"
        "  --expect-total N    stop as soon as N fresh messages arrived (all connections)\n"
        "  --idle-timeout S    stop S seconds after the last message (default off)\n"
        "  --protocol P        Sec-WebSocket-Protocol to offer (a token); must be echoed\n"
        "  --header 'K: V'     extra request header, repeatable (e.g. X-API-Key)\n"
        "  --ready-file F      create F when the ramp is done (publishers wait for it)\n"
        "  --source-ips N      bind connections to 127.0.0.1..127.0.0.N (>28k connections)\n"
        "  --renew             open again every connection that ends (SSE resumes with\n"
        "                      Last-Event-ID): a stream the server ends is a renewal,\n"
        "                      anything else a reopening, tried again after 1 s\n"
        "  --account           check each subscriber's round_ids against its channel:\n"
        "                      lost, repeated, missed by all (round ids contiguous over\n"
        "                      all paths together)\n"
        "  --stats-file F      rewrite F every second with the counts so far (one JSON line)\n"
        "  --latency-log F     write one line per timed message to F: receive time and\n"
        "                      latency (microseconds), connection index; for finding\n"
        "                      when the late ones came\n"
        "\n"
        "Prints one JSON line with counts, msgs/s and latency (microseconds).\n");
}

static int
parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return (errno || *end || end == s || *out < 0) ? -1 : 0;
}

static int
parse_long(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (errno || *end || end == s || *out < 0) ? -1 : 0;
}

static int
parse_args(int argc, char **argv)
{
    static const struct option options[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "path", required_argument, NULL, 'P' },
        { "mode", required_argument, NULL, 'm' },
        { "connections", required_argument, NULL, 'c' },
        { "ramp", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 'd' },
        { "max-time", required_argument, NULL, 'M' },
        { "expect-total", required_argument, NULL, 'e' },
        { "idle-timeout", required_argument, NULL, 'i' },
        { "protocol", required_argument, NULL, 'W' },
        { "header", required_argument, NULL, 'h' },
        { "ready-file", required_argument, NULL, 'R' },
        { "source-ips", required_argument, NULL, 's' },
        { "renew", no_argument, NULL, 'N' },
        { "account", no_argument, NULL, 'A' },
        { "stats-file", required_argument, NULL, 'S' },
        { "latency-log", required_argument, NULL, 'L' },
        { "help", no_argument, NULL, '?' + 256 },
        { NULL, 0, NULL, 0 }
    };
    const char *paths[MAX_PATHS];
    int         npaths = 0, opt;
    long long   n;

    o.host = "127.0.0.1";
    o.connections = 100;
    o.duration = 10;
    o.max_time = -1;
    o.source_ips = 1;
    o.default_mode = MODE_WS;

    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'H': o.host = optarg; break;
        case 'p': if (parse_long(optarg, &n) || n < 1 || n > 65535) return -1; o.port = (int) n; break;
        case 'P': if (npaths == MAX_PATHS) return -1; paths[npaths++] = optarg; break;
        case 'm':
            if (strcmp(optarg, "ws") == 0) o.default_mode = MODE_WS;
            else if (strcmp(optarg, "sse") == 0) o.default_mode = MODE_SSE;
            else return -1;
            break;
        case 'c': if (parse_long(optarg, &n) || n < 1 || n > 1000000) return -1; o.connections = (long) n; break;
        case 'r': if (parse_double(optarg, &o.ramp)) return -1; break;
        case 'd': if (parse_double(optarg, &o.duration)) return -1; break;
        case 'M': if (parse_double(optarg, &o.max_time)) return -1; break;
        case 'e': if (parse_long(optarg, &o.expect_total)) return -1; break;
        case 'i': if (parse_double(optarg, &o.idle_timeout)) return -1; break;
        case 'W': o.protocol = optarg; break;
        case 'h':
            if (o.nheaders == MAX_HEADERS || strchr(optarg, '\r') || strchr(optarg, '\n')) return -1;
            o.headers[o.nheaders++] = optarg;
            break;
        case 'R': o.ready_file = optarg; break;
        case 's': if (parse_long(optarg, &n) || n < 1 || n > 254) return -1; o.source_ips = (int) n; break;
        case 'N': o.renew = 1; break;
        case 'A': o.account = 1; break;
        case 'S': o.stats_file = optarg; break;
        case 'L': o.latency_log = optarg; break;
        case '?' + 256: usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (o.port == 0 || npaths == 0 || optind != argc) {
        return -1;
    }
    if (o.protocol && (strchr(o.protocol, '\r') || strchr(o.protocol, '\n'))) {
        return -1;
    }
    for (int i = 0; i < npaths; i++) {
        target_t *t = &o.targets[i];
        t->mode = o.default_mode;
        t->path = paths[i];
        if (strncmp(t->path, "ws:", 3) == 0) { t->mode = MODE_WS; t->path += 3; }
        else if (strncmp(t->path, "sse:", 4) == 0) { t->mode = MODE_SSE; t->path += 4; }
        if (t->path[0] != '/' || strlen(t->path) > 1024) {
            return -1;
        }
    }
    o.ntargets = npaths;
    if (o.max_time < 0) {
        o.max_time = o.duration + (o.ramp > 0 ? (double) o.connections / o.ramp : 0) + 60;
    }
    return 0;
}

static int
raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if ((long) rl.rlim_cur >= want) {
        return 0;
    }
    if ((long) rl.rlim_max < want) {
        rl.rlim_max = (rlim_t) want;       /* root may raise the hard limit */
    }
    rl.rlim_cur = (rlim_t) want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
            return -1;
        }
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || (long) rl.rlim_cur < want) {
            fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot raise RLIMIT_NOFILE\",\"want\":%ld,\"have\":%ld}\n",
                    want, (long) rl.rlim_cur);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ time extraction */

/* Returns 1 with *out in microseconds, or 0 when the message carries no send time. */
/* The number after the first occurrence of key in [p, p+len): 1 when found. */
static int
extract_number(const char *p, size_t len, const char *key, size_t klen, int64_t *out)
{
    const char *hit, *end = p + len;
    int64_t     v = 0;
    int         digits = 0;

    hit = memmem(p, len, key, klen);
    if (hit == NULL) {
        return 0;
    }
    hit += klen;
    /* Skip the closing quote (maybe escaped), colon and blanks. */
    for (int skipped = 0; hit < end && skipped < 8 && (*hit == '\\' || *hit == '"' || *hit == ':' || *hit == ' ');
         hit++, skipped++)
    {
    }
    for (; hit < end && *hit >= '0' && *hit <= '9' && digits < 18; hit++, digits++) {
        v = v * 10 + (*hit - '0');
    }
    if (digits == 0) {
        return 0;
    }
    *out = v;
    return 1;
}

static int
extract_sent_us(const char *p, size_t len, int64_t *out, int *kind)
{
    static const char k_us[] = "bench_sent_us";
    static const char k_ms[] = "\"timestamp\"";
    int64_t           v;

    if (extract_number(p, len, k_us, sizeof(k_us) - 1, &v)) {
        *kind = 1;
        *out = v;
        return 1;
    }
    if (extract_number(p, len, k_ms, sizeof(k_ms) - 1, &v)) {
        *kind = 2;
        *out = v * 1000;
        return 1;
    }
    return 0;
}

static long long
extract_round_id(const char *p, size_t len)
{
    static const char k_id[] = "\"round_id\"";
    int64_t           v;

    return (o.account && extract_number(p, len, k_id, sizeof(k_id) - 1, &v)) ? (long long) v : 0;
}

static void
record_message(conn_t *c, long long round_id, int has_ts, int64_t sent_us, int kind)
{
    int64_t now = wall_clock_us();

    st.deliveries++;
    if (round_id > 0 && acct_round(&accounting, &slots[c - conns].acct, round_id) != 0) {
        note_error("accounting", "out of memory");
    }
    if (!has_ts) {
        st.no_timestamp++;
        return;
    }
    /* Anything sent before the subscriber existed is replayed history. */
    if (sent_us < c->open_us - (kind == 2 ? 1000 : 0)) {
        st.stale++;
        return;
    }
    if (st.messages == 0) {
        st.first_rx_us = now;
    }
    st.last_rx_us = now;
    st.messages++;
    if (kind == 1) st.ts_micro++; else st.ts_milli++;
    hist_add(&lat, now - sent_us);
    if (latency_log && fprintf(latency_log, "%lld %lld %ld\n", (long long) now, (long long) (now - sent_us),
                               (long) (c - conns)) < 0) {
        note_error("cannot write latency log", o.latency_log);
        (void) fclose(latency_log);
        latency_log = NULL;
    }
}

/* ------------------------------------------------------------------ connections */

static void
conn_close(conn_t *c, int early)
{
    if (c->fd >= 0) {
        if (epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0 && errno != EBADF && errno != ENOENT) {
            note_error("epoll_ctl del", strerror(errno));
        }
        (void) close(c->fd);
        c->fd = -1;
    }
    if (c->state == ST_OPEN) {
        st.open--;
        if (early) {
            st.closed_early++;
        }
    }
    c->state = ST_CLOSED;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

/* --renew: open the connection again at (now + delay). */
static void
conn_retry(conn_t *c, int64_t delay_us)
{
    if (o.renew) {
        slots[c - conns].retry_at_us = wall_clock_us() + delay_us;
    }
}

static void
conn_fail(conn_t *c, int handshake, const char *why)
{
    note_error(why, NULL);
    if (handshake) st.handshake_failures++; else st.connect_failures++;
    conn_close(c, 0);
    conn_retry(c, RETRY_US);
}

static int
base64(const unsigned char *in, int len, char *out, size_t cap)
{
    if ((size_t) (4 * ((len + 2) / 3) + 1) > cap) {
        return -1;
    }
    return EVP_EncodeBlock((unsigned char *) out, in, len);
}

static int
build_request(conn_t *c, const target_t *t)
{
    char  req[REQ_MAX];
    int   n;
    size_t off;

    if (t->mode == MODE_WS) {
        unsigned char raw[16], digest[SHA_DIGEST_LENGTH];
        char          key[32], cat[64];

        if (RAND_bytes(raw, sizeof(raw)) != 1 || base64(raw, sizeof(raw), key, sizeof(key)) < 0) {
            return -1;
        }
        n = snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);
        if (n < 0 || (size_t) n >= sizeof(cat)) {
            return -1;
        }
        SHA1((const unsigned char *) cat, (size_t) n, digest);
        if (base64(digest, sizeof(digest), c->ws_accept, sizeof(c->ws_accept)) < 0) {
            return -1;
        }
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s",
                     t->path, o.host, o.port, key,
                     o.protocol ? "Sec-WebSocket-Protocol: " : "", o.protocol ? o.protocol : "",
                     o.protocol ? "\r\n" : "");
    } else {
        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                     "Cache-Control: no-cache\r\n",
                     t->path, o.host, o.port);
    }
    if (n < 0 || (size_t) n >= sizeof(req)) {
        return -1;
    }
    off = (size_t) n;
    if (t->mode == MODE_SSE && slots[c - conns].last_event_id[0] != '\0') {
        n = snprintf(req + off, sizeof(req) - off, "Last-Event-ID: %s\r\n", slots[c - conns].last_event_id);
        if (n < 0 || (size_t) n >= sizeof(req) - off) {
            return -1;
        }
        off += (size_t) n;
    }
    for (int i = 0; i < o.nheaders; i++) {
        n = snprintf(req + off, sizeof(req) - off, "%s\r\n", o.headers[i]);
        if (n < 0 || (size_t) n >= sizeof(req) - off) {
            return -1;
        }
        off += (size_t) n;
    }
    n = snprintf(req + off, sizeof(req) - off, "\r\n");
    if (n < 0 || (size_t) n >= sizeof(req) - off) {
        return -1;
    }
    off += (size_t) n;
    if (off > UINT16_MAX || off > BUF_INITIAL) {
        return -1;
    }
    /* The buffer holds the request until it is sent, then the input. */
    memcpy(c->buf, req, off);
    c->req_len = (uint16_t) off;
    c->out_off = 0;
    return 0;
}

/* reopen: the connection existed before and ended (--renew). */
static void
conn_start(long idx, int reopen)
{
    conn_t             *c = &conns[idx];
    const target_t     *t = &o.targets[idx % o.ntargets];
    struct sockaddr_in  sa;
    struct epoll_event  ev;
    int                 one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->mode = t->mode;
    c->path = t->path;
    c->chunk_left = -1;
    slots[idx].retry_at_us = 0;
    if (reopen) {
        st.reopened++;
    } else {
        st.started++;
    }
    c->buf = malloc(BUF_INITIAL);
    if (c->buf == NULL) {
        conn_fail(c, 0, "out of memory");
        return;
    }
    c->cap = BUF_INITIAL;
    if (build_request(c, t) != 0) {
        conn_fail(c, 0, "request too long");
        return;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, 0, strerror(errno));
        return;
    }
    if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        conn_fail(c, 0, strerror(errno));
        return;
    }
    if (o.source_ips > 1) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t) (idx % o.source_ips));
        if (bind(c->fd, (struct sockaddr *) &src, sizeof(src)) != 0) {
            conn_fail(c, 0, strerror(errno));
            return;
        }
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) o.port);
    if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) {
        conn_fail(c, 0, "bad host address");
        return;
    }
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        conn_fail(c, 0, strerror(errno));
        return;
    }
    c->state = ST_CONNECTING;
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u64 = (uint64_t) idx;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        conn_fail(c, 0, strerror(errno));
    }
}

static int
send_all(conn_t *c, const unsigned char *p, size_t len)
{
    /* Control frames are tiny; a short write on an open socket is treated
     * as a failure rather than queued. */
    ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
    return (w == (ssize_t) len) ? 0 : -1;
}

static int
ws_send_control(conn_t *c, int opcode, const unsigned char *payload, size_t plen)
{
    unsigned char frame[2 + 4 + 125];
    unsigned char mask[4];

    if (plen > 125 || RAND_bytes(mask, 4) != 1) {
        return -1;
    }
    frame[0] = (unsigned char) (0x80 | opcode);
    frame[1] = (unsigned char) (0x80 | plen);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < plen; i++) {
        frame[6 + i] = payload[i] ^ mask[i % 4];
    }
    return send_all(c, frame, 6 + plen);
}

/* Consumes complete frames from the buffer; returns -1 to close. */
static int
ws_parse(conn_t *c)
{
    size_t pos = 0;

    while (c->len - pos >= 2) {
        unsigned char *f = (unsigned char *) c->buf + pos;
        int            fin = f[0] & 0x80, opcode = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t       plen = f[1] & 0x7f;
        size_t         hdr = 2;

        if (plen == 126) {
            if (c->len - pos < 4) break;
            plen = ((uint64_t) f[2] << 8) | f[3];
            hdr = 4;
        } else if (plen == 127) {
            if (c->len - pos < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = (plen << 8) | f[2 + i];
            hdr = 10;
        }
        if (masked) hdr += 4;   /* servers must not mask; tolerate it for control frames only */
        if (plen > BUF_LIMIT) {
            note_error("websocket frame too large", NULL);
            return -1;
        }
        if (c->len - pos < hdr + plen) {
            if (hdr + plen > c->cap) {
                char *nb = realloc(c->buf, hdr + plen);
                if (nb == NULL) return -1;
                c->buf = nb;
                c->cap = hdr + plen;
            }
            break;
        }
        const char *payload = c->buf + pos + hdr;
        int64_t     sent = 0;
        int         kind = 0, has;

        switch (opcode) {
        case 0x1: case 0x2: case 0x0:
            if (masked) {
                note_error("masked data frame from server", NULL);
                return -1;
            }
            if (opcode != 0 || !c->frag_active) {
                has = extract_sent_us(payload, (size_t) plen, &sent, &kind);
                c->frag_active = 1;
                c->frag_sent_us = has ? sent : -1;
                c->frag_ts_kind = kind;
                c->frag_round_id = extract_round_id(payload, (size_t) plen);
            }
            if (fin) {
                c->frag_active = 0;
                record_message(c, c->frag_round_id, c->frag_sent_us >= 0, c->frag_sent_us, c->frag_ts_kind);
            }
            break;
        case 0x8:
            (void) ws_send_control(c, 0x8, NULL, 0);
            note_error("server closed the websocket", NULL);
            return -1;
        case 0x9:
            st.pings++;
            if (masked || ws_send_control(c, 0xA, (const unsigned char *) payload, (size_t) plen) != 0) {
                return -1;
            }
            break;
        default:
            break;
        }
        pos += hdr + (size_t) plen;
    }
    if (pos > 0) {
        memmove(c->buf, c->buf + pos, c->len - pos);
        c->len -= pos;
    }
    return 0;
}

/* The value of an SSE line "<field>:[ ]<value>" of length ll, or NULL for another field. */
static const char *
sse_field(const char *line, size_t ll, const char *field, size_t *vl)
{
    size_t fl = strlen(field);

    if (ll < fl + 1 || memcmp(line, field, fl) != 0 || line[fl] != ':') {
        return NULL;
    }
    line += fl + 1;
    *vl = ll - fl - 1;
    if (*vl > 0 && *line == ' ') {
        line++;
        (*vl)--;
    }
    return line;
}

/* Parses SSE lines in [p, p+len); returns bytes consumed. */
static size_t
sse_lines(conn_t *c, const char *p, size_t len)
{
    size_t pos = 0;

    for (;;) {
        const char *nl = memchr(p + pos, '\n', len - pos);
        const char *v;
        size_t      ll, vl;

        if (nl == NULL) break;
        ll = (size_t) (nl - (p + pos));
        if (ll > 0 && p[pos + ll - 1] == '\r') ll--;
        if (ll == 0) {
            if (c->ev_has_data) {
                /* The initial event repeats a round from before the stream: not the channel's sequence. */
                record_message(c, c->ev_initial ? 0 : c->ev_round_id, c->ev_sent_us >= 0, c->ev_sent_us,
                               c->ev_ts_kind);
            }
            c->ev_has_data = 0;
            c->ev_initial = 0;
        } else if ((v = sse_field(p + pos, ll, "data", &vl)) != NULL) {
            int64_t sent;
            int     kind;
            if (!c->ev_has_data) {
                c->ev_sent_us = -1;
                c->ev_round_id = 0;
            }
            if (c->ev_sent_us < 0 && extract_sent_us(v, vl, &sent, &kind)) {
                c->ev_sent_us = sent;
                c->ev_ts_kind = kind;
            }
            if (c->ev_round_id == 0) {
                c->ev_round_id = extract_round_id(v, vl);
            }
            c->ev_has_data = 1;
        } else if ((v = sse_field(p + pos, ll, "id", &vl)) != NULL) {
            if (vl < EVENT_ID_MAX) {
                memcpy(slots[c - conns].last_event_id, v, vl);
                slots[c - conns].last_event_id[vl] = '\0';
            } else {
                note_error("SSE id too long to resume from", NULL);
            }
        } else if ((v = sse_field(p + pos, ll, "event", &vl)) != NULL) {
            c->ev_initial = vl == 7 && memcmp(v, "initial", 7) == 0;
        } else if (p[pos] == ':') {
            st.pings++;
        }
        pos = (size_t) (nl - p) + 1;
    }
    return pos;
}

/* Removes chunked framing in place: buf[0, decoded) is body already decoded,
 * the rest is raw input. Afterwards buf[0, *body_len) is decoded body and the
 * raw remainder (an incomplete size line) follows it. -1 on a bad stream, 1
 * at its last chunk (what came before it is decoded). */
static int
dechunk(conn_t *c, size_t *body_len)
{
    size_t in = c->decoded, out = c->decoded;
    int    ended = 0;

    while (in < c->len && !ended) {
        if (c->chunk_left < 0) {
            char *nl = memchr(c->buf + in, '\n', c->len - in);
            char *end;
            if (nl == NULL) {
                if (c->len - in > 64) return -1;
                break;
            }
            errno = 0;
            c->chunk_left = strtoll(c->buf + in, &end, 16);
            if (errno || end == c->buf + in || c->chunk_left < 0) return -1;
            in = (size_t) (nl - c->buf) + 1;
            if (c->chunk_left == 0) {                  /* last chunk */
                ended = 1;
                break;
            }
            c->chunk_left += 2;                        /* data + CRLF */
        } else {
            size_t take = c->len - in;
            size_t data_left = c->chunk_left > 2 ? (size_t) c->chunk_left - 2 : 0;
            if (take > (size_t) c->chunk_left) take = (size_t) c->chunk_left;
            size_t data = take < data_left ? take : data_left;
            memmove(c->buf + out, c->buf + in, data);
            out += data;
            in += take;
            c->chunk_left -= (int64_t) take;
            if (c->chunk_left == 0) c->chunk_left = -1;
        }
    }
    memmove(c->buf + out, c->buf + in, c->len - in);
    *body_len = out;
    c->len = out + (c->len - in);
    return ended;
}

/* 0, -1 on a bad stream, 1 when the server ended the stream. */
static int
sse_parse(conn_t *c)
{
    size_t body, consumed;
    int    ended;

    if (!c->chunked) {
        consumed = sse_lines(c, c->buf, c->len);
        memmove(c->buf, c->buf + consumed, c->len - consumed);
        c->len -= consumed;
        return 0;
    }
    ended = dechunk(c, &body);
    if (ended < 0) {
        note_error("bad chunked stream", NULL);
        return -1;
    }
    consumed = sse_lines(c, c->buf, body);
    memmove(c->buf, c->buf + consumed, c->len - consumed);
    c->len -= consumed;
    c->decoded = body - consumed;       /* an unfinished line stays decoded */
    return ended;
}

static void
maybe_ready(void)
{
    if (st.ramp_done_us == 0 && st.started == o.connections
        && st.open + st.connect_failures + st.handshake_failures + st.closed_early >= o.connections)
    {
        st.ramp_done_us = wall_clock_us();
        if (o.ready_file) {
            FILE *f = fopen(o.ready_file, "w");
            if (f == NULL || fprintf(f, "%ld\n", st.open) < 0 || fclose(f) != 0) {
                note_error("cannot write ready file", o.ready_file);
            }
        }
        fprintf(stderr, "{\"level\":\"info\",\"msg\":\"ramp done\",\"open\":%ld,\"failed\":%ld,\"seconds\":%.2f}\n",
                st.open, st.connect_failures + st.handshake_failures,
                (double) (st.ramp_done_us - st.start_us) / 1e6);
    }
}

static int
handle_handshake(conn_t *c)
{
    char  *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    size_t hlen;
    int    status = 0;

    if (end == NULL) {
        return c->len > HEADER_LIMIT ? -1 : 1;
    }
    hlen = (size_t) (end - c->buf) + 4;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    /* Header values are checked on a NUL-terminated copy. */
    char *h = malloc(hlen + 1);
    if (h == NULL) return -1;
    memcpy(h, c->buf, hlen);
    h[hlen] = '\0';
    int ok;
    if (c->mode == MODE_WS) {
        char *acc = strcasestr(h, "\r\nsec-websocket-accept:");
        ok = status == 101 && acc != NULL;
        if (ok) {
            acc += 23;
            while (*acc == ' ') acc++;
            ok = strncmp(acc, c->ws_accept, strlen(c->ws_accept)) == 0;
        }
        if (ok && o.protocol) {
            char *pr = strcasestr(h, "\r\nsec-websocket-protocol:");
            ok = pr != NULL;
            if (ok) {
                pr += 25;
                while (*pr == ' ') pr++;
                ok = strncmp(pr, o.protocol, strlen(o.protocol)) == 0;
            }
        }
    } else {
        ok = status == 200;
        c->chunked = strcasestr(h, "\r\ntransfer-encoding: chunked") != NULL;
    }
    if (!ok) {
        char why[96];
        snprintf(why, sizeof(why), "handshake answered %d on %.40s", status, c->path);
        note_error(why, NULL);
    }
    free(h);
    if (!ok) {
        return -1;
    }
    memmove(c->buf, c->buf + hlen, c->len - hlen);
    c->len -= hlen;
    c->state = ST_OPEN;
    c->open_us = wall_clock_us();
    st.open++;
    return 0;
}

static void
on_event(long idx, uint32_t events)
{
    conn_t *c = &conns[idx];

    if (c->state == ST_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
                conn_fail(c, 0, strerror(err ? err : errno));
                return;
            }
            ssize_t w = send(c->fd, c->buf + c->out_off, c->req_len - c->out_off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN) return;
                conn_fail(c, 0, strerror(errno));
                return;
            }
            c->out_off += (size_t) w;
            if (c->out_off < c->req_len) return;
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t) idx };
            if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
                conn_fail(c, 0, strerror(errno));
                return;
            }
            c->state = ST_HANDSHAKE;
            c->len = 0;
        }
        return;
    }
    if (c->state != ST_HANDSHAKE && c->state != ST_OPEN) {
        return;
    }
    for (int rounds = 0; rounds < 4; rounds++) {
        if (c->len == c->cap) {
            size_t ncap = c->cap * 2;
            char  *nb;
            if (ncap > BUF_LIMIT || (nb = realloc(c->buf, ncap)) == NULL) {
                note_error("input buffer limit", NULL);
                conn_close(c, 1);
                return;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            int was_open = c->state == ST_OPEN;
            if (!was_open) {
                conn_fail(c, 1, r == 0 ? "closed during handshake" : strerror(errno));
            } else if (r == 0 && c->mode == MODE_SSE && o.renew) {
                /* A stream without chunked framing ends with the connection; EventSource resumes. */
                st.renewals++;
                conn_close(c, 0);
                conn_retry(c, 0);
            } else {
                note_error("server closed the connection", c->path);
                conn_close(c, 1);
                conn_retry(c, RETRY_US);
            }
            return;
        }
        if (r < 0) {
            return;
        }
        st.bytes += r;
        c->len += (size_t) r;
        if (c->state == ST_HANDSHAKE) {
            int h = handle_handshake(c);
            if (h < 0) {
                conn_fail(c, 1, "handshake refused");
                return;
            }
            if (h > 0) continue;
        }
        int parsed = c->mode == MODE_WS ? ws_parse(c) : sse_parse(c);
        if (parsed > 0 && o.renew) {
            /* The server ended the stream: resume at once, as EventSource does. */
            st.renewals++;
            conn_close(c, 0);
            conn_retry(c, 0);
            return;
        }
        if (parsed != 0) {
            if (parsed > 0) note_error("server ended the stream", c->path);
            conn_close(c, 1);
            conn_retry(c, RETRY_US);
            return;
        }
        if ((size_t) r < c->cap) {
            return;
        }
    }
}

typedef struct {
    long long  lost, repeated, missed_by_all;
    long       subscribers;    /* with at least one round */
} totals_t;

static totals_t
account_totals(void)
{
    totals_t t = { 0, 0, 0, 0 };

    if (!o.account) {
        return t;
    }
    for (long i = 0; i < o.connections; i++) {
        t.lost += acct_lost(&accounting, &slots[i].acct);
        t.repeated += slots[i].acct.repeated;
        t.subscribers += slots[i].acct.first != 0;
    }
    t.missed_by_all = acct_missed_by_all(&accounting);
    return t;
}

/* The counts of print_results() that change while running, as one JSON object. */
static int
print_counts(FILE *f)
{
    totals_t t = account_totals();

    return fprintf(f, "\"open\":%ld,\"renewals\":%ld,\"reopened\":%ld,\"connect_failures\":%ld,"
                      "\"handshake_failures\":%ld,\"closed_early\":%ld,\"deliveries\":%lld,"
                      "\"accounted_subscribers\":%ld,\"lost\":%lld,\"repeated\":%lld,\"missed_by_all\":%lld,"
                      "\"outside_window\":%lld",
                   st.open, st.renewals, st.reopened, st.connect_failures, st.handshake_failures,
                   st.closed_early, st.deliveries, t.subscribers, t.lost, t.repeated, t.missed_by_all,
                   accounting.outside);
}

static void
write_stats(void)
{
    char  tmp[1100];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", o.stats_file) >= (int) sizeof(tmp)) {
        note_error("stats file name too long", NULL);
        return;
    }
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "{\"t_s\":%.1f,", (double) (wall_clock_us() - st.start_us) / 1e6) < 0
        || print_counts(f) < 0 || fprintf(f, "}\n") < 0)
    {
        note_error("cannot write stats file", o.stats_file);
        if (f != NULL) (void) fclose(f);
        return;
    }
    if (fclose(f) != 0 || rename(tmp, o.stats_file) != 0) {
        note_error("cannot write stats file", o.stats_file);
    }
}

static int
print_results(void)
{
    struct rusage ru;
    int64_t       end = wall_clock_us();
    double        span = st.messages > 1 ? (double) (st.last_rx_us - st.first_rx_us) / 1e6 : 0;
    double        ramp = st.ramp_done_us ? (double) (st.ramp_done_us - st.start_us) / 1e6 : -1;
    double        measured = st.ramp_done_us ? (double) (end - st.ramp_done_us) / 1e6 : 0;
    long          rss = 0;

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        rss = ru.ru_maxrss;
    }
    printf("{\"tool\":\"datastream-loadclient\",\"connections\":%ld,\"open_at_end\":%ld,"
           "\"connect_failures\":%ld,\"handshake_failures\":%ld,\"closed_early\":%ld,"
           "\"ramp_s\":%.3f,\"measured_s\":%.3f,\"messages\":%lld,\"stale_messages\":%lld,"
           "\"no_timestamp\":%lld,\"ts_bench_sent_us\":%lld,\"ts_timestamp_ms\":%lld,"
           "\"pings\":%lld,\"bytes\":%lld,\"span_s\":%.3f,\"msgs_per_s\":%.1f,"
           "\"latency_us\":{\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"p999\":%lld,\"max\":%lld,\"mean\":%.1f},"
           "\"client_cpu_s\":%.3f,\"client_rss_kb\":%ld,",
           o.connections, st.open, st.connect_failures, st.handshake_failures, st.closed_early,
           ramp, measured, st.messages, st.stale, st.no_timestamp, st.ts_micro, st.ts_milli,
           st.pings, st.bytes, span, span > 0 ? (double) st.messages / span : 0.0,
           (long long) hist_percentile(&lat, 50), (long long) hist_percentile(&lat, 90),
           (long long) hist_percentile(&lat, 99), (long long) hist_percentile(&lat, 99.9),
           (long long) (lat.total ? lat.max : 0), lat.total ? lat.sum / (double) lat.total : 0.0,
           (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
               + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           rss);
    if (print_counts(stdout) < 0) {
        return -1;
    }
    printf(",\"first_error\":\"");
    for (const char *p = st.first_error; *p; p++) {
        if (*p == '"' || *p == '\\') putchar('\\');
        putchar((unsigned char) *p < 0x20 ? ' ' : *p);
    }
    printf("\"}\n");
    return (fflush(stdout) != 0 || ferror(stdout)) ? -1 : 0;
}

int
main(int argc, char **argv)
{
    struct epoll_event *events;
    long                next = 0;
    int                 maxev = 1024;

    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (raise_nofile(o.connections + 64) != 0) {
        return 1;
    }
    if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR
        || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
    {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"signal handlers\"}\n");
        return 1;
    }
    hist_init(&lat);
    acct_init(&accounting);
    conns = calloc((size_t) o.connections, sizeof(*conns));
    slots = calloc((size_t) o.connections, sizeof(*slots));
    events = calloc((size_t) maxev, sizeof(*events));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (o.latency_log) {
        latency_log = fopen(o.latency_log, "w");
    }
    if (conns == NULL || slots == NULL || events == NULL || epfd < 0 || (o.latency_log && !latency_log)) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"setup failed\"}\n");
        if (latency_log) (void) fclose(latency_log);
        if (epfd >= 0) (void) close(epfd);
        free(conns);
        free(slots);
        free(events);
        return 1;
    }
    for (long i = 0; i < o.connections; i++) {
        conns[i].fd = -1;
        slots[i].acct.channel = o.account ? acct_channel(&accounting, o.targets[i % o.ntargets].path) : -1;
    }
    st.start_us = wall_clock_us();
    int64_t stats_at = st.start_us;

    while (!stop_flag) {
        int64_t now = wall_clock_us();
        double  elapsed = (double) (now - st.start_us) / 1e6;

        /* Ramp: start whatever is due, at most 1000 per loop so the loop stays responsive. */
        long due = o.ramp > 0 ? (long) (elapsed * o.ramp) + 1 : o.connections;
        if (due > o.connections) due = o.connections;
        for (int burst = 0; next < due && burst < 1000; burst++) {
            conn_start(next++, 0);
        }
        if (o.renew) {
            int burst = 0;
            for (long i = 0; i < next && burst < 1000; i++) {
                if (conns[i].state == ST_CLOSED && slots[i].retry_at_us != 0 && slots[i].retry_at_us <= now) {
                    conn_start(i, 1);
                    burst++;
                }
            }
        }
        maybe_ready();
        if (o.stats_file && now >= stats_at) {
            write_stats();
            stats_at = now + 1000000;
        }

        if (elapsed > o.max_time) break;
        if (st.ramp_done_us && (double) (now - st.ramp_done_us) / 1e6 >= o.duration) break;
        if (o.expect_total > 0 && st.messages >= o.expect_total) break;
        if (o.idle_timeout > 0 && st.messages > 0 && (double) (now - st.last_rx_us) / 1e6 > o.idle_timeout) break;
        if (st.ramp_done_us && st.open == 0 && !o.renew) break;

        int n = epoll_wait(epfd, events, maxev, next < o.connections ? 1 : 20);
        if (n < 0) {
            if (errno == EINTR) continue;
            note_error("epoll_wait", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            on_event((long) events[i].data.u64, events[i].events);
        }
    }
    if (latency_log && fclose(latency_log) != 0) {
        note_error("cannot write latency log", o.latency_log);
    }
    latency_log = NULL;
    int rc = print_results() == 0 ? 0 : 1;
    for (long i = 0; i < o.connections; i++) {
        if (conns[i].state != ST_FREE && conns[i].state != ST_CLOSED) {
            conn_close(&conns[i], 0);
        } else {
            free(conns[i].buf);
        }
    }
    if (o.stats_file) {
        write_stats();
    }
    (void) close(epfd);
    acct_free(&accounting);
    free(conns);
    free(slots);
    free(events);
    return rc;
}
