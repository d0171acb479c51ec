#include "pg_io.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DSF_PG_RECONNECT_S 30

/* libpq's messages end in a newline and may hold quotes: log lines are built
 * by jansson. Takes the reference to o. */
static void
emit(json_t *o, const char *level, const char *msg)
{
    char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    if (line != NULL) {
        fprintf(stderr, "%s\n", line);
    } else {
        fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"%s\"}\n", level, msg);
    }
    free(line);
    json_decref(o);
}

static void
log_line(const char *level, const char *msg, const char *what, const char *error)
{
    json_t *o = json_pack("{s:s,s:s}", "level", level, "msg", msg);
    json_t *e;
    char    err[512];
    size_t  len;

    if (o != NULL && what != NULL && json_object_set_new(o, "statement", json_string(what)) != 0) {
        json_decref(o);
        o = NULL;
    }
    if (o != NULL && error != NULL) {
        len = strlen(error);
        while (len > 0 && (error[len - 1] == '\n' || error[len - 1] == ' ')) {
            len--;
        }
        if (len >= sizeof(err)) {
            len = sizeof(err) - 1;
        }
        memcpy(err, error, len);
        err[len] = '\0';
        /* json_string refuses text that is not UTF-8 (or cut inside a
         * character): the line then goes without the message. */
        if ((e = json_string(err)) == NULL) {
            e = json_string("(not UTF-8)");
        }
        if (json_object_set_new(o, "error", e) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    emit(o, level, msg);
}

static const char *
or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static int
connected(dsf_pg_t *pg)
{
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        return -1;
    }
    /* Where, never the password the URL may carry. */
    emit(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "level", "info", "msg", "connected to PostgreSQL",
                   "host", or_empty(PQhost(pg->conn)), "port", or_empty(PQport(pg->conn)),
                   "database", or_empty(PQdb(pg->conn)), "user", or_empty(PQuser(pg->conn))),
         "info", "connected to PostgreSQL");
    return 0;
}

int
dsf_pg_connect(dsf_pg_t *pg, const char *url, volatile sig_atomic_t *stop)
{
    /* A URL's own settings come after these defaults and win over them. */
    static const char *const keywords[] = {
        "fallback_application_name", "connect_timeout", "dbname", NULL
    };
    const char *values[] = { "datastream-feed", "5", url, NULL };

    pg->stop = stop;
    pg->conn = PQconnectdbParams(keywords, values, 1);
    if (pg->conn == NULL) {
        log_line("error", "cannot connect to PostgreSQL", NULL, "out of memory");
        return -1;
    }
    if (connected(pg) != 0) {
        log_line("error", "cannot connect to PostgreSQL", NULL, PQerrorMessage(pg->conn));
        dsf_pg_close(pg);
        return -1;
    }
    return 0;
}

void
dsf_pg_close(dsf_pg_t *pg)
{
    PQfinish(pg->conn);
    pg->conn = NULL;
}

static int
reconnect(dsf_pg_t *pg)
{
    time_t          deadline = time(NULL) + DSF_PG_RECONNECT_S;
    struct timespec pause = { 1, 0 };

    log_line("warn", "connection to PostgreSQL lost, reconnecting", NULL, PQerrorMessage(pg->conn));
    while (!*pg->stop && time(NULL) < deadline) {
        PQreset(pg->conn);
        if (connected(pg) == 0) {
            return 0;
        }
        /* A signal cuts the pause short; the loop then sees the stop. */
        if (nanosleep(&pause, NULL) != 0 && errno != EINTR) {
            break;
        }
    }
    log_line("error", "cannot reconnect to PostgreSQL", NULL, PQerrorMessage(pg->conn));
    return -1;
}

/* Runs one parameterised statement; NULL unless it ended in `want`. */
static PGresult *
query(dsf_pg_t *pg, const char *what, const char *sql, int nparams,
      const char *const *params, ExecStatusType want)
{
    for (int attempt = 0; ; attempt++) {
        PGresult *res = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);

        if (res != NULL && PQresultStatus(res) == want) {
            return res;
        }
        PQclear(res);
        if (attempt > 0 || PQstatus(pg->conn) != CONNECTION_BAD) {
            log_line("error", "PostgreSQL statement failed", what, PQerrorMessage(pg->conn));
            return NULL;
        }
        if (reconnect(pg) != 0) {
            return NULL;
        }
    }
}

/* The bigint in the first column of the first row, 0 when there is no row
 * or it is NULL. */
static int
first_id(PGresult *res, const char *what, long long *id)
{
    char *end;

    *id = 0;
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        return 0;
    }
    errno = 0;
    *id = strtoll(PQgetvalue(res, 0, 0), &end, 10);
    if (errno != 0 || *end != '\0') {
        log_line("error", "PostgreSQL returned no id", what, PQgetvalue(res, 0, 0));
        return -1;
    }
    return 0;
}

static int
query_id(dsf_pg_t *pg, const char *what, const char *sql, int nparams,
         const char *const *params, long long *id)
{
    PGresult *res = query(pg, what, sql, nparams, params, PGRES_TUPLES_OK);
    int       rc;

    if (res == NULL) {
        return -1;
    }
    rc = first_id(res, what, id);
    PQclear(res);
    return rc;
}

int
dsf_pg_add_game(dsf_pg_t *pg, const dsf_game_t *game)
{
    char              id[16];
    const char *const params[] = { id, game->slug, game->name, game->type };
    PGresult         *res;

    if ((size_t) snprintf(id, sizeof(id), "%d", game->id) >= sizeof(id)) {
        return -1;
    }
    res = query(pg, "add game",
                "INSERT INTO games (id, slug, name, type) VALUES ($1::int, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                4, params, PGRES_COMMAND_OK);
    PQclear(res);
    return res == NULL ? -1 : 0;
}

int
dsf_pg_last_round_id(dsf_pg_t *pg, long long *id)
{
    return query_id(pg, "last round id", "SELECT max(id) FROM rounds", 0, NULL, id);
}

int
dsf_pg_insert_round(dsf_pg_t *pg, int game_id, const char *extras, long long min_id,
                     long long *id)
{
    char              game[16];
    char              min[24];
    const char *const params[] = { game, extras, min };

    if ((size_t) snprintf(game, sizeof(game), "%d", game_id) >= sizeof(game)
        || (size_t) snprintf(min, sizeof(min), "%lld", min_id) >= sizeof(min))
    {
        return -1;
    }
    /* Another writer's transaction may hold the next id until it commits:
     * the insert then yields nothing and takes the id after it. */
    for (int attempt = 0; attempt < 5; attempt++) {
        if (query_id(pg, "insert round",
                     "INSERT INTO rounds (id, game_id, finished_at, extras)"
                     " SELECT greatest(coalesce(max(id), 0) + 1, $3::bigint), $1::int, now(), $2::jsonb"
                     " FROM rounds ON CONFLICT (id) DO NOTHING RETURNING id",
                     3, params, id) != 0)
        {
            return -1;
        }
        if (*id != 0) {
            return 0;
        }
    }
    log_line("error", "no free round id", "insert round", NULL);
    return -1;
}

int
dsf_pg_resettle_round(dsf_pg_t *pg, int game_id, long long before_id,
                       const char *extras, long long *id)
{
    char              game[16];
    char              before[24];
    const char *const params[] = { game, before, extras };

    if ((size_t) snprintf(game, sizeof(game), "%d", game_id) >= sizeof(game)
        || (size_t) snprintf(before, sizeof(before), "%lld", before_id) >= sizeof(before))
    {
        return -1;
    }
    return query_id(pg, "resettle round",
                    "UPDATE rounds SET extras = $3::jsonb WHERE id ="
                    " (SELECT max(id) FROM rounds WHERE game_id = $1::int AND id < $2::bigint)"
                    " RETURNING id",
                    3, params, id);
}

int
dsf_pg_delete_oldest_round(dsf_pg_t *pg, long long *id)
{
    return query_id(pg, "delete round",
                    "DELETE FROM rounds WHERE id = (SELECT min(id) FROM rounds) RETURNING id",
                    0, NULL, id);
}
