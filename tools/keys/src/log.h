#ifndef DS_KEYS_LOG_H
#define DS_KEYS_LOG_H

/* Errors go to stderr as one JSON object per line so that log shippers
 * treat the tool like every other Data Stream component. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
