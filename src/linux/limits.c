/*
 * Linux: which of this process's limits a failed mapping ran into, for its message. An
 * mmap or shmat that fails with ENOMEM may lack memory, or pass the address space limit
 * (ulimit -v) or vm.max_map_count; one that fails with EAGAIN, in a process that locks its
 * memory (mlockall(MCL_FUTURE)), passes the locked-memory limit (ulimit -l). The kernel says
 * which by the errno alone; /proc and the limits tell the rest. Likewise for an open that
 * runs out of descriptors: this process's limit, or the system's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../internal.h"

/* The first number after `key` in a /proc file of "Key: value" lines, or 0. */
static unsigned long long proc_value(const char *path, const char *key)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long v = 0;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && sscanf(line + klen, "%llu", &v) == 1)
            break;
    fclose(f);
    return v;
}

unsigned long long shmap__proc_number(const char *path)
{
    FILE *f = fopen(path, "re");
    unsigned long long v = 0;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static unsigned long long count_lines(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    unsigned long long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static _Thread_local char hint[288];

const char *shmap__as_hint(uint64_t len)
{
    hint[0] = '\0';
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
        unsigned long long vm =
            shmap__proc_number("/proc/self/statm") * (unsigned long long)sysconf(_SC_PAGESIZE);
        if (vm + len > lim.rlim_cur)
            snprintf(hint, sizeof hint, " (past this process's address space limit, ulimit "
                     "-v: %llu bytes, %llu in use)", (unsigned long long)lim.rlim_cur, vm);
    }
    return hint;
}

const char *shmap__fd_hint(int e)
{
    static _Thread_local char fd_hint[96];
    fd_hint[0] = '\0';
    struct rlimit lim;
    if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
        snprintf(fd_hint, sizeof fd_hint, " (this process's limit, ulimit -n, is %llu)",
                 (unsigned long long)lim.rlim_cur);
    else if (e == ENFILE)
        snprintf(fd_hint, sizeof fd_hint, " (the system-wide limit, fs.file-max, is reached)");
    return fd_hint;
}

bool shmap__past_as_limit(uint64_t len)
{
    struct rlimit lim;
    return getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY &&
           len > lim.rlim_cur;
}

/* A number in a file of sysfs, or -1 when it cannot be read. */
static long long sys_number(const char *path)
{
    FILE *f = fopen(path, "re");
    long long v = -1;
    if (f) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

const char *shmap__huge_map_hint(int err, uint64_t len, size_t granule, uint64_t allocated)
{
    /* The kernel refuses the map count and the address space before the reservation. */
    const char *limit = shmap__map_hint(err, len);
    if (*limit || err != -ENOMEM || granule <= (size_t)sysconf(_SC_PAGESIZE))
        return limit;
    /* Pages the object holds already need no reservation; the pool of this size, less
     * what other mappings have reserved from it, is what the rest may take. */
    unsigned long long kb = granule / 1024, pages = (len + granule - 1) / granule;
    unsigned long long held = allocated / granule, need = pages > held ? pages - held : 0;
    char path[96];
    snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages", kb);
    long long nfree = sys_number(path);
    snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%llukB/resv_hugepages", kb);
    long long resv = sys_number(path);
    if (need == 0 || nfree < 0 || resv < 0 || nfree - resv >= (long long)need)
        return limit;
    snprintf(hint, sizeof hint, " (it needs %llu more huge %s of %llu kB, reserved when it is "
             "mapped, and %lld %s free and unreserved; raise nr_hugepages in "
             "/sys/kernel/mm/hugepages/hugepages-%llukB)", need, need == 1 ? "page" : "pages",
             kb, nfree > resv ? nfree - resv : 0, nfree - resv == 1 ? "is" : "are", kb);
    return hint;
}

const char *shmap__map_hint(int err, uint64_t len)
{
    hint[0] = '\0';
    struct rlimit lim;
    if (err == -ENOMEM && *shmap__as_hint(len))
        return hint;
    if (err == -ENOMEM) {
        unsigned long long max = shmap__proc_number("/proc/sys/vm/max_map_count");
        unsigned long long maps = max ? count_lines("/proc/self/maps") : 0;
        if (max && maps + 2 >= max)
            snprintf(hint, sizeof hint, " (this process has %llu mappings, as many as "
                     "vm.max_map_count allows)", maps);
        return hint;
    }
    if (err == -EAGAIN && getrlimit(RLIMIT_MEMLOCK, &lim) == 0 &&
        lim.rlim_cur != RLIM_INFINITY && proc_value("/proc/self/status", "VmLck:") > 0)
        snprintf(hint, sizeof hint, " (this process locks its memory, and the locked-memory "
                 "limit, ulimit -l, is %llu bytes)", (unsigned long long)lim.rlim_cur);
    return hint;
}
