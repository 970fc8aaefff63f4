/* Names and cleanup for the benchmark programs: see names.h. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "names.h"
#include "shmap.h"

#define SHM_DIR "/dev/shm"
#define MAX_NAMES 2100
#define HANDLE_MAX 128

volatile sig_atomic_t bench_stop;
char bench_prefix[64];

static const char *g_prog = "shmap-bench";
static char g_handles[MAX_NAMES][HANDLE_MAX]; /* POSIX names, "/bench-..." */
static volatile sig_atomic_t g_nhandles;

void bench_name_register(const char *name)
{
    const char *slash = name[0] == '/' ? "" : "/";
    if (g_nhandles >= MAX_NAMES || strlen(name) + 2 > HANDLE_MAX)
        return;
    snprintf(g_handles[g_nhandles], HANDLE_MAX, "%s%s", slash, name);
    g_nhandles = g_nhandles + 1; /* after the name is complete: a handler may read it */
}

void bench_names_unlink(void)
{
    for (int i = 0; i < g_nhandles; i++)
        shm_unlink(g_handles[i]);
}

static void on_signal(int sig)
{
    if (!bench_stop) {
        bench_stop = 1;
        return;
    }
    bench_names_unlink();
    static const char msg[] = ": interrupted twice; removed its segments\n";
    ssize_t ignored = write(2, g_prog, strlen(g_prog));
    ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(128 + sig);
}

void bench_names_init(const char *prog)
{
    g_prog = prog;
    snprintf(bench_prefix, sizeof bench_prefix, "bench-%ld", (long)getpid());
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int bench_name_fresh(char *buf, size_t size)
{
    int rc = shmap_name_unique(buf, size, bench_prefix);
    if (rc == 0)
        bench_name_register(buf);
    return rc;
}

int bench_names_sweep(void)
{
    char tmp_prefix[64];
    snprintf(tmp_prefix, sizeof tmp_prefix, ".shmap-tmp-%ld-", (long)getpid());
    DIR *d = opendir(SHM_DIR);
    if (!d)
        return 0;
    int left = 0;
    size_t plen = strlen(bench_prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if ((strncmp(e->d_name, bench_prefix, plen) == 0 && e->d_name[plen] == '-') ||
            strncmp(e->d_name, tmp_prefix, strlen(tmp_prefix)) == 0) {
            char h[300];
            snprintf(h, sizeof h, "/%s", e->d_name);
            if (shm_unlink(h) == 0)
                left++;
        }
    }
    closedir(d);
    return left;
}

void bench_error(const char *what, int rc)
{
    const char *detail = shmap_last_error();
    fprintf(stderr, "%s: %s: %s (%s)%s%s\n", g_prog, what, shmap_strerror(rc), shmap_errname(rc),
            detail[0] ? ": " : "", detail);
}

void bench_syserror(const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", g_prog, what, shmap_strerror(rc), shmap_errname(rc));
}
