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
 * Under a `shmap lock --write` of the same segment (a script run under the lock deletes what
 * it locked), waiting for the lock would be waiting for an ancestor for ever: the name is
 * removed under the enclosing hold instead (SHMAP_DELETE_LOCKED), with every check of a
 * delete. Under `shmap lock --read` the shared hold would keep the delete out for ever: it
 * fails at once, saying so.
 */
#include <errno.h>
#include <stdlib.h>

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
    /* The library's way to delete under an ancestor's hold is the flag rm passes under an
     * enclosing `shmap lock --write` (rm_one()): another holder's lends no such way. */
    static const char lib_held[] = ": to delete under its hold, pass SHMAP_DELETE_LOCKED",
                      our_held[] = ", which holds it while rm waits";
    const char *detail = cli_lib_detail();
    if (!detail)
        detail = shmap_strerror(rc);
    char held[1024], text[sizeof held + 64];
    if (cli_replace_last(held, sizeof held, detail, lib_held, our_held))
        detail = held;
    if (cli_replace_last(text, sizeof text, detail, lib_hint, our_hint))
        return cli_fail_detail(name, text);
    if (rc == SHMAP_ECORRUPT || rc == SHMAP_ETRUNCATED || rc == SHMAP_EVERSION ||
        rc == SHMAP_EBYTEORDER)
        snprintf(text, sizeof text, "%s (use --force to remove it)", detail);
    else
        snprintf(text, sizeof text, "%s", detail);
    return cli_fail_detail(name, text);
}

/*
 * NAME under an enclosing `shmap lock` (see the top): 'w' under --write, -1 under --read
 * after saying so, 0 when no enclosing lock holds it, for shmap_delete() to wait for its
 * users (and to report what stops it).
 */
static int rm_enclosed(const char *name)
{
    shmap_seg *seg;
    if (!getenv("SHMAP_LOCK_PIDS") || shmap_open(&seg, name, SHMAP_RDONLY) < 0)
        return 0;
    pid_t holder = 0;
    int enclosed = cli_enclosing_lock(seg, &holder);
    shmap_close(seg);
    if (enclosed == 'r') {
        cli_fail(name, "runs under `shmap lock --read` (pid %d), whose shared hold would keep "
                       "the delete out for ever: delete under `shmap lock --write`, after "
                       "that lock ends, or with --force", (int)holder);
        return -1;
    }
    return enclosed;
}

/*
 * Delete NAME, under an enclosing `shmap lock --write` that holds it (SHMAP_DELETE_LOCKED),
 * else waiting for its holders: 0, the library's code, or 1 after rm_enclosed() said why
 * not. The library refuses the flag (-ENOLCK) when the name now holds another segment, or
 * the enclosing lock ended: then it is looked at again, once.
 */
static int rm_one(const char *name, double timeout, unsigned flags)
{
    for (int round = 0;; round++) {
        int enclosed = flags & SHMAP_DELETE_FORCE ? 0 : rm_enclosed(name);
        if (enclosed < 0)
            return 1;
        int rc = shmap_delete(name, timeout, flags | (enclosed ? SHMAP_DELETE_LOCKED : 0));
        if (rc != -ENOLCK || !enclosed || round == 1)
            return rc;
    }
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
        int rc = rm_one(a.argv[i], timeout, flags);
        if (rc == 1) {
            status = CLI_EXIT_FAIL; /* said */
            continue;
        }
        if (rc == -ENOENT && missing_ok)
            continue; /* no segment of that name: what a cleanup asks for */
        if (rc < 0 && !(cli_end_signal() && rc == -EINTR)) /* not the wait it ended */
            status = fail_rm(a.argv[i], rc);
    }
    return status;
}
