/* The table of backing stores (store.h). */
#include "store.h"

const struct shmap__store_ops *shmap__store_ops(shmap_store store)
{
    switch (store) {
    case SHMAP_STORE_POSIX: return &shmap__posix_ops;
    case SHMAP_STORE_SYSV: return &shmap__sysv_ops;
    case SHMAP_STORE_FILE: return &shmap__file_ops;
    case SHMAP_STORE_MEMFD: return &shmap__memfd_ops;
    }
    return &shmap__posix_ops;
}
