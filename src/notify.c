/* Change notification: the generation counter, publishing and waiting. */
#include <time.h>

#include "internal.h"

uint64_t shmap_generation(const shmap_seg *seg)
{
    return seg ? __atomic_load_n(&shmap__hdr(seg)->generation, __ATOMIC_ACQUIRE) : 0;
}

int shmap_publish(shmap_seg *seg)
{
    if (!seg)
        return shmap__err(SHMAP_EINVAL, "shmap_publish: NULL segment");
    if (!seg->map->writable)
        return shmap__err(SHMAP_EREADONLY, "%s: cannot publish through a read-only handle",
                          seg->map->name.name);
    struct shmap__header *h = shmap__hdr(seg);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    __atomic_store_n(&h->last_publish_ns, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec,
                     __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->generation, 1, __ATOMIC_RELEASE);
    if (__atomic_load_n(&h->gen_waiters, __ATOMIC_ACQUIRE))
        shmap__wake_all(&h->generation);
    return 0;
}
