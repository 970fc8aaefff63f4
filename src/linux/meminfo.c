/* Linux: numbers from /proc/meminfo, for the huge page size and the free pool, and the
 * memory a new segment can still take. */
#include <errno.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

unsigned shmap__meminfo(const char *const *fields, unsigned long long *values, size_t n)
{
    unsigned found = 0;
    for (size_t i = 0; i < n; i++)
        values[i] = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[128];
    while (fgets(line, sizeof line, f))
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(fields[i]);
            if (strncmp(line, fields[i], len) == 0 && line[len] == ':') {
                values[i] = strtoull(line + len + 1, NULL, 10);
                found |= i < 32 ? 1u << i : 0;
            }
        }
    fclose(f);
    return found;
}

/* The number in the file `dir`/`leaf`; "max" (cgroup v2's no limit) and errors are
 * UINT64_MAX. */
static uint64_t number_in(const char *dir, const char *leaf)
{
    char path[4220];
    snprintf(path, sizeof path, "%s/%s", dir, leaf);
    FILE *f = fopen(path, "re");
    if (!f)
        return UINT64_MAX;
    char line[64];
    uint64_t v = UINT64_MAX;
    if (fgets(line, sizeof line, f) && line[0] >= '0' && line[0] <= '9')
        v = strtoull(line, NULL, 10);
    fclose(f);
    return v;
}

/* The file pages counted in `dir`'s usage, which the kernel reclaims before it kills for
 * memory (shared memory is not among them: its pages are on the anonymous lists): the sum
 * of the memory.stat fields `inactive` and `active`, 0 where they cannot be read. */
static uint64_t file_pages(const char *dir, const char *inactive, const char *active)
{
    char path[4220], line[128];
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t sum = 0;
    size_t li = strlen(inactive), la = strlen(active);
    while (fgets(line, sizeof line, f))
        if ((strncmp(line, inactive, li) == 0 && line[li] == ' ') ||
            (strncmp(line, active, la) == 0 && line[la] == ' '))
            sum += strtoull(strchr(line, ' ') + 1, NULL, 10);
    fclose(f);
    return sum;
}

/*
 * The room under the memory limits of this process's cgroup and its ancestors: the least
 * of limit - (usage - file pages), UINT64_MAX where none is set or none can be read.
 * cgroup v2 (memory.max, memory.current; mounted at /sys/fs/cgroup, or
 * /sys/fs/cgroup/unified beside v1) and v1's memory controller (memory.limit_in_bytes,
 * memory.usage_in_bytes; "no limit" is a number near 2^63). Swap the cgroup may use is not
 * counted: a segment larger than its memory would live in swap.
 */
static uint64_t cgroup_room(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return UINT64_MAX;
    char line[4200], dir[4200];
    uint64_t room = UINT64_MAX;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *base, *limit, *usage, *path, *inactive, *active;
        if (strncmp(line, "0::", 3) == 0) {
            path = line + 3;
            base = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0
                       ? "/sys/fs/cgroup"
                       : "/sys/fs/cgroup/unified";
            limit = "memory.max";
            usage = "memory.current";
            inactive = "inactive_file";
            active = "active_file";
        } else {
            /* "N:memory:/path", or with controllers mounted together "N:cpu,memory:/path". */
            char *c = strchr(line, ':');
            char *c2 = c ? strchr(c + 1, ':') : NULL;
            if (!c2)
                continue;
            *c2 = '\0';
            bool memory = false;
            for (char *save = NULL, *t = strtok_r(c + 1, ",", &save); t && !memory;
                 t = strtok_r(NULL, ",", &save))
                memory = strcmp(t, "memory") == 0;
            if (!memory)
                continue;
            path = c2 + 1;
            base = "/sys/fs/cgroup/memory";
            limit = "memory.limit_in_bytes";
            usage = "memory.usage_in_bytes";
            inactive = "total_inactive_file";
            active = "total_active_file";
        }
        /* This cgroup, then each ancestor up to the root. */
        int n = snprintf(dir, sizeof dir, "%s%s", base, strcmp(path, "/") == 0 ? "" : path);
        if (n < 0 || (size_t)n >= sizeof dir)
            continue;
        for (;;) {
            /* The usage only under a limit: most levels have none, and reading a
             * cgroup's usage can cost the kernel a flush of its statistics. */
            uint64_t max = number_in(dir, limit);
            uint64_t used = max < (UINT64_C(1) << 62) ? number_in(dir, usage) : UINT64_MAX;
            if (used != UINT64_MAX) {
                uint64_t cache = file_pages(dir, inactive, active);
                used = cache < used ? used - cache : 0;
                room = used >= max ? 0 : max - used < room ? max - used : room;
            }
            char *slash = strrchr(dir, '/');
            if (!slash || (size_t)(slash - dir) < strlen(base))
                break;
            *slash = '\0';
        }
    }
    fclose(f);
    return room;
}

/* The host's room: available memory and free swap (MemAvailable + SwapFree); UINT64_MAX
 * when /proc/meminfo has no MemAvailable (kernels before 3.14) or cannot be read. A
 * MemAvailable of 0, which a host short of memory reports, is believed. */
static uint64_t host_room(void)
{
    static const char *const fields[2] = {"MemAvailable", "SwapFree"};
    unsigned long long kb[2];
    if (!(shmap__meminfo(fields, kb, 2) & 1u))
        return UINT64_MAX;
    return (uint64_t)(kb[0] + kb[1]) * 1024;
}

int shmap__memory_check(int fd, uint64_t size, uint64_t freed, const char *who)
{
    if (size < SHMAP__MEMCHECK_MIN)
        return 0;
    struct statfs fs;
    if (fd >= 0 && (fstatfs(fd, &fs) < 0 || fs.f_type != TMPFS_MAGIC))
        return 0;
    uint64_t host = host_room(), cg = cgroup_room(), room = cg < host ? cg : host;
    room = room > UINT64_MAX - freed ? UINT64_MAX : room + freed;
    if (size <= room)
        return 0;
    return shmap__err(-ENOMEM, "%s: not enough memory: %llu bytes needed, %llu available "
                               "(available memory and swap, or the room under this process's "
                               "memory cgroup limits)",
                      who, (unsigned long long)size, (unsigned long long)room);
}
