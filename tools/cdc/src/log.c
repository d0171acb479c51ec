#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

void
dscdc_log(const char *level, const char *msg, ...)
{
    struct timeval tv;
    struct tm      tm;
    char           ts[40];
    json_t        *line = json_object();
    const char    *key;
    char          *text;
    va_list        ap;

    if (line == NULL) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03ldZ", (long) tv.tv_usec / 1000);
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "msg", json_string(msg));
    va_start(ap, msg);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        /* libpq's messages end in a newline. */
        size_t len = value ? strcspn(value, "\n") : 0;
        json_object_set_new(line, key, value ? json_stringn(value, len) : json_null());
    }
    va_end(ap);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (text != NULL) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
}
