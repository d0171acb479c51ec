/* datastream-bench-insert: inserts rounds into PostgreSQL at a fixed rate, one
 * row per transaction, as a game platform writes finished rounds; the source
 * of the INSERT -> client benchmark.
 *
 * The rows carry no send time: the latency is measured from the commit time
 * that the CDC bridge takes from the WAL commit record (the round's
 * "timestamp"), as in production.
 *
 * One connection in pipeline mode: each INSERT leaves at its scheduled time
 * (i / rate after the start) whether or not the commits before it have been
 * acknowledged, so a slow commit does not make the following rows late and
 * then bunch them together. Prints one JSON line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

/* Pacing only: nothing here is compared with another process's clock. */
static int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-bench-insert --database URL --rate R --count N [options]\n"
        "  --database URL   libpq connection string or URI of the database holding \"rounds\"\n"
        "  --rate R         rows per second, one row per transaction\n"
        "  --count N        rows to insert\n"
        "  --game-id ID     games.id of every row (default 1, crash)\n"
        "  --start-id ID    rounds.id of the first row, then consecutive (default: ms since epoch)\n"
        "  --max-time S     stop sending after S seconds whatever was sent (default count/rate + 30)\n");
}

typedef struct {
    PGconn    *conn;
    long long  committed, errors;
    long long  awaiting;        /* rows sent whose pipeline sync has not come back */
    long long  max_awaiting;
    const char *first_error;
    char       error_buf[256];
} ins_t;

/* libpq's messages go into the output line: no quotes, backslashes or newlines. */
static const char *
json_safe(char *buf, size_t cap, const char *msg)
{
    snprintf(buf, cap, "%s", msg != NULL ? msg : "unknown");
    for (char *p = buf; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char) *p < 0x20) *p = ' ';
    }
    return buf;
}

static void
note_error(ins_t *s, const char *msg)
{
    s->errors++;
    if (s->first_error == NULL) s->first_error = json_safe(s->error_buf, sizeof(s->error_buf), msg);
}

/* Takes every result that has fully arrived. -1 when the connection is lost. */
static int
take_results(ins_t *s)
{
    if (PQconsumeInput(s->conn) != 1) {
        note_error(s, PQerrorMessage(s->conn));
        return -1;
    }
    /* PQgetResult returns NULL between one query's results and the next's,
     * and also when nothing is pending: only a sync ends a row. */
    int nulls = 0;
    while (s->awaiting > 0 && !PQisBusy(s->conn)) {
        PGresult *res = PQgetResult(s->conn);
        if (res == NULL) {
            if (++nulls > 1) break;
            continue;
        }
        nulls = 0;
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK:
            s->committed++;
            break;
        case PGRES_PIPELINE_SYNC:
            s->awaiting--;
            break;
        case PGRES_PIPELINE_ABORTED:
            note_error(s, "pipeline aborted");
            break;
        default:
            note_error(s, PQresultErrorMessage(res));
            break;
        }
        PQclear(res);
    }
    return 0;
}

/* Waits until `until` (monotonic us; 0: until one event, at most 1 s),
 * sending what libpq still holds and taking results meanwhile. */
static int
pump(ins_t *s, int64_t until)
{
    for (;;) {
        int flush = PQflush(s->conn);
        if (flush < 0) {
            note_error(s, PQerrorMessage(s->conn));
            return -1;
        }
        int64_t left = until ? until - mono_us() : 1000000;
        struct pollfd pfd = { .fd = PQsocket(s->conn), .events = POLLIN | (flush ? POLLOUT : 0) };
        /* poll counts whole ms: the last stretch is slept exactly, after a
         * look at what has arrived (at 1000 rows/s every wait is that short). */
        int short_wait = left < 1000 && !flush;
        if (left <= 0) return 0;
        int r = poll(&pfd, 1, short_wait ? 0 : (int) (left / 1000));
        if (r < 0) {
            if (errno != EINTR) {
                note_error(s, strerror(errno));
                return -1;
            }
            if (stop_flag) return 0;
            continue;
        }
        if (r > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) && take_results(s) != 0) return -1;
        if (!until) return 0;
        if (short_wait) {
            left = until - mono_us();
            struct timespec ts = { 0, left > 0 ? (long) left * 1000 : 0 };
            while (left > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_flag) {
            }
            return 0;
        }
    }
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "database", required_argument, NULL, 'd' },
        { "rate", required_argument, NULL, 'r' },
        { "count", required_argument, NULL, 'N' },
        { "game-id", required_argument, NULL, 'g' },
        { "start-id", required_argument, NULL, 'i' },
        { "max-time", required_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *url = NULL;
    double      rate = 0, max_time = -1;
    long long   count = 0, start_id = -1, game_id = 1;
    char       *end;
    int         opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        errno = 0;
        switch (opt) {
        case 'd': url = optarg; break;
        case 'r': rate = strtod(optarg, &end); if (*end || errno || rate <= 0) goto bad; break;
        case 'N': count = strtoll(optarg, &end, 10); if (*end || errno || count < 1) goto bad; break;
        case 'g': game_id = strtoll(optarg, &end, 10); if (*end || errno || game_id < 1 || game_id > INT32_MAX) goto bad; break;
        case 'i': start_id = strtoll(optarg, &end, 10); if (*end || errno || start_id < 1) goto bad; break;
        case 'M': max_time = strtod(optarg, &end); if (*end || errno || max_time <= 0) goto bad; break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (url == NULL || rate <= 0 || count < 1 || optind != argc) goto bad;
    if (start_id < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        start_id = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    if (max_time < 0) max_time = (double) count / rate + 30;
    if (signal(SIGINT, on_signal) == SIG_ERR || signal(SIGTERM, on_signal) == SIG_ERR
        || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
    {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"signal handlers\"}\n");
        return 1;
    }

    ins_t s;
    memset(&s, 0, sizeof(s));
    s.conn = PQconnectdb(url);
    if (s.conn == NULL || PQstatus(s.conn) != CONNECTION_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"cannot connect to PostgreSQL\",\"error\":\"%s\"}\n",
                json_safe(s.error_buf, sizeof(s.error_buf), s.conn ? PQerrorMessage(s.conn) : "out of memory"));
        PQfinish(s.conn);
        return 1;
    }
    /* finished_at is the transaction's start, as a platform stamps a round when it writes it. */
    PGresult *prep = PQprepare(s.conn, "round",
                               "INSERT INTO rounds (id, game_id, finished_at, extras) "
                               "VALUES ($1::bigint, $2::int, now(), $3::jsonb)", 3, NULL);
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"prepare\",\"error\":\"%s\"}\n",
                json_safe(s.error_buf, sizeof(s.error_buf), PQresultErrorMessage(prep)));
        PQclear(prep);
        PQfinish(s.conn);
        return 1;
    }
    PQclear(prep);
    if (PQsetnonblocking(s.conn, 1) != 0 || PQenterPipelineMode(s.conn) != 1) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"pipeline mode\",\"error\":\"%s\"}\n",
                json_safe(s.error_buf, sizeof(s.error_buf), PQerrorMessage(s.conn)));
        PQfinish(s.conn);
        return 1;
    }

    long long sent = 0;
    long long late = 0;             /* sent more than 1 ms after their time */
    int64_t   max_behind = 0;
    int64_t   t0 = mono_us() + 1000;
    int64_t   deadline = t0 + (int64_t) (max_time * 1e6);
    int       lost = 0;

    for (long long i = 0; i < count && !stop_flag && !lost; i++) {
        int64_t due = t0 + (int64_t) ((double) i * 1e6 / rate);
        if (pump(&s, due) != 0) { lost = 1; break; }
        int64_t now = mono_us();
        if (stop_flag || now > deadline) break;
        if (now - due > max_behind) max_behind = now - due;
        if (now - due > 1000) late++;

        char id[24], game[16], extras[64];
        long long roll = ((start_id + i) * 7919) % 1000;
        double point = 0.99 / (1.0 - (double) roll / 1000.0 * 0.99);
        int n1 = snprintf(id, sizeof(id), "%lld", start_id + i);
        int n2 = snprintf(game, sizeof(game), "%lld", game_id);
        int n3 = snprintf(extras, sizeof(extras), "{\"point\": \"%.2f\"}", point < 1.0 ? 1.0 : point);
        if (n1 < 0 || (size_t) n1 >= sizeof(id) || n2 < 0 || (size_t) n2 >= sizeof(game)
            || n3 < 0 || (size_t) n3 >= sizeof(extras))
        {
            note_error(&s, "row does not fit");
            continue;
        }
        const char *values[3] = { id, game, extras };
        if (PQsendQueryPrepared(s.conn, "round", 3, values, NULL, NULL, 0) != 1
            || PQpipelineSync(s.conn) != 1 || PQflush(s.conn) < 0)
        {
            note_error(&s, PQerrorMessage(s.conn));
            lost = 1;
            break;
        }
        sent++;
        s.awaiting++;
        if (s.awaiting > s.max_awaiting) s.max_awaiting = s.awaiting;
    }
    double secs = (double) (mono_us() - t0) / 1e6;

    /* The last commits: wait for them, but not for ever. */
    int64_t drain_until = mono_us() + 30 * 1000000LL;
    while (!lost && s.awaiting > 0 && mono_us() < drain_until) {
        if (pump(&s, 0) != 0) lost = 1;
        if (stop_flag) break;
    }
    long long unanswered = s.awaiting;
    PQfinish(s.conn);

    printf("{\"tool\":\"datastream-bench-insert\",\"rate\":%.1f,\"sent\":%lld,\"inserted\":%lld,"
           "\"errors\":%lld,\"unanswered\":%lld,\"seconds\":%.3f,\"achieved_rate\":%.1f,"
           "\"max_behind_us\":%lld,\"late_over_1ms\":%lld,\"max_in_flight\":%lld,\"first_id\":%lld,\"first_error\":\"%s\"}\n",
           rate, sent, s.committed, s.errors, unanswered, secs, secs > 0 ? (double) sent / secs : 0.0,
           (long long) max_behind, late, s.max_awaiting, start_id, s.first_error ? s.first_error : "");
    if (fflush(stdout) != 0) return 1;
    return (s.errors || unanswered || lost || s.committed != count) ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}
