/* One JSON object per line on stderr: {"ts","level","msg", ...fields}. */
#ifndef DS_LOG_H
#define DS_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } ds_log_level;

/* Returns -1 for an unknown level name. */
int ds_log_set_level(const char *name);

/* fields: a jansson json_pack format building an object ("{s:s, s:I}"), or NULL. */
void ds_log(ds_log_level level, const char *msg, const char *fields, ...);

#endif
