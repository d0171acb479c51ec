/*
 * The command builder against a model: a batch of random capacity gets
 * pushes of random argument counts and lengths. A push must succeed exactly
 * when the batch has room and the count is 1..DS_CMD_ARGS_MAX, never write
 * outside its storage (an allocation of its own, so ASan sees an overflow)
 * and keep every argument as given.
 *
 * Input: one byte of capacity, then per push one byte (its low bit picks
 * the variadic or the argv form, the rest the argument count) and one
 * length byte per argument.
 */
#include "fuzz.h"


#define FUZZ_ARGS   (DS_CMD_ARGS_MAX + 3)


static u_char  fuzz_bytes[256];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *p = data, *end = data + size;
    ngx_log_t       log;
    ds_cmd_t       *cmd;
    ds_cmds_t       cmds;
    ngx_str_t       argv[FUZZ_ARGS];
    ngx_uint_t      cap, argc, variadic, i, n;
    ngx_int_t       rc, want;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&log, sizeof(ngx_log_t));

    cap = *p++ % 8;
    cmd = ngx_palloc(fuzz_pool, cap * sizeof(ds_cmd_t));
    ds_cmds_init(&cmds, cmd, cap, &log);
    n = 0;

    while (p < end) {
        argc = (*p >> 1) % FUZZ_ARGS;
        variadic = *p++ & 1;

        for (i = 0; i < FUZZ_ARGS; i++) {
            argv[i].data = fuzz_bytes + i;
            argv[i].len = (i < argc && p < end) ? *p++ : 0;
        }

        want = (n < cap && argc >= 1 && argc <= DS_CMD_ARGS_MAX) ? NGX_OK : NGX_ERROR;

        if (variadic) {
            /* the name is a C string: make it one */
            argv[0].data = (u_char *) "CMD";
            argv[0].len = 3;
            rc = argc == 0 ? ds_cmds_push_argv(&cmds, 0, argv)
                           : ds_cmds_push(&cmds, "CMD", argc - 1, &argv[1], &argv[2],
                                          &argv[3], &argv[4], &argv[5], &argv[6],
                                          &argv[7], &argv[8]);
        } else {
            rc = ds_cmds_push_argv(&cmds, argc, argv);
        }

        FUZZ_CHECK(rc == want);
        FUZZ_CHECK(cmds.size == cap && cmds.cmd == cmd);

        if (rc != NGX_OK) {
            FUZZ_CHECK(cmds.n == n);
            continue;
        }

        FUZZ_CHECK(cmds.n == n + 1);
        FUZZ_CHECK(cmd[n].argc == (int) argc);

        for (i = 0; i < argc; i++) {
            FUZZ_CHECK(cmd[n].argv[i] == (const char *) argv[i].data);
            FUZZ_CHECK(cmd[n].argvlen[i] == argv[i].len);
        }

        n++;
    }

    FUZZ_CHECK(cmds.n == n && n <= cap);

    fuzz_free_all();
    return 0;
}
