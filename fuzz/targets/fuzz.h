/*
 * Shared by the module's fuzz targets: nginx types, the module's prototypes,
 * a per-input allocator (every ngx_palloc is its own malloc, so ASan sees an
 * overflow of any single allocation, which nginx's pools would hide) and a
 * check that aborts with a message, so libFuzzer saves the input.
 */
#ifndef DS_FUZZ_H
#define DS_FUZZ_H

#include "ngx_http_datastream_module.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* the fixed "now" of every target (ngx_time()) */
#define FUZZ_NOW  1800000000

/* frees everything ngx_palloc'ed since the last call */
void fuzz_free_all(void);

/* a copy of [data, data + size) in its own allocation, so reads past the
 * end are caught */
u_char *fuzz_dup(const uint8_t *data, size_t size);

/* a fake pool for APIs that want one (allocations ignore it) */
extern ngx_pool_t  *fuzz_pool;

/* true when [p, p + len) lies inside [base, base + size) */
static ngx_inline int
fuzz_within(const u_char *p, size_t len, const u_char *base, size_t size)
{
    return len == 0 || (p >= base && p + len <= base + size);
}

#endif /* DS_FUZZ_H */
