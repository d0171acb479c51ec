#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static dsc_log_level_e min_level = DSC_LOG_INFO;

int dsc_log_set_level(const char *name)
{
    for (int i = DSC_LOG_DEBUG; i <= DSC_LOG_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            min_level = (dsc_log_level_e)i;
            return 0;
        }
    }
    return -1;
}

static void timestamp(char *buf, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void dsc_log(dsc_log_level_e level, const char *msg, const char *fields, ...)
{
    if (level < min_level)
        return;
    char ts[40];
    timestamp(ts, sizeof ts);
    json_t *line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg", msg);
    if (!line)
        return;
    if (fields) {
        va_list ap;
        va_start(ap, fields);
        json_error_t err;
        json_t *extra = json_vpack_ex(&err, 0, fields, ap);
        va_end(ap);
        if (extra)
            json_object_update(line, extra);
        json_decref(extra);
    }
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text)
        return;
    /* One write per line keeps lines from concurrent threads whole. */
    size_t len = strlen(text);
    text[len] = '\n';
    fwrite(text, 1, len + 1, stderr);
    fflush(stderr);
    text[len] = '\0';
    free(text);
}
