/*
 * Linux: the mount point of the file system behind a descriptor, to name it in a message
 * ("... available in /dev/shm"). /proc/self/fdinfo/FD gives the descriptor's mount id, and
 * /proc/self/mountinfo the mount point of that id as this process's mount namespace sees
 * it: the mount the object is on, even where one file system is mounted in several places.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* The mount id of a descriptor ("mnt_id:" in its fdinfo), or -1. */
static long mount_id(int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long id = -1;
    while (id < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "mnt_id:", 7) == 0)
            id = strtol(line + 7, NULL, 10);
    fclose(f);
    return id;
}

/* Undo mountinfo's escapes of space, tab, newline and backslash ("\040") in place. */
static void unescape(char *s)
{
    char *out = s;
    for (const char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
            p[3] >= '0' && p[3] <= '7') {
            *out++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
}

int shmap__fd_mount_point(int fd, char *buf, size_t size)
{
    long id = mount_id(fd);
    if (id < 0 || size == 0)
        return -1;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    /* "36 35 98:0 /root /mnt/point rw,... - ext4 /dev/sda1 rw": the id, then the mount
     * point as the fifth field. A line is at most a few paths long. */
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;
    while (rc < 0 && getline(&line, &cap, f) > 0) {
        char *save = NULL, *field = strtok_r(line, " ", &save);
        if (!field || strtol(field, NULL, 10) != id)
            continue;
        for (int i = 0; i < 4 && field; i++)
            field = strtok_r(NULL, " ", &save);
        if (!field)
            break;
        unescape(field);
        if (strlen(field) < size) {
            memcpy(buf, field, strlen(field) + 1);
            rc = 0;
        }
        break;
    }
    free(line);
    fclose(f);
    return rc;
}
