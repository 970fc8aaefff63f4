/*
 * Linux: does any process map an object? Used by shmap_gc() before it removes a
 * transient segment, to see read-only attachers, which stay out of the attach table.
 *
 * Each /proc/PID/maps line names the device ("major:minor", hex) and inode of a mapped
 * file. Processes of other users cannot be read without privilege; they are not seen.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "internal.h"

static bool maps_has(const char *pid, dev_t dev, ino_t ino)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned maj, min;
        unsigned long long inode;
        if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) == 3)
            found = inode == (unsigned long long)ino && maj == major(dev) && min == minor(dev);
        /* A line longer than the buffer: skip the rest of it. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    fclose(f);
    return found;
}

bool shmap__mapped_by_any(dev_t dev, ino_t ino)
{
    DIR *d = opendir("/proc");
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        found = maps_has(e->d_name, dev, ino);
    }
    closedir(d);
    return found;
}
