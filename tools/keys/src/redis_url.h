#ifndef DS_KEYS_REDIS_URL_H
#define DS_KEYS_REDIS_URL_H

#include <stdbool.h>

/* redis://[[user]:password@]host[:port][/db] — the form REDIS_URL takes in
 * every Data Stream component. Userinfo is percent-decoded. */
struct redis_url {
    char host[256];
    int port;
    int db;
    char user[128];
    char password[256];
};

bool redis_url_parse(const char *url, struct redis_url *out);

#endif
