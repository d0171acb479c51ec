#ifndef DSK_LOG_H
#define DSK_LOG_H

/* Errors go to stderr as one JSON object per line so that log shippers
 * treat the tool like every other Data Stream component. */
void dsk_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
