/*
 * shmap lock NAME [--read|--write] [--timeout S] -- COMMAND [ARGS...]
 *
 * Takes the segment's lock, runs COMMAND holding it, releases it and exits with COMMAND's
 * status (128+N if a signal N ended it, 127 if it could not be run, 126 if not executable),
 * as `flock(1)` does. While COMMAND runs, this process ignores SIGINT and SIGQUIT, as
 * system(3) does, so a Ctrl-C reaches COMMAND and the lock is released once it is gone.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const cli_opt lock_opts[] = {
    {"read", 0}, {"write", 0}, {"timeout", 1}, {NULL, 0}};

static int run(char **command)
{
    struct sigaction ign, old_int, old_quit;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        execvp(command[0], command);
        int e = errno;
        fprintf(stderr, "shmap: lock: cannot run '%s': %s\n", command[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    int status = 0, rc = CLI_EXIT_FAIL;
    if (pid < 0) {
        fprintf(stderr, "shmap: lock: cannot fork: %s\n", strerror(errno));
    } else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        rc = WIFEXITED(status) ? WEXITSTATUS(status)
                               : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : CLI_EXIT_FAIL;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    return rc;
}

int cmd_lock(int argc, char **argv)
{
    /* Everything after "--" is the command: the scanner sees only what comes before. */
    int dash = 1;
    while (dash < argc && strcmp(argv[dash], "--") != 0)
        dash++;
    int opt, flags = SHMAP_LOCK_EXCLUSIVE, modes = 0;
    double timeout = -1;
    cli_args a;
    cli_args_init(&a, "lock", lock_opts, dash, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == 0 || opt == 1) {
            flags = opt == 0 ? SHMAP_LOCK_SHARED : SHMAP_LOCK_EXCLUSIVE;
            modes++;
        } else {
            char *end;
            errno = 0;
            timeout = strtod(a.value, &end);
            if (end == a.value || *end || errno || !isfinite(timeout) || timeout < 0)
                return cli_usage_error("lock", "--timeout wants seconds >= 0, not '%s'",
                                       a.value);
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (modes > 1)
        return cli_usage_error("lock", "give one of --read and --write");
    if (a.npos == 0)
        return cli_usage_error("lock", "missing NAME");
    if (a.npos > 1)
        return cli_usage_error("lock", "unexpected argument '%s' (the command goes after --)",
                               a.argv[1]);
    if (dash + 1 >= argc)
        return cli_usage_error("lock", "missing -- COMMAND");

    const char *name = a.argv[0];
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    rc = shmap_lock(seg, (unsigned)flags, timeout);
    if (rc == SHMAP_EOWNERDEAD) {
        const char *detail = cli_lib_detail();
        fprintf(stderr, "shmap: lock: warning: %s\n",
                detail ? detail : shmap_strerror(rc));
    } else if (rc < 0) {
        shmap_close(seg);
        return cli_fail_lib(name, rc);
    }
    int status = run(argv + dash + 1);
    shmap_unlock(seg);
    shmap_close(seg);
    return status;
}
