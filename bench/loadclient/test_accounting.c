/* Unit tests of the soak's round accounting (accounting.h). */
#include <stdbool.h>

#include "../../consumer/test/tap.h"
#include "accounting.h"

static acct_sub_t
subscriber(acct_t *a, const char *path)
{
    acct_sub_t s = { acct_channel(a, path), 0, 0, 0, 0 };
    return s;
}

static void
receive(acct_t *a, acct_sub_t *s, long long from, long long to, long long skip)
{
    for (long long id = from; id <= to; id++) {
        if (id != skip) {
            if (acct_round(a, s, id) != 0) ok(0, "round %lld accounted", id);
        }
    }
}

int
main(void)
{
    acct_t a;

    acct_init(&a);
    ok(acct_channel(&a, "/ws/crash") == 0, "first channel");
    ok(acct_channel(&a, "/sse/crash?api_key=sk_x") == 0, "same channel over SSE, query left out");
    ok(acct_channel(&a, "/sse/type/color") == 1, "type channel of its own");
    ok(acct_channel(&a, "/ws/") == -1 && acct_channel(&a, "/") == -1 && acct_channel(&a, "crash") == -1,
       "paths naming no channel");

    acct_sub_t whole = subscriber(&a, "/ws/crash"), gap = subscriber(&a, "/sse/crash");
    receive(&a, &whole, 1000, 1010, 0);
    receive(&a, &gap, 1000, 1010, 1005);
    ok(acct_lost(&a, &whole) == 0 && whole.repeated == 0, "every round: nothing lost");
    ok(acct_lost(&a, &gap) == 1, "a round its channel carried and it did not get: lost (%lld)", acct_lost(&a, &gap));
    ok(acct_round(&a, &gap, 1007) == 0 && gap.repeated == 1, "a round again: repeated");
    ok(acct_round(&a, &gap, 1005) == 0 && gap.repeated == 2 && acct_lost(&a, &gap) == 1,
       "the lost round late, out of order: repeated, still lost");

    acct_sub_t late = subscriber(&a, "/ws/crash");
    receive(&a, &late, 1008, 1010, 0);
    ok(acct_lost(&a, &late) == 0, "a subscriber is judged from its first round on");

    /* Two channels sharing one id sequence: odd ids on one, even on the other. */
    acct_t b;
    acct_init(&b);
    acct_sub_t odd = subscriber(&b, "/ws/crash"), even = subscriber(&b, "/ws/double");
    for (long long id = 1; id <= 200; id++) {
        if (id == 150) continue;                          /* nobody got it */
        acct_round(&b, id % 2 ? &odd : &even, id);
    }
    ok(acct_missed_by_all(&b) == 1, "a round no subscriber got: missed by all (%lld)", acct_missed_by_all(&b));
    ok(acct_lost(&b, &even) == 0, "...and not lost by anyone: the union never had it");
    acct_sub_t silent = subscriber(&b, "/ws/slot");
    (void) silent;
    ok(acct_missed_by_all(&b) == 0, "a channel nobody heard from: no span to judge");
    acct_free(&b);

    /* Far apart ids: the bitmap grows, counts cross word boundaries. */
    acct_t c;
    acct_init(&c);
    acct_sub_t far = subscriber(&c, "/ws/crash"), far_gap = subscriber(&c, "/ws/crash");
    for (long long id = 70000; id <= 400000; id += 7) {
        acct_round(&c, &far, id);
        if (id != 70007 && id != 399987) acct_round(&c, &far_gap, id);
    }
    ok(acct_lost(&c, &far) == 0 && acct_lost(&c, &far_gap) == 2, "lost across a grown bitmap (%lld)",
       acct_lost(&c, &far_gap));
    ok(acct_round(&c, &far, 1) == 0 && c.outside == 1, "a round far below the first one: outside the window");
    acct_free(&c);

    acct_free(&a);
    return done_testing();
}
