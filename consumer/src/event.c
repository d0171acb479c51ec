#include "event.h"

#include <stdlib.h>

void dsc_round_event_free(dsc_round_event_t *ev)
{
    free(ev->row.extras);
    ev->row.extras = NULL;
}

void dsc_game_event_free(dsc_game_event_t *ev)
{
    free(ev->row.name);
    ev->row.name = NULL;
}
