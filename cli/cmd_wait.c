/*
 * shmap wait NAME [--timeout SECONDS]
 *
 * Blocks until the segment's generation passes the one it had when the command started:
 * exit 0 when an update came, 1 on timeout or when the segment is deleted meanwhile.
 */
#include <errno.h>

#include "cli.h"

enum { OPT_TIMEOUT };
static const cli_opt opts[] = {{"timeout", 1}, {NULL, 0}};

int cmd_wait(int argc, char **argv)
{
    double timeout = -1;
    int opt;
    cli_args a;
    cli_args_init(&a, "wait", opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == OPT_TIMEOUT && cli_parse_seconds(a.value, &timeout) < 0)
            return cli_usage_error("wait", "--timeout wants seconds, not '%s'", a.value);
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos != 1)
        return a.npos ? cli_usage_error("wait", "unexpected argument '%s'", a.argv[1])
                      : cli_usage_error("wait", "missing NAME");
    if (cli_check_names("wait", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0];
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    uint64_t seen = shmap_generation(seg);
    /* A signal (Ctrl-C) ends the command; -EINTR from other signals just goes on. */
    do
        rc = shmap_wait(seg, &seen, timeout);
    while (rc == -EINTR);
    int status = CLI_EXIT_OK;
    if (rc == -ETIMEDOUT)
        status = cli_fail(name, "no update within %g s", timeout);
    else if (rc < 0)
        status = cli_fail_lib(name, rc);
    shmap_close(seg);
    return status;
}
