/* Redis read model: every change is one Lua script run with EVALSHA (EVAL after NOSCRIPT),
 * pipelined per batch. Scripts check LSNs, so replays and reordering change nothing. */
#ifndef DS_SINK_REDIS_H
#define DS_SINK_REDIS_H

#include "config.h"
#include "event.h"
#include "round_map.h"

#include <stdbool.h>

typedef struct ds_redis ds_redis;

typedef enum { APPLY_APPLIED, APPLY_DUPLICATE, APPLY_STALE } ds_apply_status;

/* Whether an event's live publication is owed, and whether this process may make it now.
 * Only the holder of a round's publication lease publishes its versions (rounds_apply.lua). */
typedef enum {
    PUBLISH_NONE,       /* nothing owed */
    PUBLISH_OWED,       /* owed; this process holds the round's lease */
    PUBLISH_LEASE_BUSY, /* owed; another process holds the lease and publishes first */
} ds_publish_due;

typedef struct {
    const ds_round_event *ev;
    const char *json;   /* c/u/r only */
    const char *slug;
    const char *type;
    ds_apply_status status;     /* out */
    ds_publish_due publish;     /* out */
} ds_round_apply;

ds_redis *ds_redis_new(const ds_config *cfg);
void ds_redis_free(ds_redis *r);

/* Connects (and loads the scripts) when not connected. 0 when usable. */
int ds_redis_ensure(ds_redis *r);
int ds_redis_ping(ds_redis *r);

/* Each call is one pipelined round trip; -1 when Redis failed (nothing is known about
 * items without a result; replaying them is harmless). */
int ds_redis_apply_rounds(ds_redis *r, ds_round_apply *items, size_t n);
/* Records the publications and ends this process's leases on their rounds. */
int ds_redis_mark_published(ds_redis *r, ds_round_apply *const *items, size_t n);
/* Before a late publication attempt: renews (or takes again) this process's lease for each
 * version; keep[i] false when the version must be dropped because a newer one overtook it. */
int ds_redis_hold_leases(ds_redis *r, ds_round_apply *const *items, size_t n, bool *keep);
int ds_redis_apply_game(ds_redis *r, const ds_game_event *ev, ds_apply_status *status);

/* Fills out[i] for each game id found; found[i] tells which. */
int ds_redis_lookup_games(ds_redis *r, const int64_t *ids, size_t n, ds_game_ref *out,
                          bool *found);

#endif
