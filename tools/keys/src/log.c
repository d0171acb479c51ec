#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void dsk_log_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(msg, sizeof msg, "unformattable error message");

    json_t *line = json_pack("{s:s, s:s}", "level", "error", "msg", msg);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text)
        fprintf(stderr, "%s\n", text);
    else
        fputs("{\"level\":\"error\",\"msg\":\"out of memory\"}\n", stderr);
    free(text);
    json_decref(line);
}
