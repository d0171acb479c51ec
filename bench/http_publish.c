#define _GNU_SOURCE
#include "http_publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
http_connect(http_t *h)
{
    struct sockaddr_in sa;
    int                one = 1;

    h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0) return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) h->port);
    if (inet_pton(AF_INET, h->host, &sa.sin_addr) != 1
        || setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0
        || connect(h->fd, (struct sockaddr *) &sa, sizeof(sa)) != 0)
    {
        (void) close(h->fd);
        h->fd = -1;
        return -1;
    }
    h->in_len = 0;
    return 0;
}

int
parse_http_url(http_t *h, const char *url)
{
    const char *p, *slash, *colon;
    long        port;
    char       *end;

    if (strncmp(url, "http://", 7) != 0) return -1;
    p = url + 7;
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon == NULL || (slash && colon > slash) || (size_t) (colon - p) >= sizeof(h->host)) return -1;
    memcpy(h->host, p, (size_t) (colon - p));
    h->host[colon - p] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || port < 1 || port > 65535 || (*end && *end != '/')) return -1;
    h->port = (int) port;
    if (snprintf(h->path, sizeof(h->path), "%s", *end ? end : "/") >= (int) sizeof(h->path)) return -1;
    /* No trailing slash: channels are appended as /<ids>. */
    size_t n = strlen(h->path);
    while (n > 0 && h->path[n - 1] == '/') h->path[--n] = '\0';
    return 0;
}

/* Takes one complete answer off the input; 1 with *status, 0 when incomplete, -1 on garbage. */
static int
http_take_answer(http_t *h, int *status)
{
    char *hdr_end = memmem(h->in, h->in_len, "\r\n\r\n", 4);
    long  clen = 0;

    if (hdr_end == NULL) {
        return h->in_len == sizeof(h->in) ? -1 : 0;
    }
    size_t hl = (size_t) (hdr_end - h->in) + 4;
    char   save = h->in[hl - 1];
    h->in[hl - 1] = '\0';
    char *cl = strcasestr(h->in, "\r\ncontent-length:");
    int   ok = sscanf(h->in, "HTTP/1.%*d %d", status) == 1;
    if (cl != NULL) clen = strtol(cl + 17, NULL, 10);
    h->in[hl - 1] = save;
    if (!ok || clen < 0 || (size_t) clen > sizeof(h->in) - hl) return -1;
    if (h->in_len < hl + (size_t) clen) return 0;
    size_t used = hl + (size_t) clen;
    memmove(h->in, h->in + used, h->in_len - used);
    h->in_len -= used;
    return 1;
}

int
http_collect(http_t *h, int keep, http_counts_t *n)
{
    while (h->outstanding > 0) {
        int status, r;
        while (h->outstanding > 0 && (r = http_take_answer(h, &status)) != 0) {
            if (r < 0) return -1;
            h->outstanding--;
            if (status == 201) n->delivered++;
            else if (status == 202) n->created++;
            else n->errors++;
        }
        if (h->outstanding <= keep) return 0;
        ssize_t got = recv(h->fd, h->in + h->in_len, sizeof(h->in) - h->in_len, 0);
        if (got <= 0) return -1;
        h->in_len += (size_t) got;
    }
    return 0;
}

void
http_reset(http_t *h, http_counts_t *n)
{
    n->errors += h->outstanding;     /* unanswered requests are lost */
    h->outstanding = 0;
    if (h->fd >= 0) (void) close(h->fd);
    h->fd = -1;
}

/* Renewed before nginx's keepalive_requests (default 1000) would close it. */
#define REQUESTS_PER_CONNECTION 900

int
http_post(http_t *h, const char *channels, const char *body, int blen, http_counts_t *n)
{
    char    req[HTTP_PUBLISH_BODY_MAX + 512];
    int     len;
    size_t  off = 0;

    if (h->fd >= 0 && h->sent_on_conn >= REQUESTS_PER_CONNECTION) {
        if (http_collect(h, 0, n) != 0) http_reset(h, n);
        if (h->fd >= 0) (void) close(h->fd);
        h->fd = -1;
    }
    if (h->fd < 0) {
        if (http_connect(h) != 0) {
            n->errors++;
            return -1;
        }
        h->sent_on_conn = 0;
    }
    len = snprintf(req, sizeof(req),
                   "POST %s/%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%.*s", h->path, channels, h->host, blen, blen, body);
    if (len < 0 || (size_t) len >= sizeof(req)) {
        n->errors++;
        return -1;
    }
    while (off < (size_t) len) {
        ssize_t w = send(h->fd, req + off, (size_t) len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            http_reset(h, n);
            n->errors++;    /* this one was not outstanding yet */
            return -1;
        }
        off += (size_t) w;
    }
    h->outstanding++;
    h->sent_on_conn++;
    /* Take whatever answers are already there without waiting, then bound the window. */
    for (;;) {
        ssize_t got = sizeof(h->in) > h->in_len
                    ? recv(h->fd, h->in + h->in_len, sizeof(h->in) - h->in_len, MSG_DONTWAIT) : 0;
        if (got <= 0) break;
        h->in_len += (size_t) got;
    }
    if (http_collect(h, PIPELINE - 1, n) != 0) {
        http_reset(h, n);
        return -1;
    }
    return 0;
}
