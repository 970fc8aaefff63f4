/* Linux: is a descriptor on a hugetlbfs mount, and with which page size (fstatfs). */
#include <sys/vfs.h>

#include "store.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

size_t shmap__hugetlbfs_page_size(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0 || (unsigned long)sf.f_type != (unsigned long)HUGETLBFS_MAGIC ||
        sf.f_bsize <= 0)
        return 0;
    return (size_t)sf.f_bsize;
}
