/*
 * shmap rm NAME... [--force] [--timeout SECONDS] [--missing-ok]
 *
 * Each name is deleted with shmap_delete(): it waits for the segment's lock holders (for
 * ever, or --timeout seconds), or with --force removes the name at once. Each name is
 * handled on its own: one that fails is reported and the others are still removed, as
 * rm(1) does; the exit status says whether any failed.
 *
 * A wait holds a writer's claim on the lock, which keeps new readers out. A signal that
 * would end us (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT) ends the wait through the library's wait
 * check, which gives the claim back, and then ends us by that same signal (main(), through
 * cli_end_if_signalled()): readers are not left to find a dead claimant first.
 *
 * Under a `shmap lock` of the same segment (a script run under the lock deletes what it
 * locked), the delete would wait for an ancestor for ever: under --write it runs under that
 * hold, as fill and set do (snapshot.c), and under --read, whose shared hold keeps a delete
 * out, it fails at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * Why NAME could not be removed, with the way out where --force is one. The library's
 * hints speak of its flag ("delete with force to remove it anyway"): here they name the
 * option. A segment too damaged to open (a bad header, a truncated object) cannot be locked
 * either, so only --force removes it, which the library leaves unsaid: say it. One whose
 * creator died making it gets the hint from the library; one still being made gets none.
 */
static int fail_rm(const char *name, int rc)
{
    static const char lib_hint[] = "delete with force", our_hint[] = "use --force";
    const char *detail = cli_lib_detail();
    char text[1024];
    snprintf(text, sizeof text, "%s", detail ? detail : shmap_strerror(rc));
    char *hint = strstr(text, lib_hint);
    if (hint) {
        size_t cut = sizeof lib_hint - 1, add = sizeof our_hint - 1;
        memmove(hint + add, hint + cut, strlen(hint + cut) + 1);
        memcpy(hint, our_hint, add);
    } else if (rc == SHMAP_ECORRUPT || rc == SHMAP_ETRUNCATED || rc == SHMAP_EVERSION ||
               rc == SHMAP_EBYTEORDER) {
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, " (use --force to remove it)");
    }
    return cli_fail_detail(name, text);
}

/*
 * NAME under an enclosing `shmap lock` (see the top): 1 when handled here, with the exit
 * status in *@p status; 0 when no enclosing lock holds it, for shmap_delete() to do (and
 * to report what stops it).
 */
static int rm_enclosed(const char *name, int *status)
{
    shmap_seg *seg;
    if (!getenv("SHMAP_LOCK_PIDS") || shmap_open(&seg, name, SHMAP_RDONLY) < 0)
        return 0;
    pid_t holder = 0;
    shmap_lockinfo li;
    shmap_info mine, now;
    if (!cli_enclosing_read(seg, &holder) || shmap_lock_info(seg, &li) < 0 ||
        shmap_info_get(seg, &mine) < 0) {
        shmap_close(seg);
        return 0;
    }
    if (li.writer != holder) {
        shmap_close(seg);
        *status = cli_fail(name, "runs under `shmap lock --read` (pid %d), whose shared hold "
                                 "would keep the delete waiting for ever: use `shmap lock "
                                 "--write`", (int)holder);
        return 1;
    }
    /* The enclosing hold is of the segment we opened: the name must still lead to it. */
    int rc = shmap_stat(name, &now);
    if (rc == 0 && (now.created_ns != mine.created_ns || now.creator_pid != mine.creator_pid))
        rc = -EAGAIN;
    if (rc == 0)
        rc = shmap_unlink(name);
    shmap_close(seg);
    if (rc == -EAGAIN)
        *status = cli_fail(name, "was replaced meanwhile: the enclosing `shmap lock` (pid %d) "
                                 "holds the lock of the segment it replaced", (int)holder);
    else if (rc < 0)
        *status = cli_fail_lib(name, rc);
    return 1;
}

static const cli_opt rm_opts[] = {{"force", 0}, {"timeout", 1}, {"missing-ok", 0}, {NULL, 0}};

int cmd_rm(int argc, char **argv)
{
    int opt, missing_ok = 0;
    unsigned flags = 0;
    double timeout = -1;
    cli_args a;
    cli_args_init(&a, "rm", rm_opts, argc, argv);
    cli_args_subject(&a, 0, 1);
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == 0) {
            flags |= SHMAP_DELETE_FORCE;
        } else if (opt == 2) {
            missing_ok = 1;
        } else if (cli_parse_timeout("rm", a.value, &timeout) != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("rm", "missing NAME");
    /* Every NAME is checked before any is removed: a malformed one stops the command. */
    if (cli_check_names("rm", a.argv, a.npos) != 0)
        return CLI_EXIT_USAGE;

    int status = CLI_EXIT_OK;
    cli_hold_end_signals(1);
    for (int i = 0; i < a.npos && !cli_end_signal(); i++) {
        if (!(flags & SHMAP_DELETE_FORCE) && rm_enclosed(a.argv[i], &status))
            continue;
        int rc = shmap_delete(a.argv[i], timeout, flags);
        if (rc == -ENOENT && missing_ok)
            continue; /* no segment of that name: what a cleanup asks for */
        if (rc < 0 && !(cli_end_signal() && rc == -EINTR)) /* not the wait it ended */
            status = fail_rm(a.argv[i], rc);
    }
    return status;
}
