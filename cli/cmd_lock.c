/*
 * shmap lock NAME [--read|--write] [--timeout S] -- COMMAND [ARGS...]
 *
 * Takes the segment's lock, runs COMMAND holding it, releases it and exits with COMMAND's
 * status (127 if it could not be run, 126 if not executable), as `flock(1)` does. When a
 * signal N ended COMMAND, this process ends by N too, once the lock is released (a shell
 * sees 128+N either way): a shell running a script stops on Ctrl-C only when its foreground
 * command died of SIGINT, and a plain exit with status 130 would have it carry on. COMMAND
 * writes under our lock, so a signal that ends it under the write lock counts as a writer's
 * death: the lock is released marked, naming COMMAND.
 *
 * Signals. The lock is only worth something while its holder lives, so this process must
 * outlive COMMAND: SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1 and SIGUSR2 are caught and
 * passed on to COMMAND, and the lock is released once COMMAND is gone. A signal sent by the
 * terminal (Ctrl-C, a hangup) goes to the whole foreground process group, so COMMAND has it
 * already while it stays in ours: such a signal (si_code SI_KERNEL) is not passed on, or it
 * would arrive twice. (One that a process sends to the whole group, as timeout(1) does
 * after signalling us, cannot be told from one sent to us alone: COMMAND gets it twice, which
 * for a signal that ends it changes nothing.) One that COMMAND sends to us is not sent back
 * to it. Signals that shmap inherited ignored (nohup's SIGHUP) or blocked stay so, here and
 * in COMMAND.
 *
 * Until COMMAND starts, a signal ends the wait for the lock through the library's wait
 * check, which gives back a writer's half-taken claim (a plain death there would leave the
 * lock marked as if its writer died), and then this process dies of that same signal.
 *
 * Nesting. Under a `shmap lock` of the same segment (a script that locks, run under a lock),
 * this one takes no lock: COMMAND runs under the enclosing hold (snapshot.c), where waiting
 * would be waiting for an ancestor, and --write under --read fails at once. That hold lasts
 * as long as the enclosing process, which need not be our parent (a shell may stand
 * between, and outlive it): we watch it (a pidfd, or where there is none a look every
 * 100 ms), and if it ends first, COMMAND is killed as the enclosing one's own would be.
 *
 * Races. The signals are blocked from the moment the lock is held: one caught before that
 * stops everything, one arriving later stays pending until COMMAND exists to receive it.
 * The child restores the inherited dispositions and mask before exec, so it never runs our
 * handler. The parent forwards only with the signals blocked and before reaping, so a pid
 * it signals is always COMMAND's (a zombie at worst, never reused), and it sleeps in
 * sigsuspend(), which a signal or the child's SIGCHLD ends, so none is left unforwarded.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const cli_opt lock_opts[] = {
    {"read", 0}, {"write", 0}, {"timeout", 1}, {NULL, 0}};

static const int fwd_signals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFWD (sizeof fwd_signals / sizeof fwd_signals[0])

/* How a signal came: from a process, or from the kernel (the terminal). */
#define FROM_PROCESS 1
#define FROM_KERNEL 2

static volatile sig_atomic_t stop_sig;     /* the first signal caught */
static volatile sig_atomic_t from[NFWD];   /* per signal: FROM_* bits not yet forwarded */
static volatile sig_atomic_t command_pid;  /* COMMAND, once forked */

/* What shmap inherited, to restore in COMMAND and on the way out. */
typedef struct saved_signals {
    int handled[NFWD];            /* we caught this one (else it is left as it was) */
    struct sigaction old[NFWD];
    struct sigaction old_chld;
    sigset_t mask;                /* the signal mask */
} saved_signals;

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    if (sig == SIGCHLD)
        return; /* only ends sigsuspend() */
    if (!stop_sig)
        stop_sig = sig;
    /* si_pid is meaningful for signals from processes (si_code <= 0). */
    if (si->si_code <= 0 && command_pid && si->si_pid == command_pid)
        return;
    for (size_t i = 0; i < NFWD; i++) {
        if (fwd_signals[i] == sig)
            from[i] |= si->si_code <= 0 ? FROM_PROCESS : FROM_KERNEL;
    }
}

static int stop_check(void *arg)
{
    (void)arg;
    return stop_sig ? -EINTR : 0;
}

/*
 * Is the segment we hold no longer the one under NAME? `shmap rm` marks it deleted (a wait
 * that only checks says so); rm --force only removes the name, so the name is looked up
 * too: gone, or now another segment (another creation time or creator).
 */
static int deleted_meanwhile(shmap_seg *seg, const char *name)
{
    uint64_t seen = shmap_generation(seg);
    if (shmap_wait(seg, &seen, 0) == SHMAP_EREMOVED)
        return 1;
    shmap_info mine, now;
    if (shmap_info_get(seg, &mine) < 0)
        return 0;
    int rc = shmap_stat(name, &now);
    return rc == -ENOENT || (rc == 0 && (now.created_ns != mine.created_ns ||
                                         now.creator_pid != mine.creator_pid));
}

/* The lock was busy or the wait timed out: say so, and who holds it. (Made here rather
 * than cut from the library's detail, whose name may itself hold ": ".) */
static int fail_busy(shmap_seg *seg, const char *name, int rc, double timeout, int exclusive)
{
    char who[512];
    if (shmap_lock_holders(seg, who, sizeof who) < 0)
        snprintf(who, sizeof who, "%s", "holders unknown");
    if (rc == -EBUSY)
        return cli_fail(name, "not free: %s", who);
    return cli_fail(name, "timed out after %g s waiting for the %s lock: %s", timeout,
                    exclusive ? "exclusive" : "shared", who);
}

/* Catch the signals to forward (not SA_RESTART: a signal must end the lock's sleep). */
static void signals_catch(saved_signals *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFWD; i++)
        sigaddset(&sa.sa_mask, fwd_signals[i]);
    sigprocmask(SIG_SETMASK, NULL, &s->mask);
    for (size_t i = 0; i < NFWD; i++) {
        sigaction(fwd_signals[i], NULL, &s->old[i]);
        s->handled[i] = s->old[i].sa_handler != SIG_IGN &&
                        !sigismember(&s->mask, fwd_signals[i]);
        if (s->handled[i])
            sigaction(fwd_signals[i], &sa, NULL);
    }
    /* Also when SIGCHLD was ignored: then children are reaped unseen and waitpid fails. */
    sa.sa_flags = SA_SIGINFO | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, &s->old_chld);
    shmap_set_wait_check(stop_check, NULL);
}

/* Block what we catch (and SIGCHLD): they are then seen only in sigsuspend(). */
static void signals_block(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < NFWD; i++)
        sigaddset(&set, fwd_signals[i]);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Put back the inherited dispositions and mask. Called with the signals blocked. */
static void signals_restore(const saved_signals *s)
{
    shmap_set_wait_check(NULL, NULL);
    for (size_t i = 0; i < NFWD; i++) {
        if (s->handled[i])
            sigaction(fwd_signals[i], &s->old[i], NULL);
    }
    sigaction(SIGCHLD, &s->old_chld, NULL);
    sigprocmask(SIG_SETMASK, &s->mask, NULL);
}

/* Die of @p sig as if it had never been caught (it normally terminates); if it does not,
 * fall back on the status such a death gives. */
static int die_of(const saved_signals *s, int sig)
{
    signals_block();
    signals_restore(s);
    fflush(NULL);
    raise(sig);
    return 128 + sig;
}

/*
 * End by @p sig, which ended COMMAND (see the top of this file), with the dispositions and
 * mask inherited (a signal inherited ignored or blocked leaves the status 128 + @p sig).
 * Without a core dump: COMMAND's, if it made one, is the one that tells something. (Not
 * dumpable as well as a core limit of 0: a core_pattern that pipes to a crash handler
 * ignores the limit.)
 */
static int die_like_command(int sig)
{
    const struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0);
    fflush(NULL);
    raise(sig);
    return 128 + sig;
}

/* Pass on what arrived since the last call. Called with the signals blocked. */
static void forward(pid_t pid)
{
    for (size_t i = 0; i < NFWD; i++) {
        int how = from[i];
        if (!how)
            continue;
        from[i] = 0;
        if (how == FROM_KERNEL && getpgid(pid) == getpgrp())
            continue; /* the terminal sent it to COMMAND too */
        kill(pid, fwd_signals[i]);
    }
}

/*
 * fork() failed with @p e: said for segment @p name, with the limit a user can look at.
 * EAGAIN is a process limit: this user's (RLIMIT_NPROC, `ulimit -u`, which root is not
 * held to), or else the system's. ENOMEM is memory, said as it is.
 */
static int fail_fork(const char *name, const char *command, int e)
{
    struct rlimit rl;
    char why[160] = "";
    if (e == EAGAIN && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        getuid() != 0)
        snprintf(why, sizeof why, " (this user's process limit, ulimit -u, is %llu)",
                 (unsigned long long)rl.rlim_cur);
    else if (e == EAGAIN)
        snprintf(why, sizeof why, " (the system's process limit: kernel.threads-max, "
                                  "kernel.pid_max, or a cgroup's pids.max)");
    return cli_fail(name, "cannot run '%s': fork: %s%s", command, strerror(e), why);
}

/*
 * Sleep until a signal in @p waiting comes, or until @p holder (an enclosing `shmap lock`,
 * watched through @p fd, or by kill() every 100 ms when there is no pidfd) has ended: true
 * then.
 */
static bool holder_gone(pid_t holder, int fd, const sigset_t *waiting)
{
    struct pollfd p = {fd, POLLIN, 0};
    const struct timespec tick = {0, 100000000};
    if (fd >= 0)
        return ppoll(&p, 1, NULL, waiting) > 0 && (p.revents & POLLIN);
    ppoll(NULL, 0, &tick, waiting);
    return kill(holder, 0) < 0 && errno == ESRCH;
}

/* A pidfd of @p pid, or -1 (with errno: ESRCH when it has ended). */
static int pid_watch(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

/*
 * Run the command; the signals are caught and blocked. COMMAND dies with this process
 * (PR_SET_PDEATHSIG): a SIGKILL, which cannot be passed on, would otherwise leave it
 * running on without the lock, its holder dead, while the next locker went in beside it.
 * flock(1)'s command keeps the lock through the descriptor it inherits; here the lock is
 * this process's, so the command goes with it, and the next writer is warned.
 * Under an enclosing `shmap lock` (@p holder, watched through @p holder_fd), only while
 * that one lasts. A COMMAND that a signal ended has its pid put in @p killed.
 */
static int run(const char *name, char **command, const saved_signals *s, pid_t holder,
               int holder_fd, pid_t *killed)
{
    /* shmap commands under this one work under its hold (snapshot.c), not waiting for it. */
    const char *outer = getenv("SHMAP_LOCK_PIDS");
    char pids[4096];
    int len = snprintf(pids, sizeof pids, "%s%s%ld", outer ? outer : "",
                       outer && *outer ? " " : "", (long)getpid());
    if (len > 0 && (size_t)len < sizeof pids)
        setenv("SHMAP_LOCK_PIDS", pids, 1);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && getppid() != parent)
            raise(SIGKILL); /* it died before the prctl */
        signals_restore(s);
        execvp(command[0], command);
        int e = errno;
        cli_fail(name, "cannot run '%s': %s", command[0], strerror(e));
        fflush(stderr);
        _exit(e == ENOENT ? 127 : 126);
    }
    if (pid < 0)
        return fail_fork(name, command[0], errno);
    command_pid = pid;
    /* While waiting, unblock what we catch, and SIGCHLD, which tells us COMMAND ended. */
    sigset_t waiting = s->mask;
    for (size_t i = 0; i < NFWD; i++) {
        if (s->handled[i])
            sigdelset(&waiting, fwd_signals[i]);
    }
    sigdelset(&waiting, SIGCHLD);
    int status = 0;
    for (;;) {
        forward(pid);
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            cli_fail(name, "cannot wait for '%s': %s", command[0], strerror(errno));
            command_pid = 0;
            return CLI_EXIT_FAIL;
        }
        if (r == 0 && !holder) {
            sigsuspend(&waiting);
        } else if (r == 0 && holder_gone(holder, holder_fd, &waiting)) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            command_pid = 0;
            return cli_fail(name, "the enclosing `shmap lock` (pid %d) ended, and its lock "
                                  "with it: '%s' killed", (int)holder, command[0]);
        }
    }
    command_pid = 0;
    if (WIFSIGNALED(status))
        *killed = pid;
    return WIFEXITED(status) ? WEXITSTATUS(status)
                             : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : CLI_EXIT_FAIL;
}

/*
 * Let go of the lock once COMMAND is gone. A writer that a signal ended may have left its
 * writing half done: the lock is released as if it had died holding it, so that the next
 * writer is warned, as it would be had COMMAND held the lock itself.
 */
static void release(shmap_seg *seg, const char *name, const char *command, unsigned flags,
                    pid_t killed, int status)
{
    if (flags != SHMAP_LOCK_EXCLUSIVE || !killed) {
        shmap_unlock(seg);
        return;
    }
    int sig = status - 128;
    if (shmap_unlock_died(seg, killed) == 0)
        cli_warn(name, "'%s' (pid %ld) was ended by signal %d (%s) while holding the write "
                       "lock: the next writer is told the data may be inconsistent",
                 command, (long)killed, sig, strsignal(sig));
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
            /* The same one twice is that one; both is a contradiction. */
            modes |= 1 << opt;
            flags = opt == 0 ? SHMAP_LOCK_SHARED : SHMAP_LOCK_EXCLUSIVE;
        } else if (cli_parse_timeout("lock", a.value, &timeout) != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (modes == 3)
        return cli_usage_error("lock", "give one of --read and --write");
    char **names = a.argv;
    int nnames = a.npos;
    /* "lock -- NAME -- COMMAND": the first "--" ended the options, as it does for every
     * command, and the second starts COMMAND. */
    if (nnames == 0 && dash + 2 < argc && strcmp(argv[dash + 2], "--") == 0) {
        names = argv + dash + 1;
        nnames = 1;
        dash += 2;
    }
    if (nnames == 0 && dash + 1 < argc && strcmp(argv[dash + 1], "--") != 0)
        return cli_usage_error("lock", "missing NAME before -- COMMAND (to end the options "
                                       "before NAME: shmap lock -- NAME -- COMMAND)");
    if (nnames == 0)
        return cli_usage_error("lock", "missing NAME");
    if (nnames > 1)
        return cli_usage_error("lock", "unexpected argument '%s' (the command goes after --)",
                               names[1]);
    if (dash + 1 >= argc)
        return cli_usage_error("lock", "missing -- COMMAND");
    if (cli_check_names("lock", names, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = names[0];
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    /* Under a `shmap lock` of the same segment (a script that locks, run under a lock),
     * COMMAND runs under that hold: waiting for it would be waiting for an ancestor. */
    pid_t holder = 0;
    int enclosed = flags == SHMAP_LOCK_EXCLUSIVE ? cli_enclosing_write(name, seg, &holder)
                                                 : cli_enclosing_read(seg, &holder);
    if (enclosed < 0) {
        shmap_close(seg);
        return CLI_EXIT_FAIL;
    }
    int holder_fd = enclosed ? pid_watch(holder) : -1;
    if (enclosed && holder_fd < 0 && errno == ESRCH) {
        shmap_close(seg);
        return cli_fail(name, "the enclosing `shmap lock` (pid %d) has ended", (int)holder);
    }
    saved_signals saved;
    signals_catch(&saved);
    rc = enclosed ? 0 : shmap_lock(seg, (unsigned)flags, timeout);
    signals_block();
    if (rc == SHMAP_EOWNERDEAD) {
        shmap_lockinfo li;
        if (shmap_lock_info(seg, &li) == 0 && li.dead_pid > 0)
            cli_warn(name, "previous writer (pid %ld) died while holding the lock: data may "
                           "be inconsistent", (long)li.dead_pid);
        else
            cli_warn(name, "the previous writer died while holding the lock: data may be "
                           "inconsistent");
    } else if (rc < 0) {
        if (stop_sig) {
            shmap_close(seg);
            return die_of(&saved, stop_sig);
        }
        signals_restore(&saved);
        if (rc == -EBUSY || rc == -ETIMEDOUT)
            rc = fail_busy(seg, name, rc, timeout, flags == SHMAP_LOCK_EXCLUSIVE);
        else
            rc = cli_fail_lib(name, rc);
        shmap_close(seg);
        return rc;
    }
    /* A signal that came before COMMAND could receive it ends this run: nothing to pass on. */
    if (stop_sig) {
        if (!enclosed)
            shmap_unlock(seg);
        shmap_close(seg);
        return die_of(&saved, stop_sig);
    }
    /* Deleted while we waited (`shmap rm` took the lock first, or --force): the lock is of
     * an object nobody else will open again, and COMMAND would act on nothing shared. */
    if (!enclosed && deleted_meanwhile(seg, name)) {
        shmap_unlock(seg);
        shmap_close(seg);
        signals_restore(&saved);
        return cli_fail(name, "was deleted while waiting for its lock; COMMAND not run");
    }
    pid_t killed = 0;
    int status = run(name, argv + dash + 1, &saved, enclosed ? holder : 0, holder_fd, &killed);
    if (holder_fd >= 0)
        close(holder_fd);
    if (!enclosed)
        release(seg, name, argv[dash + 1], (unsigned)flags, killed, status);
    shmap_close(seg);
    /* Signals that came after COMMAND ended are dropped, not left pending to kill us on
     * the way out: it is gone, and its status is what we exit with. */
    sigprocmask(SIG_SETMASK, &saved.mask, NULL);
    signals_block();
    signals_restore(&saved);
    if (killed && status > 128)
        return die_like_command(status - 128);
    return status;
}
