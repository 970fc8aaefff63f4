/*
 * shmap rm NAME... [--force] [--timeout SECONDS]
 *
 * Each name is deleted with shmap_delete(): it waits for the segment's lock holders (for
 * ever, or --timeout seconds), or with --force removes the name at once. Each name is
 * handled on its own: one that fails is reported and the others are still removed, as
 * rm(1) does; the exit status says whether any failed.
 */
#include "cli.h"

static const cli_opt rm_opts[] = {{"force", 0}, {"timeout", 1}, {NULL, 0}};

int cmd_rm(int argc, char **argv)
{
    int opt;
    unsigned flags = 0;
    double timeout = -1;
    cli_args a;
    cli_args_init(&a, "rm", rm_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == 0) {
            flags |= SHMAP_DELETE_FORCE;
        } else if (cli_parse_timeout("rm", a.value, &timeout) != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("rm", "missing NAME");

    int status = CLI_EXIT_OK;
    for (int i = 0; i < a.npos; i++) {
        int rc = shmap_delete(a.argv[i], timeout, flags);
        if (rc < 0)
            status = cli_fail_lib(a.argv[i], rc);
    }
    return status;
}
