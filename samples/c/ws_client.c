/*
 * Data Stream WebSocket subscriber in C: plain POSIX sockets, OpenSSL's
 * libcrypto only for the SHA-1 of the handshake check.
 *
 *   DATASTREAM_API_KEY=sk_live_... ./ws_client [crash | type/multiplier]
 *
 * Prints every round object on stdout, one JSON line each; connection events
 * go to stderr. Environment:
 *   DATASTREAM_API_KEY  key that mints tokens (required)
 *   DATASTREAM_URL      http://host[:port] of the backend [http://localhost:3000]
 *
 * Plain http:// only, to keep the sample short: in production put it behind
 * a TLS terminator, or use a WebSocket library that speaks TLS.
 */
#define _GNU_SOURCE             /* ppoll */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define HOST_MAX        256
#define PORT_MAX        8
#define CHANNEL_MAX     160
#define TOKEN_MAX       512
#define HEAD_MAX        16384
#define MESSAGE_MAX     (1 << 20)
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS  15000
/* The server pings every 20 s; a longer silence means a dead path. */
#define IDLE_TIMEOUT_S  60

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum { OK = 0, RETRY = -1, FATAL = -2 };

static volatile sig_atomic_t stop_requested;

/*
 * SIGINT and SIGTERM stay blocked except inside ppoll(), which unblocks them
 * atomically while it waits: a signal can then never slip in between "check
 * the stop flag" and "block in recv()" and leave us waiting for the next frame.
 */
static sigset_t wait_mask;

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

/* Waits until fd is readable. -1: stop requested, idle timeout or error. */
static int
wait_readable(int fd)
{
    struct pollfd   pfd = { .fd = fd, .events = POLLIN };
    struct timespec ts = { .tv_sec = IDLE_TIMEOUT_S };
    int             n;

    if (stop_requested) {
        return -1;
    }
    n = ppoll(&pfd, 1, &ts, &wait_mask);
    if (n == 0) {
        errno = ETIMEDOUT;
    }
    return n > 0 && !stop_requested ? 0 : -1;
}

static void
log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_msg(const char *fmt, ...)
{
    char       stamp[32];
    time_t     now = time(NULL);
    struct tm  tm;
    va_list    ap;

    if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        stamp[0] = '\0';
    }
    fprintf(stderr, "%s ", stamp);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------ sockets */

static int
parse_url(const char *url, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *p, *end, *colon;
    size_t      n;

    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }
    p = url + 7;
    end = p + strcspn(p, "/");
    colon = memchr(p, ':', (size_t) (end - p));
    n = (size_t) ((colon ? colon : end) - p);
    if (n == 0 || n >= host_cap) {
        return -1;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    if (colon) {
        n = (size_t) (end - colon - 1);
        if (n == 0 || n >= port_cap || strspn(colon + 1, "0123456789") < n) {
            return -1;
        }
        memcpy(port, colon + 1, n);
        port[n] = '\0';
    } else if (snprintf(port, port_cap, "80") >= (int) port_cap) {
        return -1;
    }
    return 0;
}

static int
tcp_connect(const char *host, const char *port)
{
    struct addrinfo  hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res, *ai;
    struct timeval   tv = { .tv_sec = IDLE_TIMEOUT_S };
    int              fd = -1, rc;

    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        log_msg("resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        /* A receive timeout turns a silently dropped connection into an error. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0
            && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0
            && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        log_msg("connect %s:%s: %s", host, port, strerror(errno));
    }
    return fd;
}

static int
send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR && !stop_requested) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Reads until the end of the HTTP head; bytes after it stay in buf (*got). */
static int
read_head(int fd, char *buf, size_t cap, size_t *head_len, size_t *got)
{
    char *end;

    *got = 0;
    for (;;) {
        ssize_t n;

        if (*got + 1 >= cap) {
            return -1;
        }
        if (wait_readable(fd) != 0) {
            return -1;
        }
        n = recv(fd, buf + *got, cap - 1 - *got, 0);
        if (n <= 0) {
            return -1;
        }
        *got += (size_t) n;
        buf[*got] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
            *head_len = (size_t) (end - buf) + 4;
            return 0;
        }
    }
}

static int
http_status(const char *head)
{
    int status;

    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        return -1;
    }
    return status;
}

/* Value of a response header, compared case-insensitively, within the head only. */
static int
header_value(const char *head, size_t head_len, const char *name, char *out, size_t cap)
{
    size_t      nlen = strlen(name);
    const char *p = head, *end = head + head_len;

    while ((p = memchr(p, '\n', (size_t) (end - p))) != NULL) {
        const char *v, *eol;
        size_t      vlen;

        p++;
        if ((size_t) (end - p) <= nlen || strncasecmp(p, name, nlen) != 0 || p[nlen] != ':') {
            continue;
        }
        v = p + nlen + 1;
        while (v < end && (*v == ' ' || *v == '\t')) {
            v++;
        }
        eol = memchr(v, '\r', (size_t) (end - v));
        if (eol == NULL) {
            return -1;
        }
        vlen = (size_t) (eol - v);
        if (vlen >= cap) {
            return -1;
        }
        memcpy(out, v, vlen);
        out[vlen] = '\0';
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------ token */

/*
 * A token is valid for 30 s and is checked only at the handshake: each
 * connection asks for a fresh one, so a reconnect after a long outage works.
 */
static int
fetch_token(const char *host, const char *port, const char *api_key, char *token, size_t cap)
{
    char        req[1024];
    static char resp[HEAD_MAX];
    size_t      got = 0;
    int         fd, status, n;
    const char *t;
    size_t      tlen;

    n = snprintf(req, sizeof(req),
                 "POST /api/auth/token HTTP/1.1\r\nHost: %s:%s\r\nX-API-Key: %s\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n", host, port, api_key);
    if (n < 0 || (size_t) n >= sizeof(req)) {
        log_msg("API key too long");
        return FATAL;
    }
    if ((fd = tcp_connect(host, port)) < 0) {
        return RETRY;
    }
    if (send_all(fd, req, (size_t) n) != 0) {
        close(fd);
        return RETRY;
    }
    /* Connection: close, so the answer ends at EOF. */
    for (;;) {
        ssize_t r;

        if (wait_readable(fd) != 0 || (r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) < 0) {
            close(fd);
            return RETRY;
        }
        if (r == 0 || (got += (size_t) r) >= sizeof(resp) - 1) {
            break;
        }
    }
    close(fd);
    resp[got] = '\0';

    status = http_status(resp);
    if (status == 401 || status == 403) {
        /* A revoked or mistyped key does not get better by retrying. */
        log_msg("token refused (%d): %.200s", status, strstr(resp, "\r\n\r\n") ? strstr(resp, "\r\n\r\n") + 4 : "");
        return FATAL;
    }
    /*
     * The body is small JSON; looking for the one field we need avoids a JSON
     * library here. A real client would parse it (jansson, cJSON, ...).
     */
    if (status != 200 || (t = strstr(resp, "\"token\":\"")) == NULL) {
        log_msg("token request failed (HTTP %d)", status);
        return RETRY;
    }
    t += strlen("\"token\":\"");
    tlen = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.");
    if (tlen == 0 || tlen >= cap || t[tlen] != '"') {
        log_msg("malformed token answer");
        return RETRY;
    }
    memcpy(token, t, tlen);
    token[tlen] = '\0';
    return OK;
}

/* ------------------------------------------------------------ WebSocket */

typedef struct {
    int    fd;
    char   buf[HEAD_MAX];   /* bytes read past the handshake, then frame headers */
    size_t start, end;
} ws_conn_t;

static int
ws_accept_value(const char *key, char *out, size_t cap)
{
    char          src[128];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int  dlen = 0;
    int           n = snprintf(src, sizeof(src), "%s%s", key, WS_GUID);

    if (n < 0 || (size_t) n >= sizeof(src) || cap < 29
        || EVP_Digest(src, (size_t) n, digest, &dlen, EVP_sha1(), NULL) != 1 || dlen != 20)
    {
        return -1;
    }
    return EVP_EncodeBlock((unsigned char *) out, digest, 20) == 28 ? 0 : -1;
}

static int
ws_handshake(ws_conn_t *c, const char *host, const char *port, const char *channel, const char *token)
{
    unsigned char nonce[16];
    char          key[32], expect[32], value[TOKEN_MAX], req[2048];
    size_t        head_len, got;
    int           n, status;

    /* The key and the frame masks must be unpredictable (RFC 6455 10.3). */
    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t) sizeof(nonce)
        || EVP_EncodeBlock((unsigned char *) key, nonce, sizeof(nonce)) != 24
        || ws_accept_value(key, expect, sizeof(expect)) != 0)
    {
        log_msg("cannot make a handshake key");
        return FATAL;
    }
    n = snprintf(req, sizeof(req),
                 "GET /ws/%s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                 channel, host, port, key, token);
    if (n < 0 || (size_t) n >= sizeof(req)) {
        return FATAL;
    }
    if ((c->fd = tcp_connect(host, port)) < 0) {
        return RETRY;
    }
    if (send_all(c->fd, req, (size_t) n) != 0 || read_head(c->fd, c->buf, sizeof(c->buf), &head_len, &got) != 0) {
        log_msg("handshake: connection lost");
        return RETRY;
    }
    status = http_status(c->buf);
    if (status != 101) {
        log_msg("upgrade refused (HTTP %d): %.200s", status, c->buf + head_len);
        /* 404: no such game or type; the name will not appear by retrying. */
        return status == 404 ? FATAL : RETRY;
    }
    if (header_value(c->buf, head_len, "Sec-WebSocket-Accept", value, sizeof(value)) != 0
        || strcmp(value, expect) != 0)
    {
        log_msg("bad Sec-WebSocket-Accept");
        return RETRY;
    }
    /* Browsers drop a connection that does not echo the subprotocol; be as strict. */
    if (header_value(c->buf, head_len, "Sec-WebSocket-Protocol", value, sizeof(value)) != 0
        || strcmp(value, token) != 0)
    {
        log_msg("server did not echo the token subprotocol");
        return RETRY;
    }
    c->start = head_len;
    c->end = got;
    return OK;
}

/* Exactly len bytes: first what is buffered, then from the socket. */
static int
ws_read(ws_conn_t *c, void *dst, size_t len)
{
    char  *d = dst;
    size_t have = c->end - c->start;

    if (have > 0) {
        size_t take = have < len ? have : len;
        memcpy(d, c->buf + c->start, take);
        c->start += take;
        d += take;
        len -= take;
    }
    while (len > 0) {
        ssize_t n;

        if (wait_readable(c->fd) != 0) {
            return -1;
        }
        n = recv(c->fd, d, len, 0);
        if (n <= 0) {
            return -1;
        }
        d += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Client frames are masked (RFC 6455 5.3); this client sends only control frames. */
static int
ws_send_control(int fd, unsigned opcode, const unsigned char *payload, size_t len)
{
    unsigned char frame[2 + 4 + 125];

    if (len > 125 || getrandom(frame + 2, 4, 0) != 4) {
        return -1;
    }
    frame[0] = (unsigned char) (0x80 | opcode);
    frame[1] = (unsigned char) (0x80 | len);
    for (size_t i = 0; i < len; i++) {
        frame[6 + i] = payload[i] ^ frame[2 + (i & 3)];
    }
    return send_all(fd, frame, 6 + len);
}

/* Prints messages until the connection ends. Returns OK if it ended by our stop. */
static int
ws_pump(ws_conn_t *c)
{
    static char   message[MESSAGE_MAX + 1];
    size_t        mlen = 0;
    unsigned char h[8], control[125];

    while (!stop_requested) {
        unsigned  opcode, fin;
        uint64_t  len;

        if (ws_read(c, h, 2) != 0) {
            break;
        }
        fin = h[0] & 0x80;
        opcode = h[0] & 0x0f;
        len = h[1] & 0x7f;
        if (h[1] & 0x80) {
            log_msg("server sent a masked frame");
            return RETRY;
        }
        if (len == 126) {
            if (ws_read(c, h, 2) != 0) {
                break;
            }
            len = ((uint64_t) h[0] << 8) | h[1];
        } else if (len == 127) {
            if (ws_read(c, h, 8) != 0) {
                break;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = (len << 8) | h[i];
            }
        }

        if (opcode >= 0x8) {                       /* control frame */
            if (len > sizeof(control) || ws_read(c, control, (size_t) len) != 0) {
                break;
            }
            if (opcode == 0x9) {                   /* ping: answer, or the server drops us */
                if (ws_send_control(c->fd, 0xa, control, (size_t) len) != 0) {
                    break;
                }
            } else if (opcode == 0x8) {            /* close: echo the code, then reconnect */
                unsigned code = len >= 2 ? ((unsigned) control[0] << 8 | control[1]) : 1005;
                log_msg("closed by server (%u)", code);
                (void) ws_send_control(c->fd, 0x8, control, len >= 2 ? 2 : 0);
                return RETRY;
            }
            continue;
        }
        if (opcode != 0x1 && opcode != 0x0) {
            log_msg("unexpected opcode %u", opcode);
            return RETRY;
        }
        if (len > MESSAGE_MAX - mlen) {
            log_msg("message too large");
            return RETRY;
        }
        if (ws_read(c, message + mlen, (size_t) len) != 0) {
            break;
        }
        mlen += (size_t) len;
        if (fin) {
            message[mlen++] = '\n';
            if (fwrite(message, 1, mlen, stdout) != mlen || fflush(stdout) != 0) {
                log_msg("cannot write to stdout");
                return FATAL;
            }
            mlen = 0;
        }
    }
    if (stop_requested) {
        static const unsigned char normal[2] = { 0x03, 0xe8 };   /* 1000: closed on purpose */
        (void) ws_send_control(c->fd, 0x8, normal, sizeof(normal));
        return OK;
    }
    log_msg("connection lost: %s", errno ? strerror(errno) : "closed");
    return RETRY;
}

/* ------------------------------------------------------------ main */

/* Exponential with jitter, so clients dropped together do not return together. */
static void
backoff_sleep(unsigned attempt)
{
    unsigned        ceiling = BACKOFF_FIRST_MS << (attempt < 5 ? attempt : 5);
    unsigned        r = 0;
    struct timespec ts;

    if (ceiling > BACKOFF_MAX_MS) {
        ceiling = BACKOFF_MAX_MS;
    }
    if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
        r = 0;
    }
    ceiling = ceiling / 2 + r % (ceiling / 2 + 1);
    log_msg("reconnecting in %.1f s", (double) ceiling / 1000.0);
    ts.tv_sec = ceiling / 1000;
    ts.tv_nsec = (long) (ceiling % 1000) * 1000000L;
    /* A signal cuts the sleep short; the loop then sees the stop. */
    if (!stop_requested) {
        (void) ppoll(NULL, 0, &ts, &wait_mask);
    }
}

int
main(int argc, char **argv)
{
    const char       *url = getenv("DATASTREAM_URL");
    const char       *api_key = getenv("DATASTREAM_API_KEY");
    const char       *channel = argc > 1 ? argv[1] : "crash";
    char              host[HOST_MAX], port[PORT_MAX], token[TOKEN_MAX];
    static ws_conn_t  conn;
    struct sigaction  sa;
    sigset_t          blocked;
    unsigned          attempt = 0;
    int               rc = RETRY;

    if (url == NULL || *url == '\0') {
        url = "http://localhost:3000";
    }
    /* It goes into a request header: letters, digits and '_' only, never a line break. */
    if (api_key == NULL || *api_key == '\0' || strlen(api_key) > 200
        || strspn(api_key, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(api_key))
    {
        fprintf(stderr, "set DATASTREAM_API_KEY to an sk_live_... key (pk_ keys are for browsers)\n");
        return 2;
    }
    if (parse_url(url, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "DATASTREAM_URL must be http://host[:port], got %s\n", url);
        return 2;
    }
    if (strlen(channel) >= CHANNEL_MAX || strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-/") != strlen(channel)) {
        fprintf(stderr, "channel must be a game slug or type/<type>, got %s\n", channel);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0
        || sigemptyset(&blocked) != 0 || sigaddset(&blocked, SIGINT) != 0 || sigaddset(&blocked, SIGTERM) != 0
        || sigprocmask(SIG_BLOCK, &blocked, &wait_mask) != 0
        || sigdelset(&wait_mask, SIGINT) != 0 || sigdelset(&wait_mask, SIGTERM) != 0)
    {
        perror("signals");
        return 1;
    }

    while (!stop_requested) {
        rc = fetch_token(host, port, api_key, token, sizeof(token));
        if (rc == OK) {
            conn.fd = -1;
            rc = ws_handshake(&conn, host, port, channel, token);
            if (rc == OK) {
                log_msg("connected to /ws/%s", channel);
                attempt = 0;
                errno = 0;
                rc = ws_pump(&conn);
            }
            if (conn.fd >= 0) {
                close(conn.fd);
                conn.fd = -1;
            }
        }
        if (rc == FATAL) {
            return 1;
        }
        if (stop_requested) {
            break;
        }
        backoff_sleep(attempt++);
    }
    return 0;
}
