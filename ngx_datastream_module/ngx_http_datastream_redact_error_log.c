/*
 * Redacts every error log line in a log writer; calls ds_log_scrub().
 *
 * No credential in the error log, at any level: nginx itself quotes what
 * clients send in some lines (a refused request line, a duplicate or too
 * long header at info level; every header at debug level). Every error log
 * of the configuration gets a writer (ngx_log_t.writer, the hook of syslog
 * and memory logs) that runs the formatted line through ds_log_scrub() and
 * then writes it where the log was going: its file (as nginx does, with
 * its one-second pause after ENOSPC), or the writer it had before (syslog,
 * memory).
 *
 * Where the writer is installed:
 *   - the error_log chains of the http block, its servers and locations
 *     (ngx_http_core_loc_conf_t.error_log), when the module merges the
 *     location's configuration: the core module has merged it already, and
 *     nothing changes those chains afterwards. Connection and request logs
 *     are copies of these (ngx_http_set_connection_log() copies writer and
 *     wdata), and so are the listening sockets' logs (ls->logp);
 *   - the main chain (cycle->new_log, also cycle->log and the chain of
 *     every http level without error_log), when the module is initialized:
 *     error_log directives after the http block and nginx's default log
 *     join it until then. The listening sockets' copies are made just
 *     before (ngx_configure_listening_sockets()) and refreshed.
 * Every log of a chain is wrapped, as nginx calls each one with the line.
 * Lines logged before the module is initialized (configuration, opening
 * sockets) and after the cycle pool's cleanups (nginx's "exit" line, the
 * pool's own debug lines) hold no request data and are not scrubbed.
 *
 * While nginx starts (ngx_use_stderr), it repeats lines of level warn and
 * above on stderr from its own buffer unless a log wrote to stderr: the
 * writer then puts the redacted line back into that buffer (padded with
 * blanks to its length) and leaves stderr to nginx, so a stderr error log
 * shows such a line once, as "nginx: [level] message".
 */

#include "ngx_http_datastream_module.h"


typedef struct {
    ngx_log_writer_pt   writer;    /* the log's own writer, or NULL: file */
    void               *wdata;
} ds_log_redact_t;


static void ds_log_redact_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len);
static void ds_log_redact_restore(ngx_log_t *log);
static void ds_log_redact_cleanup(void *data);
static void ds_log_redact_cleanup_listening(void *data);


static void
ds_log_redact_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    u_char            line[NGX_MAX_ERROR_STR];
    size_t            n;
    ssize_t           written;
    ngx_uint_t        hits, echoed;
    ngx_log_t         own;
    ds_log_redact_t  *lr;

    lr = log->wdata;
    echoed = ngx_use_stderr && level <= NGX_LOG_WARN;

    /* nginx ends every line with LF (one byte on Unix) */
    n = ds_log_scrub(buf, len - 1, line, sizeof(line) - 1, &hits);

    if (hits) {
        line[n++] = LF;

        if (echoed) {
            ngx_memcpy(buf, line, ngx_min(n, len) - 1);
            if (n < len) {
                ngx_memset(buf + n - 1, ' ', len - n);
            }
            buf[len - 1] = LF;
        }

        buf = line;
        len = n;
    }

    if (lr->writer) {
        own = *log;
        own.writer = lr->writer;
        own.wdata = lr->wdata;
        lr->writer(&own, level, buf, len);
        return;
    }

    if (echoed && log->file->fd == ngx_stderr) {
        return;
    }

    /* as ngx_log_error_core() */

    if (ngx_time() == log->disk_full_time) {
        return;
    }

    written = ngx_write_fd(log->file->fd, buf, len);

    if (written == -1 && ngx_errno == NGX_ENOSPC) {
        log->disk_full_time = ngx_time();
    }
}


/*
 * The writer lives in this module's shared object, which nginx unloads in a
 * cleanup of the cycle pool; the pool's own debug lines come after the
 * cleanups. Each log gets its writer back in a cleanup added later, which
 * therefore runs earlier.
 */
static void
ds_log_redact_restore(ngx_log_t *log)
{
    ds_log_redact_t  *lr;

    if (log->writer != ds_log_redact_writer) {
        return;
    }

    lr = log->wdata;
    log->writer = lr->writer;
    log->wdata = lr->wdata;
}


static void
ds_log_redact_cleanup(void *data)
{
    ds_log_redact_restore(data);
}


static void
ds_log_redact_cleanup_listening(void *data)
{
    ngx_cycle_t  *cycle = data;

    ngx_uint_t        i;
    ngx_listening_t  *ls;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        ds_log_redact_restore(&ls[i].log);
    }
}


ngx_int_t
ds_log_redact_chain(ngx_pool_t *pool, ngx_log_t *log)
{
    ds_log_redact_t     *lr;
    ngx_pool_cleanup_t  *cln;

    for ( /* void */ ; log; log = log->next) {

        if (log->writer == ds_log_redact_writer) {
            continue;
        }

        lr = ngx_palloc(pool, sizeof(ds_log_redact_t));
        cln = ngx_pool_cleanup_add(pool, 0);
        if (lr == NULL || cln == NULL) {
            return NGX_ERROR;
        }

        lr->writer = log->writer;
        lr->wdata = log->wdata;

        log->writer = ds_log_redact_writer;
        log->wdata = lr;

        cln->handler = ds_log_redact_cleanup;
        cln->data = log;
    }

    return NGX_OK;
}


ngx_int_t
ds_log_redact_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_listening_t     *ls;
    ngx_pool_cleanup_t  *cln;

    if (ds_log_redact_chain(cycle->pool, &cycle->new_log) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ds_log_redact_cleanup_listening;
    cln->data = cycle;

    ls = cycle->listening.elts;
    for (i = 0; i < cycle->listening.nelts; i++) {
        if (ls[i].logp) {
            ls[i].log.writer = ls[i].logp->writer;
            ls[i].log.wdata = ls[i].logp->wdata;
        }
    }

    return NGX_OK;
}
