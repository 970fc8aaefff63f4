/* Linux: numbers from /proc/meminfo, for the huge page size and the free pool. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void shmap__meminfo(const char *const *fields, unsigned long long *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        values[i] = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return;
    char line[128];
    while (fgets(line, sizeof line, f))
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(fields[i]);
            if (strncmp(line, fields[i], len) == 0 && line[len] == ':')
                values[i] = strtoull(line + len + 1, NULL, 10);
        }
    fclose(f);
}
