/* One JSON object per line on stderr. */
#ifndef DSCDC_LOG_H
#define DSCDC_LOG_H

/* Key/value string pairs after msg, ended by NULL. */
void dscdc_log(const char *level, const char *msg, ...);

#endif
