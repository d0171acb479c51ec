#include "event.h"

#include <stdlib.h>
#include <string.h>

void ds_round_event_free(ds_round_event *ev)
{
    free(ev->row.extras);
    ev->row.extras = NULL;
}

void ds_game_event_free(ds_game_event *ev)
{
    free(ev->row.name);
    ev->row.name = NULL;
}

static bool name_char(char c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return !first && (c == '-' || c == '_');
}

bool ds_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0))
            return false;
    return true;
}
