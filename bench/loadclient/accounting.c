#include "accounting.h"

#include <stdlib.h>
#include <string.h>

/* Rounds older than the first one seen still count when they arrive later
 * (nchan's "newest" message, an SSE replay), up to this many below it. */
#define ACCT_BACK_IDS  65536
/* 8 MiB of bitmap per channel at most: 67 million round ids. */
#define ACCT_MAX_WORDS ((size_t) 1 << 20)

void
acct_init(acct_t *a)
{
    memset(a, 0, sizeof(*a));
    a->base = -1;
}

void
acct_free(acct_t *a)
{
    for (int i = 0; i < a->nchannels; i++) {
        free(a->channels[i].seen);
    }
    acct_init(a);
}

int
acct_channel(acct_t *a, const char *path)
{
    const char *name, *end;
    size_t      len;

    name = (path[0] == '/') ? strchr(path + 1, '/') : NULL;
    if (name == NULL || *++name == '\0') {
        return -1;
    }
    end = strchr(name, '?');
    len = end ? (size_t) (end - name) : strlen(name);
    if (len == 0 || len >= ACCT_NAME_MAX) {
        return -1;
    }
    for (int i = 0; i < a->nchannels; i++) {
        if (strlen(a->channels[i].name) == len && memcmp(a->channels[i].name, name, len) == 0) {
            return i;
        }
    }
    if (a->nchannels == ACCT_CHANNELS) {
        return -1;
    }
    memcpy(a->channels[a->nchannels].name, name, len);
    a->channels[a->nchannels].name[len] = '\0';
    return a->nchannels++;
}

/* Bit index of id in the channel's bitmap, growing it; -1 outside the window, -2 out of memory. */
static long long
acct_bit(acct_t *a, acct_channel_t *ch, long long id)
{
    long long bit;
    size_t    need;

    if (a->base < 0) {
        a->base = id > ACCT_BACK_IDS ? id - ACCT_BACK_IDS : 0;
    }
    bit = id - a->base;
    if (bit < 0 || (unsigned long long) bit / 64 >= ACCT_MAX_WORDS) {
        return -1;
    }
    need = (size_t) bit / 64 + 1;
    if (need > ch->words) {
        size_t    words = ch->words ? ch->words : 1024;
        uint64_t *grown;

        while (words < need) {
            words *= 2;
        }
        if (words > ACCT_MAX_WORDS) {
            words = ACCT_MAX_WORDS;
        }
        grown = realloc(ch->seen, words * sizeof(*grown));
        if (grown == NULL) {
            return -2;
        }
        memset(grown + ch->words, 0, (words - ch->words) * sizeof(*grown));
        ch->seen = grown;
        ch->words = words;
    }
    return bit;
}

int
acct_round(acct_t *a, acct_sub_t *s, long long id)
{
    acct_channel_t *ch;
    long long       bit;

    if (s->channel < 0 || s->channel >= a->nchannels || id <= 0) {
        return 0;
    }
    ch = &a->channels[s->channel];
    bit = acct_bit(a, ch, id);
    if (bit == -2) {
        return -1;
    }
    if (bit < 0) {
        a->outside++;
        return 0;
    }
    ch->seen[bit / 64] |= (uint64_t) 1 << (bit % 64);
    if (ch->lo == 0 || id < ch->lo) ch->lo = id;
    if (id > ch->hi) ch->hi = id;

    if (s->first == 0) {
        s->first = s->last = id;
        s->received = 1;
    } else if (id <= s->last) {
        s->repeated++;
    } else {
        s->last = id;
        s->received++;
    }
    return 0;
}

/* Set bits in [from, to] of the OR of the given bitmaps. */
static long long
count_bits(const acct_channel_t *const *chs, int n, long long from, long long to)
{
    long long count = 0;

    for (long long w = from / 64; w <= to / 64; w++) {
        uint64_t word = 0;

        for (int i = 0; i < n; i++) {
            if ((size_t) w < chs[i]->words) {
                word |= chs[i]->seen[w];
            }
        }
        if (w == from / 64) word &= ~(uint64_t) 0 << (from % 64);
        if (w == to / 64 && to % 64 != 63) word &= ((uint64_t) 1 << (to % 64 + 1)) - 1;
        count += __builtin_popcountll(word);
    }
    return count;
}

long long
acct_lost(const acct_t *a, const acct_sub_t *s)
{
    const acct_channel_t *ch;

    if (s->channel < 0 || s->channel >= a->nchannels || s->first == 0 || s->last == s->first) {
        return 0;
    }
    ch = &a->channels[s->channel];
    return count_bits(&ch, 1, s->first + 1 - a->base, s->last - a->base) - (s->received - 1);
}

long long
acct_missed_by_all(const acct_t *a)
{
    const acct_channel_t *chs[ACCT_CHANNELS];
    long long             lo = 0, hi = 0;
    int                   n = 0;

    for (int i = 0; i < a->nchannels; i++) {
        const acct_channel_t *ch = &a->channels[i];

        if (ch->lo == 0) {
            return 0;    /* a channel nobody heard from: no span was watched by all */
        }
        if (n == 0 || ch->lo > lo) lo = ch->lo;
        if (n == 0 || ch->hi < hi) hi = ch->hi;
        chs[n++] = ch;
    }
    if (n == 0 || hi <= lo) {
        return 0;
    }
    return (hi - lo + 1) - count_bits(chs, n, lo - a->base, hi - a->base);
}
