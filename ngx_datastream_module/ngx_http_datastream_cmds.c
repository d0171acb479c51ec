/*
 * The command builder of pipelined batches.  Pure: no nginx state beyond a
 * log, so the fuzz target can try to overflow it.  Arguments point into
 * memory that outlives the batch (the request pool, or static strings);
 * hiredis copies them when the batch is sent.
 */

#include "ngx_http_datastream_module.h"


ngx_int_t
ds_cmds_push_argv(ds_cmds_t *cmds, ngx_uint_t argc, const ngx_str_t *argv)
{
    ds_cmd_t    *cmd;
    ngx_uint_t   i;

    if (cmds->n >= cmds->size || argc == 0 || argc > DS_CMD_ARGS_MAX) {
        ngx_log_error(NGX_LOG_ALERT, cmds->log, 0,
                      "datastream: command of %ui arguments refused, "
                      "%ui of %ui commands in the batch", argc, cmds->n,
                      cmds->size);
        return NGX_ERROR;
    }

    cmd = &cmds->cmd[cmds->n++];
    cmd->argc = (int) argc;

    for (i = 0; i < argc; i++) {
        cmd->argv[i] = (const char *) argv[i].data;
        cmd->argvlen[i] = argv[i].len;
    }

    return NGX_OK;
}


/* name, then nargs arguments of type ngx_str_t * */
ngx_int_t
ds_cmds_push(ds_cmds_t *cmds, const char *name, ngx_uint_t nargs, ...)
{
    va_list     args;
    ngx_str_t   argv[DS_CMD_ARGS_MAX], *s;
    ngx_uint_t  i;

    /* the arguments are not read at all when they could not be kept */
    if (nargs >= DS_CMD_ARGS_MAX) {
        return ds_cmds_push_argv(cmds, nargs + 1, NULL);
    }

    argv[0].data = (u_char *) name;
    argv[0].len = ngx_strlen(name);

    va_start(args, nargs);

    for (i = 1; i <= nargs; i++) {
        s = va_arg(args, ngx_str_t *);
        argv[i] = *s;
    }

    va_end(args);

    return ds_cmds_push_argv(cmds, nargs + 1, argv);
}
