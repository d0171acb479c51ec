/* The PostgreSQL side of the feed tool: the demo's rows, written the way a
 * game platform writes them, for the CDC bridge to capture. */
#ifndef DSF_PG_IO_H
#define DSF_PG_IO_H

#include <libpq-fe.h>
#include <signal.h>

#include "envelope.h"

typedef struct {
    PGconn                *conn;
    volatile sig_atomic_t *stop;   /* a reconnect in progress gives up once set */
} dsf_pg_t;

/* Connects to `url` (any libpq connection string or URI). A statement that
 * fails because the connection is lost is retried once after a reconnect;
 * each function returns -1 on any other failure, and after 30 s without a
 * connection. */
int  dsf_pg_connect(dsf_pg_t *pg, const char *url, volatile sig_atomic_t *stop);
void dsf_pg_close(dsf_pg_t *pg);

/* Inserts the game unless its id or its slug is taken. */
int  dsf_pg_add_game(dsf_pg_t *pg, const dsf_game_t *game);

/* The highest round id in the table, 0 when it is empty. */
int  dsf_pg_last_round_id(dsf_pg_t *pg, long long *id);

/* Inserts a round of game_id finished now, with the id after the highest in
 * the table at that moment (rows written by others meanwhile included), and
 * at least min_id. */
int  dsf_pg_insert_round(dsf_pg_t *pg, int game_id, const char *extras, long long min_id,
                          long long *id);

/* Gives the newest round of game_id below before_id new extras; *id is that
 * round, 0 when there is none. */
int  dsf_pg_resettle_round(dsf_pg_t *pg, int game_id, long long before_id,
                            const char *extras, long long *id);

/* Deletes the oldest round; *id is that round, 0 when the table is empty. */
int  dsf_pg_delete_oldest_round(dsf_pg_t *pg, long long *id);

#endif
