/* One JSON object per line on stderr: {"ts","level","msg", ...fields}. */
#ifndef DSC_LOG_H
#define DSC_LOG_H

typedef enum { DSC_LOG_DEBUG, DSC_LOG_INFO, DSC_LOG_WARN, DSC_LOG_ERROR } dsc_log_level_e;

/* Returns -1 for an unknown level name. */
int dsc_log_set_level(const char *name);

/* fields: a jansson json_pack format building an object ("{s:s, s:I}"), or NULL. */
void dsc_log(dsc_log_level_e level, const char *msg, const char *fields, ...);

#endif
