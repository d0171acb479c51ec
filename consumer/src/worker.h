/* One thread per durable: the only fetch loop of its subscription (cnats 3.4.1 misbehaves
 * with concurrent or overlapping fetches on one subscription). */
#ifndef DS_WORKER_H
#define DS_WORKER_H

#include "source_jetstream.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    const char *name;
    ds_source *source;
    void *stage;
    void (*process)(void *stage, natsMsgList *list);
    void (*tick)(void *stage, ds_source *source);   /* after every fetch; may be NULL */
    /* Before the source is closed: returns once no message of it is in use
     * elsewhere (an ack after the close would touch freed memory). May be NULL. */
    void (*drain)(void *stage);
    const atomic_bool *stop;
    pthread_t thread;
} ds_worker;

int ds_worker_start(ds_worker *w);
/* Waits until deadline (CLOCK_REALTIME); -1 if the thread did not finish in time. */
int ds_worker_join(ds_worker *w, const struct timespec *deadline);
/* Sleeps up to ms, returning early once stop is set. */
void ds_worker_pause(const atomic_bool *stop, int ms);

#endif
