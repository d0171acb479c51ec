#ifndef DSK_REDIS_URL_H
#define DSK_REDIS_URL_H

#include <stdbool.h>

/* redis://[[user]:password@]host[:port][/db] — the form REDIS_URL takes in
 * every Data Stream component. Userinfo is percent-decoded. */
typedef struct {
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
} dsk_redis_url_t;

bool dsk_redis_url_parse(const char *url, dsk_redis_url_t *out);

#endif
