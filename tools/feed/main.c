/* datastream-feed: puts Debezium-format change events into JetStream the way
 * Debezium Server does (demo feed, replay of recorded lines, generated
 * backlogs) and prints what a NATS subject receives; its demo can also write
 * the rows themselves into PostgreSQL, for the CDC bridge to capture. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"
#include "nats_io.h"
#include "pg_io.h"
#include "reference_games.h"

#define DSF_LINE_MAX (1024 * 1024)
#define DSF_ENVELOPE_MAX 16384

typedef struct {
    const char *url;
    const char *subject;
    const char *prefix;
    const char *stream;
    const char *state_file;
    const char *database;
    long long   count;
    long long   start_id;
    long long   timeout_ms;
    double      speed;
    int         core;
    int         create_stream;
    int         with_schema;
} dsf_args_t;

static volatile sig_atomic_t stop_requested;

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static int64_t
now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

static void
usage(FILE *out)
{
    fprintf(out,
        "Usage: datastream-feed COMMAND [options]\n"
        "\n"
        "Commands:\n"
        "  pub   publish each stdin line as one message to --subject (JetStream, acked)\n"
        "  sub   print messages of --subject as JSON lines {\"subject\",\"data\",\"headers\"}\n"
        "  gen   games|rounds: print Debezium envelopes (games snapshot, or --count round inserts)\n"
        "  demo  publish the reference games, then rounds at a realistic cadence until stopped;\n"
        "        with --database, write them as rows into PostgreSQL instead, with now and then\n"
        "        an update, a delete and, once per run, a fifth game (plinko)\n"
        "\n"
        "Options:\n"
        "  --url URL           NATS server (env NATS_URL, default nats://127.0.0.1:4222)\n"
        "  --subject S         subject for pub and sub\n"
        "  --core              pub: core NATS instead of JetStream\n"
        "  --count N           sub: stop after N messages; gen rounds: how many (default 1000)\n"
        "  --timeout-ms T      sub: stop after T ms (default 10000)\n"
        "  --start-id ID       gen rounds: first round id (default 1); demo --database: the\n"
        "                      lowest id its rounds take\n"
        "  --schema            gen/demo: wrap rounds in {\"schema\",\"payload\"} (schemas.enable=true)\n"
        "  --prefix P          Debezium topic.prefix (env PREFIX, default datastream)\n"
        "  --stream NAME       stream for --create-stream (default DebeziumStream)\n"
        "  --create-stream     create the stream (subjects <prefix>.>, file storage) if missing\n"
        "  --speed X           demo: cadence multiplier (env DS_FEED_SPEED, default 1)\n"
        "  --state-file F      demo: where the last round id is kept across runs\n"
        "  --database URL      demo: PostgreSQL to write rows into (libpq URL, e.g.\n"
        "                      postgresql://user@host:port/db; PGPASSWORD and the other\n"
        "                      PG* variables apply); round ids continue from the table's\n"
        "                      highest, not from --state-file\n"
        "  --help              this text\n");
}

static int
parse_args(int argc, char **argv, dsf_args_t *a)
{
    static const struct option options[] = {
        { "url", required_argument, NULL, 'u' },
        { "subject", required_argument, NULL, 's' },
        { "core", no_argument, NULL, 'C' },
        { "count", required_argument, NULL, 'n' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "start-id", required_argument, NULL, 'i' },
        { "schema", no_argument, NULL, 'S' },
        { "prefix", required_argument, NULL, 'p' },
        { "stream", required_argument, NULL, 'm' },
        { "create-stream", no_argument, NULL, 'c' },
        { "speed", required_argument, NULL, 'x' },
        { "state-file", required_argument, NULL, 'f' },
        { "database", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *env;
    char       *end;
    int         opt;

    memset(a, 0, sizeof(*a));
    a->url = (env = getenv("NATS_URL")) ? env : "nats://127.0.0.1:4222";
    a->prefix = (env = getenv("PREFIX")) ? env : "datastream";
    a->stream = "DebeziumStream";
    a->count = 1000;
    a->start_id = 1;
    a->timeout_ms = 10000;
    a->speed = (env = getenv("DS_FEED_SPEED")) ? strtod(env, NULL) : 1.0;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        errno = 0;
        switch (opt) {
        case 'u': a->url = optarg; break;
        case 's': a->subject = optarg; break;
        case 'C': a->core = 1; break;
        case 'n': a->count = strtoll(optarg, &end, 10); if (*end || errno) return -1; break;
        case 't': a->timeout_ms = strtoll(optarg, &end, 10); if (*end || errno) return -1; break;
        case 'i': a->start_id = strtoll(optarg, &end, 10); if (*end || errno) return -1; break;
        case 'S': a->with_schema = 1; break;
        case 'p': a->prefix = optarg; break;
        case 'm': a->stream = optarg; break;
        case 'c': a->create_stream = 1; break;
        case 'x': a->speed = strtod(optarg, &end); if (*end || errno) return -1; break;
        case 'f': a->state_file = optarg; break;
        case 'd': a->database = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (a->speed <= 0.0 || a->count < 0 || a->timeout_ms < 0) {
        return -1;
    }
    return 0;
}

static int
connect_with_stream(dsf_nats_t *fn, const dsf_args_t *a)
{
    if (dsf_nats_connect(fn, a->url) != 0) {
        return -1;
    }
    if (a->create_stream && dsf_nats_ensure_stream(fn, a->stream, a->prefix) != 0) {
        dsf_nats_close(fn);
        return -1;
    }
    return 0;
}

static int
cmd_pub(const dsf_args_t *a)
{
    dsf_nats_t fn;
    char       *line = malloc(DSF_LINE_MAX);
    long long   sent = 0;
    int         rc = 0;

    if (line == NULL || a->subject == NULL || connect_with_stream(&fn, a) != 0) {
        free(line);
        return 1;
    }
    while (!stop_requested && fgets(line, DSF_LINE_MAX, stdin) != NULL) {
        size_t len = strcspn(line, "\n");
        if (len == 0) {
            continue;
        }
        rc = a->core ? dsf_nats_publish_core(&fn, a->subject, line, (int) len)
                     : dsf_nats_publish(&fn, a->subject, line, (int) len);
        if (rc != 0) {
            break;
        }
        sent++;
    }
    if (rc == 0) {
        rc = a->core ? (natsConnection_FlushTimeout(fn.conn, 10000) == NATS_OK ? 0 : -1)
                     : dsf_nats_flush(&fn, 30000);
    }
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"published\",\"subject\":\"%s\",\"messages\":%lld,\"ok\":%s}\n",
            a->subject, sent, rc == 0 ? "true" : "false");
    dsf_nats_close(&fn);
    free(line);
    return rc == 0 ? 0 : 1;
}

static int
cmd_sub(const dsf_args_t *a)
{
    dsf_nats_t fn;
    int         printed;

    if (a->subject == NULL || dsf_nats_connect(&fn, a->url) != 0) {
        return 1;
    }
    printed = dsf_nats_print(&fn, a->subject, (int) a->count, a->timeout_ms, stdout);
    dsf_nats_close(&fn);
    return printed < 0 ? 1 : 0;
}

static int
print_games(const dsf_args_t *a, int64_t lsn)
{
    char buf[DSF_ENVELOPE_MAX];

    for (int i = 0; i < DSF_REFERENCE_GAMES; i++) {
        dsf_change_t chg = { DATASTREAM_OP_READ, lsn + i, now_us() / 1000, 0, a->prefix };
        if (dsf_envelope_game(buf, sizeof(buf), &chg, &dsf_reference_games[i]) < 0) {
            return 1;
        }
        printf("%s\n", buf);
    }
    return 0;
}

static int
print_rounds(const dsf_args_t *a)
{
    char    buf[DSF_ENVELOPE_MAX];
    char    extras[256];
    int64_t base_us = now_us();

    for (long long i = 0; i < a->count; i++) {
        const dsf_game_t *game = &dsf_reference_games[i % DSF_REFERENCE_GAMES];
        dsf_change_t      chg = { DATASTREAM_OP_CREATE, base_us + i, base_us / 1000, a->with_schema, a->prefix };
        dsf_round_t       round = { a->start_id + i, game->id, base_us, extras };

        if (dsf_reference_extras(extras, sizeof(extras), game, (double) ((i * 7919) % 1000) / 1000.0) < 0
            || dsf_envelope_round(buf, sizeof(buf), &chg, &round) < 0)
        {
            return 1;
        }
        printf("%s\n", buf);
    }
    return 0;
}

static int
cmd_gen(const dsf_args_t *a, const char *what)
{
    if (what != NULL && strcmp(what, "games") == 0) {
        return print_games(a, now_us());
    }
    if (what != NULL && strcmp(what, "rounds") == 0) {
        return print_rounds(a);
    }
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"gen needs games or rounds\"}\n");
    return 2;
}

static long long
load_last_round_id(const char *path)
{
    FILE     *f;
    long long id = 0;

    if (path == NULL || (f = fopen(path, "r")) == NULL) {
        return 0;
    }
    if (fscanf(f, "%lld", &id) != 1) {
        id = 0;
    }
    fclose(f);
    return id;
}

static int
save_last_round_id(const char *path, long long id)
{
    char  tmp[4096];
    FILE *f;

    if (path == NULL) {
        return 0;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)
        || (f = fopen(tmp, "w")) == NULL)
    {
        return -1;
    }
    if (fprintf(f, "%lld\n", id) < 0 || fclose(f) != 0) {
        return -1;
    }
    return rename(tmp, path);
}

static int
publish_reference_games(dsf_nats_t *fn, const dsf_args_t *a, char *subject, size_t cap)
{
    char buf[DSF_ENVELOPE_MAX];

    if ((size_t) snprintf(subject, cap, "%s.public.games", a->prefix) >= cap) {
        return -1;
    }
    for (int i = 0; i < DSF_REFERENCE_GAMES; i++) {
        dsf_change_t chg = { DATASTREAM_OP_READ, now_us(), now_us() / 1000, 0, a->prefix };
        int           len = dsf_envelope_game(buf, sizeof(buf), &chg, &dsf_reference_games[i]);
        if (len < 0 || dsf_nats_publish(fn, subject, buf, len) != 0) {
            return -1;
        }
    }
    return dsf_nats_flush(fn, 10000);
}

/* ---------------------------------------------------------------- demo */

#define DSF_DEMO_GAMES (DSF_REFERENCE_GAMES + 1)

/* When each game of the demo plays its next round. */
typedef struct {
    const dsf_game_t *game[DSF_DEMO_GAMES];
    double            period[DSF_DEMO_GAMES];   /* seconds at speed 1 */
    double            next_at[DSF_DEMO_GAMES];  /* Unix seconds */
    int               n;
    double            speed;
    unsigned          seed;
} dsf_schedule_t;

/* Writes one round of `game`; may add games to the schedule. 0, or -1 to
 * end the demo. */
typedef int (*dsf_round_fn)(void *sink, dsf_schedule_t *s, const dsf_game_t *game,
                            const char *extras);

static double
schedule_roll(dsf_schedule_t *s)
{
    return rand_r(&s->seed) / ((double) RAND_MAX + 1.0);
}

static int
schedule_add(dsf_schedule_t *s, const dsf_game_t *game, double period, double first_in)
{
    if (s->n == DSF_DEMO_GAMES) {
        return -1;
    }
    s->game[s->n] = game;
    s->period[s->n] = period;
    s->next_at[s->n] = (double) now_us() / 1e6 + first_in / s->speed;
    s->n++;
    return 0;
}

static int
schedule_init(dsf_schedule_t *s, double speed)
{
    memset(s, 0, sizeof(*s));
    s->speed = speed;
    s->seed = (unsigned) now_us();
    /* Staggered first rounds, so a fresh dashboard fills game by game. */
    for (int i = 0; i < DSF_REFERENCE_GAMES; i++) {
        if (schedule_add(s, &dsf_reference_games[i], dsf_reference_period[i],
                         dsf_reference_period[i] * (i + 1) / 4.0) != 0)
        {
            return -1;
        }
    }
    return 0;
}

static int
run_schedule(dsf_schedule_t *s, dsf_round_fn round, void *sink)
{
    char extras[256];

    while (!stop_requested) {
        double now = (double) now_us() / 1e6;

        for (int i = 0; i < s->n; i++) {
            if (now < s->next_at[i]) {
                continue;
            }
            /* Jitter of ±25 % so the games do not tick in lockstep. */
            s->next_at[i] = now + s->period[i] / s->speed
                                  * (0.75 + 0.5 * rand_r(&s->seed) / (double) RAND_MAX);
            if (dsf_reference_extras(extras, sizeof(extras), s->game[i], schedule_roll(s)) < 0
                || round(sink, s, s->game[i], extras) != 0)
            {
                return -1;
            }
        }
        usleep(20000);
    }
    return 0;
}

/* The envelopes Debezium would publish, straight into JetStream. */
typedef struct {
    dsf_nats_t       fn;
    const dsf_args_t *a;
    char              subject[256];
    long long         round_id;    /* the last one published */
    long long         published;
} dsf_envelope_sink_t;

static int
publish_round(void *sink, dsf_schedule_t *s, const dsf_game_t *game, const char *extras)
{
    dsf_envelope_sink_t *es = sink;
    char                 buf[DSF_ENVELOPE_MAX];
    int64_t              t = now_us();
    dsf_change_t         chg = { DATASTREAM_OP_CREATE, t, t / 1000, es->a->with_schema, es->a->prefix };
    dsf_round_t          round = { es->round_id + 1, game->id, t, extras };
    int                  len;

    (void) s;
    if ((len = dsf_envelope_round(buf, sizeof(buf), &chg, &round)) < 0
        || dsf_nats_publish(&es->fn, es->subject, buf, len) != 0
        || dsf_nats_flush(&es->fn, 5000) != 0)
    {
        return -1;
    }
    es->round_id++;
    es->published++;
    if (save_last_round_id(es->a->state_file, es->round_id) != 0) {
        fprintf(stderr, "{\"level\":\"warn\",\"msg\":\"cannot save feed state\",\"path\":\"%s\"}\n",
                es->a->state_file);
    }
    return 0;
}

static int
demo_envelopes(const dsf_args_t *a)
{
    dsf_envelope_sink_t es = { .a = a };
    dsf_schedule_t      s;
    int                 rc;

    if (connect_with_stream(&es.fn, a) != 0) {
        return 1;
    }
    if (publish_reference_games(&es.fn, a, es.subject, sizeof(es.subject)) != 0
        || (size_t) snprintf(es.subject, sizeof(es.subject), "%s.public.rounds", a->prefix) >= sizeof(es.subject)
        || schedule_init(&s, a->speed) != 0)
    {
        dsf_nats_close(&es.fn);
        return 1;
    }
    es.round_id = load_last_round_id(a->state_file);
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"demo feed started\",\"subject\":\"%s\",\"next_round_id\":%lld}\n",
            es.subject, es.round_id + 1);

    rc = run_schedule(&s, publish_round, &es);
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"demo feed stopped\",\"rounds\":%lld,\"last_round_id\":%lld}\n",
            es.published, es.round_id);
    dsf_nats_close(&es.fn);
    return rc == 0 ? 0 : 1;
}

/* Rows, as a game platform writes them; besides the inserts, what such a
 * platform also does now and then, so that every kind of change reaches the
 * CDC bridge. */
#define DSF_ROWS_RESETTLE_EVERY 40   /* rounds between two updates */
#define DSF_ROWS_DELETE_EVERY   100  /* rounds between two deletes */
#define DSF_ROWS_ADD_GAME_AT    20   /* the round after which the fifth game opens */

typedef struct {
    dsf_pg_t  pg;
    long long min_id;    /* --start-id: above the rounds the envelope demo published */
    long long last_id;   /* the table's highest at start, then this feed's last round */
    long long inserted;
} dsf_rows_sink_t;

static int
insert_round(void *sink, dsf_schedule_t *s, const dsf_game_t *game, const char *extras)
{
    dsf_rows_sink_t *rs = sink;
    char             fixed[256];
    long long        id;

    if (dsf_pg_insert_round(&rs->pg, game->id, extras, rs->min_id, &id) != 0) {
        return -1;
    }
    rs->last_id = id;
    rs->inserted++;
    if (rs->inserted % DSF_ROWS_RESETTLE_EVERY == 0) {
        /* A correction: the game's previous round gets another result. */
        if (dsf_reference_extras(fixed, sizeof(fixed), game, schedule_roll(s)) < 0
            || dsf_pg_resettle_round(&rs->pg, game->id, rs->last_id, fixed, &id) != 0)
        {
            return -1;
        }
        fprintf(stderr, "{\"level\":\"info\",\"msg\":\"round updated\",\"round_id\":%lld}\n", id);
    }
    if (rs->inserted % DSF_ROWS_DELETE_EVERY == 0) {
        if (dsf_pg_delete_oldest_round(&rs->pg, &id) != 0) {
            return -1;
        }
        fprintf(stderr, "{\"level\":\"info\",\"msg\":\"round deleted\",\"round_id\":%lld}\n", id);
    }
    if (rs->inserted == DSF_ROWS_ADD_GAME_AT) {
        if (dsf_pg_add_game(&rs->pg, &dsf_added_game) != 0
            || schedule_add(s, &dsf_added_game, dsf_added_game_period, dsf_added_game_period) != 0)
        {
            return -1;
        }
        fprintf(stderr, "{\"level\":\"info\",\"msg\":\"game added\",\"game_id\":%d,\"slug\":\"%s\"}\n",
                dsf_added_game.id, dsf_added_game.slug);
    }
    return 0;
}

static int
demo_rows(const dsf_args_t *a)
{
    dsf_rows_sink_t rs = { .min_id = a->start_id };
    dsf_schedule_t  s;
    int             rc;

    if (dsf_pg_connect(&rs.pg, a->database, &stop_requested) != 0) {
        return 1;
    }
    for (int i = 0; i < DSF_REFERENCE_GAMES; i++) {
        if (dsf_pg_add_game(&rs.pg, &dsf_reference_games[i]) != 0) {
            dsf_pg_close(&rs.pg);
            return 1;
        }
    }
    if (dsf_pg_last_round_id(&rs.pg, &rs.last_id) != 0 || schedule_init(&s, a->speed) != 0) {
        dsf_pg_close(&rs.pg);
        return 1;
    }
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"demo feed started\",\"table\":\"rounds\",\"next_round_id\":%lld}\n",
            rs.last_id + 1 > rs.min_id ? rs.last_id + 1 : rs.min_id);

    rc = run_schedule(&s, insert_round, &rs);
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"demo feed stopped\",\"rounds\":%lld,\"last_round_id\":%lld}\n",
            rs.inserted, rs.last_id);
    dsf_pg_close(&rs.pg);
    return rc == 0 ? 0 : 1;
}

static int
cmd_demo(const dsf_args_t *a)
{
    return a->database != NULL ? demo_rows(a) : demo_envelopes(a);
}

int
main(int argc, char **argv)
{
    dsf_args_t a;
    const char *command;
    int         rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    command = argv[1];
    if (parse_args(argc - 1, argv + 1, &a) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    if (strcmp(command, "pub") == 0) {
        rc = cmd_pub(&a);
    } else if (strcmp(command, "sub") == 0) {
        rc = cmd_sub(&a);
    } else if (strcmp(command, "gen") == 0) {
        rc = cmd_gen(&a, optind < argc - 1 ? argv[optind + 1] : NULL);
    } else if (strcmp(command, "demo") == 0) {
        rc = cmd_demo(&a);
    } else {
        usage(stderr);
        rc = 2;
    }
    nats_Close();
    return rc;
}
