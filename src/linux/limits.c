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

const char *shmap__huge_map_hint(int err, uint64_t len, size_t granule)
{
    if (err != -ENOMEM || granule <= (size_t)sysconf(_SC_PAGESIZE) || *shmap__as_hint(len))
        return shmap__map_hint(err, len);
    /* The pool of this size, less what other mappings have reserved from it. */
    unsigned long long kb = granule / 1024, need = (len + granule - 1) / granule;
    char path[96];
    snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages", kb);
    unsigned long long nfree = shmap__proc_number(path);
    snprintf(path, sizeof path, "/sys/kernel/mm/hugepages/hugepages-%llukB/resv_hugepages", kb);
    unsigned long long resv = shmap__proc_number(path), avail = nfree > resv ? nfree - resv : 0;
    if (avail >= need)
        return shmap__map_hint(err, len);
    snprintf(hint, sizeof hint, " (its huge pages are reserved when it is mapped: %llu x %llu "
             "kB, and %llu are free and unreserved; see /sys/kernel/mm/hugepages/"
             "hugepages-%llukB, raise vm.nr_hugepages)", need, kb, avail, kb);
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
