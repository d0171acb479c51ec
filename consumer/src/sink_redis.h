/* Redis read model, and nchan's storage for live rounds (written by the same script run that
 * applies them): every change is one Lua script run with EVALSHA (EVAL after NOSCRIPT),
 * pipelined per batch. Scripts check LSNs, so replays and reordering change nothing. */
#ifndef DSC_SINK_REDIS_H
#define DSC_SINK_REDIS_H

#include "config.h"
#include "event.h"
#include "games_cache.h"
#include "round_map.h"

#include <stdbool.h>

typedef struct dsc_redis_s dsc_redis_t;

typedef enum { DSC_APPLY_APPLIED, DSC_APPLY_DUPLICATE, DSC_APPLY_STALE } dsc_apply_status_e;

/* Whether an event's NATS publication is owed, and whether this process may make it now.
 * Only the holder of a round's publication lease publishes its versions there; nchan got the
 * version in the apply itself (rounds_apply.lua). */
typedef enum {
    DSC_PUBLISH_NONE,       /* nothing owed */
    DSC_PUBLISH_OWED,       /* owed; this process holds the round's lease */
    DSC_PUBLISH_LEASE_BUSY, /* owed; another process holds the lease and publishes first */
} dsc_publish_due_e;

typedef struct {
    const dsc_round_event_t *ev;
    const char *json;   /* ops with an after row only, as slug and type */
    const char *slug;
    const char *type;
    dsc_apply_status_e status;  /* out */
    dsc_publish_due_e publish;  /* out */
} dsc_round_apply_t;

dsc_redis_t *dsc_redis_new(const dsc_config_t *cfg);
void dsc_redis_free(dsc_redis_t *r);

/* Connects (and loads the scripts) when not connected. 0 when usable. */
int dsc_redis_ensure(dsc_redis_t *r);
/* Liveness probe that also reads INFO memory: used_memory and maxmemory in bytes (0 = no
 * limit), so a Redis that will soon refuse writes (noeviction) shows before it does. */
int dsc_redis_probe_memory(dsc_redis_t *r, int64_t *used, int64_t *max);

/* dsc_redis_apply_rounds: a game changed after the batch's names were read; nothing applied. */
#define DSC_REDIS_REGISTRY_CHANGED 1

/* Each call is one pipelined round trip; -1 when Redis failed (nothing is known about
 * items without a result; replaying them is harmless). registry_rev: the games registry's
 * revision the items' slugs and types were read at, or "*" when none needs a game. */
int dsc_redis_apply_rounds(dsc_redis_t *r, dsc_round_apply_t *items, size_t n,
                           const char *registry_rev);
/* Records the publications and ends this process's leases on their rounds. */
int dsc_redis_mark_published(dsc_redis_t *r, dsc_round_apply_t *const *items, size_t n);
/* Before a late publication attempt: renews (or takes again) this process's lease for each
 * version; keep[i] false when the version must be dropped because a newer one overtook it. */
int dsc_redis_hold_leases(dsc_redis_t *r, dsc_round_apply_t *const *items, size_t n,
                          bool *keep);
int dsc_redis_apply_game(dsc_redis_t *r, const dsc_game_event_t *ev,
                         dsc_apply_status_e *status);

/* Fills out[i] for each game id found; found[i] tells which; rev gets the registry's revision
 * at that read. */
int dsc_redis_lookup_games(dsc_redis_t *r, const int64_t *ids, size_t n, dsc_game_ref_t *out,
                           bool *found, char rev[DSC_REGISTRY_REV_MAX]);

#endif
