#include "http_pipeline.h"

#include "json_text.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 2000
#define IO_TIMEOUT_MS 5000
/* nginx closes a keep-alive connection after keepalive_requests (1000 by default); opening
 * a fresh one before that keeps pipelined answers from being cut off. */
#define REQUESTS_PER_CONNECTION 500
#define MAX_RESPONSE_HEAD 16384

struct dsc_http_s {
    char host[256];
    int port;
    int fd;
    size_t served;
    char *buf;
    size_t len, cap;
    /* Between dsc_http_send and dsc_http_receive: the requests written, and whether the
     * connection already served earlier batches (then a silent close may be retried). */
    char *wire;
    bool reused;
    bool send_failed;
    /* A send or receive ran out of time: the server may have taken the requests and be slow
     * to answer, so sending them again could publish them twice. */
    bool timed_out;
};

dsc_http_t *dsc_http_new(const char *host, int port)
{
    dsc_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    snprintf(h->host, sizeof h->host, "%s", host);
    h->port = port;
    h->fd = -1;
    return h;
}

static void disconnect(dsc_http_t *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->served = 0;
    h->len = 0;
}

void dsc_http_free(dsc_http_t *h)
{
    if (!h)
        return;
    disconnect(h);
    free(h->buf);
    free(h->wire);
    free(h);
}

static int connect_with_timeout(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    if (connect(fd, addr, addrlen) != 0) {
        if (errno != EINPROGRESS)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t errlen = sizeof err;
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0)
            return -1;
    }
    return fcntl(fd, F_SETFL, flags);
}

/* Between batches nothing is due from the server: readable means it closed the connection. */
static bool closed_by_peer(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    return poll(&p, 1, 0) != 0;
}

int dsc_http_connect(dsc_http_t *h)
{
    if (h->fd >= 0 && closed_by_peer(h->fd))
        disconnect(h);
    if (h->fd >= 0)
        return 0;
    char port[8];
    snprintf(port, sizeof port, "%d", h->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(h->host, port, &hints, &res) != 0 || !res)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    bool ok = fd >= 0 && connect_with_timeout(fd, res->ai_addr, res->ai_addrlen) == 0 &&
              setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
    freeaddrinfo(res);
    if (!ok) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    h->fd = fd;
    h->served = 0;
    h->len = 0;
    return 0;
}

static bool timeout_errno(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

static int send_all(dsc_http_t *h, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(h->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && timeout_errno())
            h->timed_out = true;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer; 0 on success, -1 on EOF/error/timeout. */
static int fill(dsc_http_t *h)
{
    if (h->cap - h->len < 4096) {
        size_t cap = h->cap ? h->cap * 2 : 16384;
        char *p = realloc(h->buf, cap);
        if (!p)
            return -1;
        h->buf = p;
        h->cap = cap;
    }
    ssize_t n;
    do
        n = recv(h->fd, h->buf + h->len, h->cap - h->len - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && timeout_errno())
        h->timed_out = true;
    if (n <= 0)
        return -1;
    h->len += (size_t)n;
    h->buf[h->len] = '\0';
    return 0;
}

static void consume(dsc_http_t *h, size_t n)
{
    memmove(h->buf, h->buf + n, h->len - n);
    h->len -= n;
}

/* Finds a header value in a NUL-terminated response head. */
static const char *header(const char *head, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, name, nlen) == 0 && line[2 + nlen] == ':') {
            const char *v = line + 3 + nlen;
            while (*v == ' ')
                v++;
            return v;
        }
    }
    return NULL;
}

/* Skips a chunked body once it is complete in the buffer; returns its length or 0 if more
 * bytes are needed, -1 if malformed. Trailers are not expected from nginx. */
static long chunked_length(const char *p, size_t avail)
{
    size_t off = 0;
    for (;;) {
        const char *eol = memmem(p + off, avail - off, "\r\n", 2);
        if (!eol)
            return 0;
        char *end;
        unsigned long size = strtoul(p + off, &end, 16);
        if (end == p + off)
            return -1;
        off = (size_t)(eol - p) + 2;
        if (size == 0)
            return avail - off >= 2 ? (long)(off + 2) : 0;
        if (avail - off < size + 2)
            return 0;
        off += size + 2;
    }
}

/* Reads one full response; returns its status, or -1. Sets *close when the server ends the
 * connection after it. */
static int read_response(dsc_http_t *h, bool *close_after)
{
    for (;;) {
        char *end = h->len ? memmem(h->buf, h->len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t head_len = (size_t)(end - h->buf) + 4;
            char saved = h->buf[head_len - 2];
            h->buf[head_len - 2] = '\0';
            int status = 0;
            if (sscanf(h->buf, "HTTP/1.%*d %d", &status) != 1)
                return -1;
            const char *cl = header(h->buf, "Content-Length");
            const char *te = header(h->buf, "Transfer-Encoding");
            const char *conn = header(h->buf, "Connection");
            bool chunked = te && strncasecmp(te, "chunked", 7) == 0;
            long body = cl ? strtol(cl, NULL, 10) : 0;
            *close_after = conn && strncasecmp(conn, "close", 5) == 0;
            h->buf[head_len - 2] = saved;
            for (;;) {
                long need = body;
                if (chunked) {
                    need = chunked_length(h->buf + head_len, h->len - head_len);
                    if (need < 0)
                        return -1;
                }
                if ((!chunked || need > 0) && h->len - head_len >= (size_t)need) {
                    consume(h, head_len + (size_t)need);
                    return status;
                }
                if (fill(h) != 0)
                    return -1;
            }
        }
        if (h->len > MAX_RESPONSE_HEAD || fill(h) != 0)
            return -1;
    }
}

static char *build_requests(const dsc_http_t *h, const dsc_http_request_t *reqs, size_t n)
{
    dsc_text_t t = {0};
    char line[512];
    for (size_t i = 0; i < n; i++) {
        dsc_text_raw(&t, "POST ");
        dsc_text_raw(&t, reqs[i].path);
        snprintf(line, sizeof line,
                 " HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 h->host, h->port, strlen(reqs[i].body));
        dsc_text_raw(&t, line);
        dsc_text_raw(&t, reqs[i].body);
    }
    return dsc_text_finish(&t);
}

static int read_responses(dsc_http_t *h, dsc_http_request_t *reqs, size_t n)
{
    size_t done = 0;
    while (done < n) {
        bool close_after = false;
        int status = read_response(h, &close_after);
        if (status < 0)
            break;
        reqs[done++].status = status;
        if (close_after)
            break;
    }
    h->served += done;
    return (int)done;
}

void dsc_http_send(dsc_http_t *h, dsc_http_request_t *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reqs[i].status = 0;
    free(h->wire);
    h->wire = NULL;
    if (n == 0)
        return;
    if (h->served + n > REQUESTS_PER_CONNECTION)
        disconnect(h);
    h->reused = h->fd >= 0;
    if (dsc_http_connect(h) != 0)
        return;
    h->wire = build_requests(h, reqs, n);
    if (!h->wire)
        return;
    h->timed_out = false;
    h->send_failed = send_all(h, h->wire, strlen(h->wire)) != 0;
}

int dsc_http_receive(dsc_http_t *h, dsc_http_request_t *reqs, size_t n)
{
    if (n == 0)
        return 0;
    if (!h->wire)
        return -1;
    int done = h->send_failed ? 0 : read_responses(h, reqs, n);
    /* A keep-alive connection the server had closed refuses the requests as they are written:
     * only then is resending on a new connection free of duplicates. Without an answer the
     * server may have taken them (its answer lost, or it was only slow): the caller's retry
     * looks for them in nchan's storage first. */
    if (done == 0 && h->reused && h->send_failed && !h->timed_out) {
        disconnect(h);
        if (dsc_http_connect(h) == 0 && send_all(h, h->wire, strlen(h->wire)) == 0)
            done = read_responses(h, reqs, n);
    }
    if ((size_t)done < n)
        disconnect(h);
    free(h->wire);
    h->wire = NULL;
    return h->fd < 0 && done == 0 ? -1 : done;
}
