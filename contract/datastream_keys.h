/*
 * The Redis layout's key names, for the C programs (consumer, module, key tool): every key
 * name any of them sends to Redis is built here.  The consumer's Lua scripts build the same
 * names with consumer/src/lua/lib/keys.lua, the tests with t/lib/DataStream/Keys.pm; the
 * table in docs/design.md says what each key holds.
 */
#ifndef DATASTREAM_KEYS_H
#define DATASTREAM_KEYS_H

#include <stddef.h>
#include <string.h>


typedef enum {
    DATASTREAM_KEY_GAMES = 0,           /* games                  hash slug -> game JSON */
    DATASTREAM_KEY_GAME_IDS,            /* game_ids               hash id -> slug */
    DATASTREAM_KEY_GAMES_REVISION,      /* games:rev              revision of the registry */
    DATASTREAM_KEY_GAME_VERSION,        /* gv:{game id}           LSN of the game's last event */
    DATASTREAM_KEY_HISTORY_GAME,        /* h:game:{slug}          zset of round JSON */
    DATASTREAM_KEY_HISTORY_TYPE,        /* h:type:{type}          zset of round JSON */
    DATASTREAM_KEY_HISTORIES,           /* h:keys                 set of history keys */
    DATASTREAM_KEY_HISTORY_REVISIONS,   /* hrev                   hash history -> revision */
    DATASTREAM_KEY_HISTORY_REVISION_SEQ, /* hrev:seq              revision counter */
    DATASTREAM_KEY_ROUND_VERSION,       /* rv:{round id}          hash of the applied version */
    DATASTREAM_KEY_TRUNCATED_LSN,       /* truncated_lsn          LSN of the last truncate */
    DATASTREAM_KEY_APIKEY,              /* apikey:{hash}          hash of one API key */
    DATASTREAM_KEY_APIKEYS,             /* apikeys                set of key hashes */
    DATASTREAM_KEY_RATE,                /* rl:{key id}:{window}   request counter */
    DATASTREAM_KEY_COUNT
} datastream_key_e;

/*
 * nchan's Redis storage (not ours, nchan 1.3.6's layout): a channel's hash is
 * "{channel:/<channel id>}", its message ids "...}:messages" (newest first), each message
 * "...}:msg:<message id>" with the body in field data.  The module reads a channel's newest
 * message id; the consumer writes the messages (consumer/src/lua/lib/nchan_storage.lua).
 */
#define DATASTREAM_NCHAN_CHANNEL_KEY  "{channel:/"

typedef struct {
    const char  *stem;
    size_t       parts;    /* variable parts after the stem, each behind a ':' */
} datastream_key_t;

/* One variable part of a key name: len bytes at data, no terminator needed. */
typedef struct {
    const char  *data;
    size_t       len;
} datastream_key_part_t;

#define DATASTREAM_KEY_PARTS_MAX  2


static inline const datastream_key_t *
datastream_key_info(datastream_key_e key)
{
    static const datastream_key_t  keys[DATASTREAM_KEY_COUNT] = {
        [DATASTREAM_KEY_GAMES]                = { "games", 0 },
        [DATASTREAM_KEY_GAME_IDS]             = { "game_ids", 0 },
        [DATASTREAM_KEY_GAMES_REVISION]       = { "games:rev", 0 },
        [DATASTREAM_KEY_GAME_VERSION]         = { "gv", 1 },
        [DATASTREAM_KEY_HISTORY_GAME]         = { "h:game", 1 },
        [DATASTREAM_KEY_HISTORY_TYPE]         = { "h:type", 1 },
        [DATASTREAM_KEY_HISTORIES]            = { "h:keys", 0 },
        [DATASTREAM_KEY_HISTORY_REVISIONS]    = { "hrev", 0 },
        [DATASTREAM_KEY_HISTORY_REVISION_SEQ] = { "hrev:seq", 0 },
        [DATASTREAM_KEY_ROUND_VERSION]        = { "rv", 1 },
        [DATASTREAM_KEY_TRUNCATED_LSN]        = { "truncated_lsn", 0 },
        [DATASTREAM_KEY_APIKEY]               = { "apikey", 1 },
        [DATASTREAM_KEY_APIKEYS]              = { "apikeys", 0 },
        [DATASTREAM_KEY_RATE]                 = { "rl", 2 },
    };

    return key < DATASTREAM_KEY_COUNT ? &keys[key] : NULL;
}


/*
 * Writes prefix, stem and parts of key into out, NUL-terminated, and returns the name's
 * length; 0 when the name and its NUL do not fit in size bytes or the number of parts is not
 * the key's.  A history's field in DATASTREAM_KEY_HISTORY_REVISIONS is its name without
 * the prefix: pass an empty prefix.
 */
static inline size_t
datastream_key_build(char *out, size_t size, const char *prefix, size_t prefix_len,
    datastream_key_e key, const datastream_key_part_t *parts, size_t nparts)
{
    const datastream_key_t  *k = datastream_key_info(key);
    size_t                   stem_len, len, i;

    if (k == NULL || nparts != k->parts) {
        return 0;
    }

    stem_len = strlen(k->stem);
    len = prefix_len + stem_len;
    for (i = 0; i < nparts; i++) {
        len += 1 + parts[i].len;
    }

    if (len >= size) {
        return 0;
    }

    /* an empty prefix or part may come as NULL, which memcpy must never see */
    if (prefix_len) {
        memcpy(out, prefix, prefix_len);
    }

    memcpy(out + prefix_len, k->stem, stem_len);
    out += prefix_len + stem_len;

    for (i = 0; i < nparts; i++) {
        *out++ = ':';
        if (parts[i].len) {
            memcpy(out, parts[i].data, parts[i].len);
            out += parts[i].len;
        }
    }

    *out = '\0';

    return len;
}


/* Bytes datastream_key_build needs for key, its NUL included, with parts totalling parts_len. */
static inline size_t
datastream_key_size(size_t prefix_len, datastream_key_e key, size_t parts_len)
{
    const datastream_key_t  *k = datastream_key_info(key);

    return k == NULL ? 0 : prefix_len + strlen(k->stem) + k->parts + parts_len + 1;
}

#endif /* DATASTREAM_KEYS_H */
