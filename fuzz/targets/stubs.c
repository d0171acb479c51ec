/*
 * The few pieces of the nginx runtime that the module's pure code reaches,
 * replaced for the fuzz targets: memory from pools, the cached time, the
 * error log and the module's own ngx_module_t (ctx_index 0).
 */
#include "fuzz.h"

#include <string.h>


typedef struct fuzz_alloc_s  fuzz_alloc_t;
struct fuzz_alloc_s {
    fuzz_alloc_t  *next;
};

static fuzz_alloc_t  *fuzz_allocs;
static ngx_pool_t     fuzz_pool_storage;
ngx_pool_t           *fuzz_pool = &fuzz_pool_storage;


static void *
fuzz_alloc(size_t size)
{
    fuzz_alloc_t  *a;

    a = malloc(sizeof(fuzz_alloc_t) + size);
    if (a == NULL) {
        abort();
    }

    a->next = fuzz_allocs;
    fuzz_allocs = a;

    return a + 1;
}


void
fuzz_free_all(void)
{
    fuzz_alloc_t  *a, *next;

    for (a = fuzz_allocs; a; a = next) {
        next = a->next;
        free(a);
    }

    fuzz_allocs = NULL;
}


u_char *
fuzz_dup(const uint8_t *data, size_t size)
{
    u_char  *p = fuzz_alloc(size);

    if (size) {
        memcpy(p, data, size);
    }

    return p;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return fuzz_alloc(size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return fuzz_alloc(size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p = fuzz_alloc(size);

    memset(p, 0, size);

    return p;
}


/*
 * Outside any pool, as nginx's: what the module keeps across requests (the
 * key cache) outlives an input and is released with ngx_free (free).
 */
void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}


static ngx_time_t            fuzz_time = { FUZZ_NOW, 0, 0 };
volatile ngx_time_t         *ngx_cached_time = &fuzz_time;
volatile ngx_msec_t          ngx_current_msec;

static ngx_log_t             fuzz_log;
static ngx_cycle_t           fuzz_cycle = { .log = &fuzz_log };
volatile ngx_cycle_t        *ngx_cycle = &fuzz_cycle;

ngx_module_t                 ngx_http_datastream_module;
ngx_uint_t                   ngx_pagesize = 4096;
ngx_uint_t                   ngx_cacheline_size = 64;


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}


void
ngx_log_debug_core(ngx_log_t *log, ngx_err_t err, const char *fmt, ...)
{
}


u_char *
ngx_strerror(ngx_err_t err, u_char *errstr, size_t size)
{
    return errstr;
}
