/*
 * shmap rm NAME...
 *
 * Each name is removed on its own: one that fails is reported and the others are still
 * removed, as rm(1) does; the exit status says whether any failed.
 */
#include "cli.h"

int cmd_rm(int argc, char **argv)
{
    int opt;
    cli_args a;
    cli_args_init(&a, "rm", NULL, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0)
        ;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("rm", "missing NAME");

    int status = CLI_EXIT_OK;
    for (int i = 0; i < a.npos; i++) {
        int rc = shmap_unlink(a.argv[i]);
        if (rc < 0)
            status = cli_fail_lib(a.argv[i], rc);
    }
    return status;
}
