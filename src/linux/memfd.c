/* Linux: anonymous descriptors (memfd_create) and the huge pages behind them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "store.h"

size_t shmap__hugepage_size(const char *who)
{
    static const char *const fields[2] = {"Hugepagesize", "HugePages_Total"};
    unsigned long long info[2], nr = 0;
    shmap__meminfo(fields, info, 2);
    unsigned long long kb = info[0], total = info[1];
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "re");
    if (f) {
        if (fscanf(f, "%llu", &nr) != 1)
            nr = 0;
        fclose(f);
    }
    if (kb == 0) {
        shmap__err(SHMAP_ESTORE, "%s: this kernel offers no huge pages (no Hugepagesize in "
                                 "/proc/meminfo)", who);
        return 0;
    }
    if (nr == 0 && total == 0) {
        shmap__err(SHMAP_ESTORE, "%s: no huge pages are configured (/proc/sys/vm/nr_hugepages "
                                 "is 0): reserve some with `sysctl vm.nr_hugepages=N` (N pages "
                                 "of %llu kB)", who, kb);
        return 0;
    }
    return (size_t)kb * 1024;
}

int shmap__memfd_new(const char *label, bool hugepages, const char *who)
{
    unsigned flags = MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0);
    int fd = memfd_create(*label ? label : "shmap", flags);
    if (fd >= 0)
        return fd;
    int e = errno;
    if (hugepages && (e == EINVAL || e == ENOENT))
        return shmap__err(SHMAP_ESTORE, "%s: this kernel cannot make huge-page memfds", who);
    return shmap__err(-e, "%s: memfd_create: %s%s", who, strerror(e), shmap__fd_hint(e));
}
