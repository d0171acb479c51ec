/*
 * Data Stream Server-Sent Events subscriber in C, with libcurl.
 *
 *   DATASTREAM_API_KEY=sk_live_... ./sse_client [crash | type/multiplier]
 *
 * Prints every round object on stdout, one JSON line each; connection events
 * go to stderr. Environment:
 *   DATASTREAM_API_KEY  server-side key (required)
 *   DATASTREAM_URL      backend base URL [http://localhost:3000]; https works too
 *
 * libcurl does HTTP (chunked encoding, TLS, proxies); this file only parses
 * the event stream and decides when and from where to reconnect.
 */
#define _GNU_SOURCE             /* ppoll */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#define URL_MAX         1024
#define CHANNEL_MAX     160
#define HEADER_MAX      1024
#define LINE_MAX_       65536
#define DATA_MAX        (1 << 20)
#define ID_MAX          256
#define ERROR_BODY_MAX  300
#define BACKOFF_MAX_MS  15000L
/* The server sends a heartbeat comment every 15 s: 45 s of silence is a dead connection. */
#define IDLE_TIMEOUT_S  45L

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

/*
 * Event-stream parser state (WHATWG HTML, "event stream interpretation").
 * last_id and retry_ms outlive a connection: they are how we resume.
 */
typedef struct {
    CURL   *curl;
    long    status;             /* HTTP status, once the body starts */
    int     checked;            /* status and content type looked at */
    int     failed;             /* answer is not an event stream: collect the error body */
    char    error_body[ERROR_BODY_MAX + 1];
    size_t  error_len;

    char    line[LINE_MAX_];
    size_t  line_len;
    int     after_cr;           /* last byte was \r: a following \n ends nothing */
    int     overflow;           /* current line too long: dropped */
    char    data[DATA_MAX + 1];
    size_t  data_len;
    int     has_data;
    char    id[ID_MAX];         /* id of the event being read, committed at dispatch */
    int     has_id;

    char    last_id[ID_MAX];
    long    retry_ms;
    int     write_error;
    time_t  last_rx;            /* when bytes last arrived: heartbeats count */
} sse_t;

static void
sse_dispatch(sse_t *s)
{
    /* Only a complete event moves the resume point, so a cut stream resumes before it. */
    if (s->has_id) {
        memcpy(s->last_id, s->id, sizeof(s->last_id));
    }
    if (s->has_data) {
        s->data[s->data_len++] = '\n';
        if (fwrite(s->data, 1, s->data_len, stdout) != s->data_len || fflush(stdout) != 0) {
            s->write_error = 1;
        }
    }
    s->data_len = 0;
    s->has_data = 0;
    s->has_id = 0;
}

static void
sse_line(sse_t *s)
{
    char       *line = s->line, *value;
    size_t      len = s->line_len, vlen;
    const char *colon;

    line[len] = '\0';
    if (len == 0) {
        sse_dispatch(s);
        return;
    }
    if (line[0] == ':') {                       /* comment: the heartbeat */
        return;
    }
    colon = memchr(line, ':', len);
    if (colon) {
        line[colon - line] = '\0';
        value = line + (colon - line) + 1;
        if (*value == ' ') {
            value++;
        }
    } else {
        value = line + len;
    }
    vlen = strlen(value);

    if (strcmp(line, "data") == 0) {
        /* Several data lines join with \n; keep room for that and the final one. */
        size_t need = vlen + (s->has_data ? 1 : 0);
        if (s->data_len + need + 1 > DATA_MAX) {
            log_msg("event too large, dropped");
            s->data_len = 0;
            s->has_data = 0;
            return;
        }
        if (s->has_data) {
            s->data[s->data_len++] = '\n';
        }
        memcpy(s->data + s->data_len, value, vlen);
        s->data_len += vlen;
        s->has_data = 1;
    } else if (strcmp(line, "id") == 0) {
        if (vlen < sizeof(s->id)) {
            memcpy(s->id, value, vlen + 1);
            s->has_id = 1;
        }
    } else if (strcmp(line, "retry") == 0) {
        if (vlen > 0 && vlen < 9 && strspn(value, "0123456789") == vlen) {
            s->retry_ms = strtol(value, NULL, 10);
        }
    }
    /* "event:" names the event (initial, message); every one carries a round. */
}

static void
sse_feed(sse_t *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];

        if (ch == '\n' && s->after_cr) {        /* the \n of \r\n */
            s->after_cr = 0;
            continue;
        }
        s->after_cr = ch == '\r';
        if (ch == '\r' || ch == '\n') {
            if (!s->overflow) {
                sse_line(s);
            }
            s->line_len = 0;
            s->overflow = 0;
            continue;
        }
        if (s->line_len + 1 >= sizeof(s->line)) {
            s->overflow = 1;
            continue;
        }
        s->line[s->line_len++] = ch;
    }
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sse_t  *s = userdata;
    size_t  n = size * nmemb;

    s->last_rx = time(NULL);
    if (!s->checked) {
        char *type = NULL;

        s->checked = 1;
        if (curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status) != CURLE_OK
            || curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &type) != CURLE_OK
            || s->status != 200 || type == NULL || strncmp(type, "text/event-stream", 17) != 0)
        {
            s->failed = 1;
        }
    }
    if (s->failed) {
        size_t take = ERROR_BODY_MAX - s->error_len < n ? ERROR_BODY_MAX - s->error_len : n;
        memcpy(s->error_body + s->error_len, ptr, take);
        s->error_len += take;
        s->error_body[s->error_len] = '\0';
        return n;
    }
    sse_feed(s, ptr, n);
    return s->write_error ? 0 : n;
}

/* End of the response head: report the connection before any event arrives. */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    sse_t  *s = userdata;
    size_t  n = size * nmemb;
    long    status = 0;

    s->last_rx = time(NULL);
    if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
        if (curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
            log_msg("connected");
        }
    }
    return n;
}

/*
 * Called about once a second even when idle: how a signal ends a transfer,
 * and how a silent connection is noticed. (CURLOPT_LOW_SPEED_* would not do:
 * a healthy idle stream carries only a few heartbeat bytes every 15 s.)
 */
static int
on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    sse_t *s = userdata;

    (void) dltotal; (void) dlnow; (void) ultotal; (void) ulnow;
    if (stop_requested) {
        return 1;
    }
    if (time(NULL) - s->last_rx > IDLE_TIMEOUT_S) {
        log_msg("no data for %ld s", IDLE_TIMEOUT_S);
        return 1;
    }
    return 0;
}

/* One connection, until it ends. Returns 1 when retrying cannot help. */
static int
sse_connect(sse_t *s, const char *url, const char *api_key)
{
    struct curl_slist *headers = NULL, *tmp;
    char               h[HEADER_MAX];
    CURLcode           rc;
    int                fatal = 0;

    s->checked = s->failed = 0;
    s->status = 0;
    s->last_rx = time(NULL);
    s->error_len = 0;
    s->line_len = s->data_len = 0;
    s->has_data = s->has_id = s->after_cr = s->overflow = 0;

    if ((tmp = curl_slist_append(headers, "Accept: text/event-stream")) == NULL) {
        return 1;
    }
    headers = tmp;
    if (snprintf(h, sizeof(h), "X-API-Key: %s", api_key) >= (int) sizeof(h)
        || (tmp = curl_slist_append(headers, h)) == NULL)
    {
        curl_slist_free_all(headers);
        return 1;
    }
    headers = tmp;
    /* Resume: the server replays what was published after this id. */
    if (s->last_id[0] != '\0') {
        if (snprintf(h, sizeof(h), "Last-Event-ID: %s", s->last_id) >= (int) sizeof(h)
            || (tmp = curl_slist_append(headers, h)) == NULL)
        {
            curl_slist_free_all(headers);
            return 1;
        }
        headers = tmp;
    }

    curl_easy_reset(s->curl);
    if (curl_easy_setopt(s->curl, CURLOPT_URL, url) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 10L) != CURLE_OK
        || curl_easy_setopt(s->curl, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK)
    {
        log_msg("curl_easy_setopt failed");
        curl_slist_free_all(headers);
        return 1;
    }

    if (s->last_id[0] != '\0') {
        log_msg("connecting to %s (resuming after %s)", url, s->last_id);
    } else {
        log_msg("connecting to %s", url);
    }
    rc = curl_easy_perform(s->curl);
    curl_slist_free_all(headers);

    if (s->write_error) {
        log_msg("cannot write to stdout");
        return 1;
    }
    if (s->failed) {
        log_msg("HTTP %ld: %s", s->status, s->error_body);
        /* 401/403: the key; 404: no such game or type. Retrying cannot fix these. */
        fatal = s->status == 401 || s->status == 403 || s->status == 404 || s->status == 200;
    } else if (stop_requested) {
        return 0;
    } else {
        log_msg("stream ended: %s", rc == CURLE_OK ? "closed by server" : curl_easy_strerror(rc));
    }
    return fatal;
}

/* Like EventSource: the server's retry delay, doubled per failure (capped), with jitter. */
static void
backoff_sleep(long base_ms, unsigned attempt)
{
    long            ceiling = base_ms;
    unsigned        r = 0;
    struct timespec ts;
    sigset_t        block, old;

    for (unsigned i = 0; i < attempt && ceiling < BACKOFF_MAX_MS; i++) {
        ceiling *= 2;
    }
    if (ceiling > BACKOFF_MAX_MS) {
        ceiling = BACKOFF_MAX_MS;
    }
    if (ceiling < 2) {
        ceiling = 2;
    }
    if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
        r = 0;
    }
    ceiling = ceiling / 2 + (long) (r % (unsigned long) (ceiling / 2 + 1));
    log_msg("reconnecting in %.1f s", (double) ceiling / 1000.0);
    ts.tv_sec = ceiling / 1000;
    ts.tv_nsec = (ceiling % 1000) * 1000000L;
    /*
     * Signals are blocked from the flag check until ppoll() unblocks them
     * atomically: a stop that arrives just before the sleep still cuts it short.
     */
    if (sigemptyset(&block) != 0 || sigaddset(&block, SIGINT) != 0 || sigaddset(&block, SIGTERM) != 0
        || sigprocmask(SIG_BLOCK, &block, &old) != 0)
    {
        return;
    }
    if (!stop_requested) {
        (void) ppoll(NULL, 0, &ts, &old);
    }
    (void) sigprocmask(SIG_SETMASK, &old, NULL);
}

int
main(int argc, char **argv)
{
    const char       *base = getenv("DATASTREAM_URL");
    const char       *api_key = getenv("DATASTREAM_API_KEY");
    const char       *channel = argc > 1 ? argv[1] : "crash";
    char              url[URL_MAX];
    sse_t            *s;
    struct sigaction  sa;
    unsigned          attempt = 0;
    size_t            blen;
    int               fatal = 0, n;

    if (base == NULL || *base == '\0') {
        base = "http://localhost:3000";
    }
    /* It goes into a request header: letters, digits and '_' only, never a line break. */
    if (api_key == NULL || *api_key == '\0' || strlen(api_key) > 200
        || strspn(api_key, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(api_key))
    {
        fprintf(stderr, "set DATASTREAM_API_KEY to an sk_live_... key (pk_ keys are for browsers)\n");
        return 2;
    }
    if (strlen(channel) >= CHANNEL_MAX || strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-/") != strlen(channel)) {
        fprintf(stderr, "channel must be a game slug or type/<type>, got %s\n", channel);
        return 2;
    }
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') {     /* "http://h:3000/" is fine too */
        blen--;
    }
    n = snprintf(url, sizeof(url), "%.*s/sse/%s", (int) blen, base, channel);
    if (n < 0 || (size_t) n >= sizeof(url)) {
        fprintf(stderr, "DATASTREAM_URL too long\n");
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        perror("sigaction");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return 1;
    }
    /* About 1 MiB of buffers: on the heap, not the stack. */
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->curl = curl_easy_init()) == NULL) {
        fprintf(stderr, "out of memory\n");
        free(s);
        curl_global_cleanup();
        return 1;
    }
    s->retry_ms = 1000;

    while (!stop_requested) {
        fatal = sse_connect(s, url, api_key);
        if (fatal || stop_requested) {
            break;
        }
        /* A stream that delivered something was healthy: start the backoff over. */
        if (s->status == 200) {
            attempt = 0;
        }
        backoff_sleep(s->retry_ms, attempt++);
    }

    curl_easy_cleanup(s->curl);
    free(s);
    curl_global_cleanup();
    return fatal ? 1 : 0;
}
