/* Round accounting of datastream-loadclient (--account): which rounds each
 * subscriber received, against what its channel carried. A subscriber that
 * stays connected, or resumes after its stream ended, must see every round of
 * its channel once and in order from its first one on; what its channel
 * carried is the union of what all its subscribers saw. No I/O here. */
#ifndef DATASTREAM_LOADCLIENT_ACCOUNTING_H
#define DATASTREAM_LOADCLIENT_ACCOUNTING_H

#include <stddef.h>
#include <stdint.h>

#define ACCT_NAME_MAX  128
#define ACCT_CHANNELS  64

typedef struct {
    char       name[ACCT_NAME_MAX];   /* "crash", "type/multiplier" */
    uint64_t  *seen;                  /* bit (id - base) set once any subscriber got round id */
    size_t     words;
    long long  lo, hi;                /* smallest and largest round id seen; 0 = none */
} acct_channel_t;

typedef struct {
    acct_channel_t  channels[ACCT_CHANNELS];
    int             nchannels;
    long long       base;             /* round id of bit 0; -1 until the first round */
    long long       outside;          /* rounds below base or past the largest window */
} acct_t;

typedef struct {
    int        channel;               /* index into acct_t.channels, -1 = not accounted */
    long long  first, last;           /* round ids; 0 = none yet */
    long long  received;              /* distinct rounds from first to last */
    long long  repeated;              /* rounds not above the last one: repeats or out of order */
} acct_sub_t;

void acct_init(acct_t *a);
void acct_free(acct_t *a);

/* The channel of a subscriber path (/ws/crash, /sse/type/color?api_key=..):
 * the path after its first segment, without the query. Index, or -1 when
 * the path names none or the table is full. */
int acct_channel(acct_t *a, const char *path);

/* Subscriber s received round id. -1 when out of memory. */
int acct_round(acct_t *a, acct_sub_t *s, long long id);

/* Rounds of s's channel between its first and last round that s never got. */
long long acct_lost(const acct_t *a, const acct_sub_t *s);

/* For round ids that are one contiguous sequence over all channels together
 * (every round on one game channel and one type channel): ids inside the span
 * every channel was watched that no subscriber of any channel received. */
long long acct_missed_by_all(const acct_t *a);

#endif
