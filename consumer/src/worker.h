/* One thread per durable: the only fetch loop of its subscription (cnats 3.4.1 misbehaves
 * with concurrent or overlapping fetches on one subscription). */
#ifndef DSC_WORKER_H
#define DSC_WORKER_H

#include "source_jetstream.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    const char *name;
    dsc_source_t *source;
    void *stage;
    void (*process)(void *stage, natsMsgList *list);
    void (*tick)(void *stage, dsc_source_t *source);   /* after every fetch; may be NULL */
    /* Before the source is closed: returns once no message of it is in use
     * elsewhere (an ack after the close would touch freed memory). May be NULL. */
    void (*drain)(void *stage);
    const atomic_bool *stop;
    pthread_t thread;
} dsc_worker_t;

int dsc_worker_start(dsc_worker_t *w);
/* Waits until deadline (CLOCK_REALTIME); -1 if the thread did not finish in time. */
int dsc_worker_join(dsc_worker_t *w, const struct timespec *deadline);
/* Sleeps up to ms, returning early once stop is set. */
void dsc_worker_pause(const atomic_bool *stop, int ms);

#endif
