/*
 * The on-segment header: computing a layout with overflow checks, writing a header, and
 * checking one found in shared memory. Nothing read from a segment is trusted: every field
 * is checked against the others and against the object's size as the kernel reports it
 * before anything is computed from it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/*
 * FNV-1a's step taken a 64-bit word at a time over the 31 words of the fixed part: an attach
 * computes it on every open, and a byte at a time it cost a third of a microsecond, a tenth
 * of what attaching adds to the bare system calls. Each step is a bijection of the running
 * value (an odd multiplier), so any change to one word changes the sum.
 */
uint64_t shmap__checksum(const struct shmap__header *h)
{
    const unsigned char *p = (const unsigned char *)h;
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < SHMAP__FIXED_SIZE; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        x = (x ^ w) * 0x100000001b3ull;
    }
    return x;
}

size_t shmap__page_size(void)
{
    /* Found by the first caller, and maybe a few at once: they all find the same value, so
     * the word need only be read and written whole (relaxed atomics), never torn. */
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);
    if (!p) {
        long n = sysconf(_SC_PAGESIZE);
        p = n > 0 ? (size_t)n : 4096;
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}

static bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static uint64_t data_offset_for_page(size_t page)
{
    return page > SHMAP__HEADER_SIZE ? page : SHMAP__HEADER_SIZE;
}

/* Largest object we make or accept: it must fit both off_t and size_t. */
#define MAX_TOTAL ((uint64_t)(SIZE_MAX < INT64_MAX ? SIZE_MAX : INT64_MAX))

int shmap__layout(struct shmap__layout *lay, const char *who, size_t elsize,
                  unsigned ndim, const uint64_t *dims, unsigned kw_capacity, size_t rec_len)
{
    memset(lay, 0, sizeof *lay);
    if (ndim < 1 || ndim > SHMAP_MAX_DIMS)
        return shmap__err(SHMAP_ESHAPE, "%s: %u dimensions, must be 1 to %d", who, ndim,
                          SHMAP_MAX_DIMS);
    if (!dims)
        return shmap__err(SHMAP_ESHAPE, "%s: no dimensions given", who);
    if (elsize == 0 || elsize > UINT32_MAX)
        return shmap__err(SHMAP_EDTYPE, "%s: element size %zu", who, elsize);
    if (kw_capacity > SHMAP__KW_MAX_CAPACITY)
        return shmap__err(SHMAP_ESIZE, "%s: %u keyword slots, at most %u", who, kw_capacity,
                          SHMAP__KW_MAX_CAPACITY);
    uint64_t n = 1;
    for (unsigned i = 0; i < ndim; i++) {
        if (dims[i] == 0)
            return shmap__err(SHMAP_ESHAPE, "%s: dimension %u is zero", who, i);
        if (!mul_ok(n, dims[i], &n))
            return shmap__err(SHMAP_ESIZE, "%s: the product of the dimensions overflows 64 bits",
                              who);
    }
    lay->nelem = n;
    lay->elsize = (uint32_t)elsize;
    lay->data_offset = data_offset_for_page(shmap__page_size());
    lay->kw_capacity = kw_capacity;
    lay->rec_len = (uint32_t)rec_len;
    uint64_t end, kw_bytes;
    if (!mul_ok(n, elsize, &lay->data_size))
        return shmap__err(SHMAP_ESIZE, "%s: %llu %s of %zu %s overflow 64 bits", who,
                          (unsigned long long)n, shmap__plural(n, "element", "elements"), elsize,
                          shmap__plural(elsize, "byte", "bytes"));
    /* The data alone may fit and the whole segment not: say what overflows. */
    kw_bytes = (uint64_t)kw_capacity * SHMAP__KW_SLOT_SIZE;
    if (!add_ok(lay->data_offset, lay->data_size, &end) || !add_ok(end, 7, &end) ||
        !add_ok(end & ~(uint64_t)7, kw_bytes, &lay->rec_offset) ||
        !add_ok(lay->rec_offset, rec_len, &lay->total_size))
        return shmap__err(SHMAP_ESIZE, "%s: %llu bytes of data overflow 64 bits once the header "
                                       "and keyword area are added", who,
                          (unsigned long long)lay->data_size);
    lay->kw_offset = end & ~(uint64_t)7;
    if (lay->total_size > MAX_TOTAL)
        return shmap__err(SHMAP_ESIZE, "%s: %llu %s of data is more than this system can map",
                          who, (unsigned long long)lay->data_size,
                          shmap__plural(lay->data_size, "byte", "bytes"));
    return 0;
}

void shmap__header_init(struct shmap__header *h, const struct shmap__layout *lay,
                        shmap_dtype dtype, unsigned ndim, const uint64_t *dims, unsigned flags)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(h, 0, SHMAP__FIXED_SIZE);
    memcpy(h->magic, SHMAP__MAGIC, SHMAP__MAGIC_LEN);
    h->bom = SHMAP__BOM;
    h->version = SHMAP__FORMAT_VERSION;
    h->header_size = SHMAP__HEADER_SIZE;
    h->flags = flags;
    h->data_offset = lay->data_offset;
    h->data_size = lay->data_size;
    h->total_size = lay->total_size;
    h->dtype = (uint32_t)dtype;
    h->elsize = lay->elsize;
    h->ndim = ndim;
    h->page_size = (uint32_t)shmap__page_size();
    for (unsigned i = 0; i < ndim; i++)
        h->dims[i] = dims[i];
    h->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    h->creator_pid = (int32_t)shmap__getpid();
    h->creator_uid = (uint32_t)geteuid();
    h->creator_start = shmap__self_start();
    h->kw_offset = lay->kw_offset;
    h->kw_capacity = lay->kw_capacity;
    h->kw_slot_size = SHMAP__KW_SLOT_SIZE;
    h->rec_offset = lay->rec_offset;
    h->rec_len = lay->rec_len;
    h->lock_offset = SHMAP__LOCK_OFFSET;
    h->lock_size = SHMAP__LOCK_SIZE;
    h->checksum = shmap__checksum(h);
}

enum shmap__creator shmap__creator_state(const struct shmap__header *h, size_t avail)
{
    /* The creator recorded itself in slot 0 with its pid namespace; a pid of another
     * namespace names some other process here, or none. A copy too short to hold the
     * slot judges by the pid alone. */
    const struct shmap__lockarea *a =
        (const struct shmap__lockarea *)((const char *)h + SHMAP__LOCK_OFFSET);
    size_t slot0_end = SHMAP__LOCK_OFFSET + offsetof(struct shmap__lockarea, slots) +
                       sizeof a->slots[0];
    if (avail >= slot0_end && a->slots[0].pid == h->creator_pid && a->slots[0].pidns &&
        shmap__self_pidns() && a->slots[0].pidns != shmap__self_pidns())
        return SHMAP__CREATOR_UNKNOWN;
    return shmap__proc_alive(h->creator_pid, h->creator_start) ? SHMAP__CREATOR_ALIVE
                                                               : SHMAP__CREATOR_DEAD;
}

/*
 * A header still marked INIT: say whether its creator is at work or died at it, which the
 * user would otherwise have to find out (a System V segment keeps its full size until
 * something removes it). Only System V creations are ever seen so: POSIX and file segments
 * are completed under a hidden name before they get theirs, so one of those under its name
 * was damaged or written by something else, and gc, which removes only what it can prove
 * a dead creation left, removes the System V ones alone. A forced delete removes either.
 */
static int incomplete(const struct shmap__header *h, size_t avail, const char *who)
{
    switch (shmap__creator_state(h, avail)) {
    case SHMAP__CREATOR_ALIVE:
        return shmap__err(SHMAP_EINCOMPLETE, "%s: segment is still being created by pid %d",
                          who, h->creator_pid);
    case SHMAP__CREATOR_DEAD:
        return shmap__err(SHMAP_EINCOMPLETE, "%s: segment was never completed: its creator "
                                             "(pid %d) died while creating it (remove it with "
                                             "`shmap rm --force`)", who, h->creator_pid);
    case SHMAP__CREATOR_UNKNOWN:
        break;
    }
    return shmap__err(SHMAP_EINCOMPLETE, "%s: segment is still being created, or its creator "
                                         "(pid %d of another pid namespace) died while "
                                         "creating it", who, h->creator_pid);
}

int shmap__header_check(const struct shmap__header *h, size_t avail, uint64_t object_size,
                        const char *who)
{
    if (avail < SHMAP__MAGIC_LEN || memcmp(h->magic, SHMAP__MAGIC, SHMAP__MAGIC_LEN) != 0)
        return shmap__err(SHMAP_EFORMAT, "%s: not a shmap segment (no shmap magic in its %llu "
                                         "%s)", who, (unsigned long long)object_size,
                          shmap__plural(object_size, "byte", "bytes"));
    if (avail < SHMAP__CHECKED_SIZE || object_size < SHMAP__HEADER_SIZE)
        return shmap__err(SHMAP_ETRUNCATED, "%s: object is %llu %s, shorter than a %u-byte "
                                            "header", who, (unsigned long long)object_size,
                          shmap__plural(object_size, "byte", "bytes"), SHMAP__HEADER_SIZE);
    if (h->bom == SHMAP__BOM_SWAPPED)
        return shmap__err(SHMAP_EBYTEORDER, "%s: segment was made on a machine of the other "
                                            "byte order", who);
    if (h->bom != SHMAP__BOM)
        return shmap__err(SHMAP_ECORRUPT, "%s: byte-order mark is 0x%08x", who, h->bom);
    if (h->version != SHMAP__FORMAT_VERSION)
        return shmap__err(SHMAP_EVERSION, "%s: format version %u, this library reads version %u",
                          who, h->version, SHMAP__FORMAT_VERSION);
    if (h->checksum != shmap__checksum(h))
        return shmap__err(SHMAP_ECORRUPT, "%s: header checksum does not match its fields", who);

    /* The checksum only proves the fields were written together; check they make sense. */
    if (h->header_size != SHMAP__HEADER_SIZE || h->lock_offset != SHMAP__LOCK_OFFSET ||
        h->lock_size != SHMAP__LOCK_SIZE || h->kw_slot_size != SHMAP__KW_SLOT_SIZE)
        return shmap__err(SHMAP_ECORRUPT, "%s: header describes an unknown layout", who);
    if (h->data_offset < SHMAP__HEADER_SIZE || h->data_offset % shmap__page_size() != 0)
        return shmap__err(SHMAP_ECORRUPT, "%s: data offset %llu is not a page-aligned offset "
                                          "past the header", who,
                          (unsigned long long)h->data_offset);
    size_t elsize;
    if (h->dtype == SHMAP_RECORD) {
        if (h->rec_len < 4 || h->rec_len > SHMAP_RECORD_FIELDS_MAX || h->elsize == 0)
            return shmap__err(SHMAP_ECORRUPT, "%s: record type without a valid field list", who);
        elsize = h->elsize;
    } else {
        elsize = shmap_dtype_size((shmap_dtype)h->dtype);
        if (elsize == 0)
            return shmap__err(SHMAP_ECORRUPT, "%s: unknown element type code %u", who, h->dtype);
        if (h->elsize != elsize)
            return shmap__err(SHMAP_ECORRUPT, "%s: element size %u does not match type %s", who,
                              h->elsize, shmap_dtype_name((shmap_dtype)h->dtype));
        if (h->rec_len != 0)
            return shmap__err(SHMAP_ECORRUPT, "%s: a record field list (%u %s) is recorded "
                                              "for type %s, which is not a record", who,
                              h->rec_len, shmap__plural(h->rec_len, "byte", "bytes"),
                              shmap_dtype_name((shmap_dtype)h->dtype));
    }
    if (h->ndim < 1 || h->ndim > SHMAP_MAX_DIMS)
        return shmap__err(SHMAP_ECORRUPT, "%s: %u dimensions recorded", who, h->ndim);
    for (unsigned i = h->ndim; i < SHMAP_MAX_DIMS; i++)
        if (h->dims[i] != 0)
            return shmap__err(SHMAP_ECORRUPT, "%s: dimension %u set past ndim %u", who, i,
                              h->ndim);
    /* Recompute the whole layout from type and dims and require the recorded one. The
     * layout's own message ("WHO: the product of the dimensions overflows...") is kept, with
     * what it means here put after the name, and the code made ECORRUPT: the header is bad,
     * not a caller's request. */
    struct shmap__layout lay;
    if (shmap__layout(&lay, who, elsize, h->ndim, h->dims, h->kw_capacity, h->rec_len) < 0) {
        /* Its message is "WHO: detail"; the detail is copied before the new message is
         * made (built only now: every open passes here). */
        const char *detail = shmap_last_error();
        size_t wlen = strlen(who);
        if (strncmp(detail, who, wlen) == 0 && strncmp(detail + wlen, ": ", 2) == 0)
            detail += wlen + 2;
        char why[512]; /* as long as any detail */
        snprintf(why, sizeof why, "%s", detail);
        return shmap__err(SHMAP_ECORRUPT, "%s: recorded layout is invalid: %s", who, why);
    }
    /* Every offset is recomputed from the recorded data offset, each sum overflow-checked. */
    uint64_t end, kw_end, total;
    if (!add_ok(h->data_offset, lay.data_size, &end) || !add_ok(end, 7, &end))
        return shmap__err(SHMAP_ECORRUPT, "%s: data extends past 64 bits", who);
    if (h->data_size != lay.data_size)
        return shmap__err(SHMAP_ECORRUPT, "%s: data size %llu does not match %llu %s of %zu %s",
                          who, (unsigned long long)h->data_size, (unsigned long long)lay.nelem,
                          shmap__plural(lay.nelem, "element", "elements"), elsize,
                          shmap__plural(elsize, "byte", "bytes"));
    end &= ~(uint64_t)7;
    if (!add_ok(end, (uint64_t)h->kw_capacity * SHMAP__KW_SLOT_SIZE, &kw_end) ||
        !add_ok(kw_end, h->rec_len, &total) || h->kw_offset != end || h->rec_offset != kw_end ||
        h->total_size != total || total > MAX_TOTAL)
        return shmap__err(SHMAP_ECORRUPT, "%s: keyword or record area offsets are inconsistent",
                          who);
    if (h->total_size > object_size)
        return shmap__err(SHMAP_ETRUNCATED, "%s: object is %llu bytes, its header needs %llu", who,
                          (unsigned long long)object_size, (unsigned long long)h->total_size);
    uint32_t state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
    if (state == SHMAP__STATE_INIT)
        return incomplete(h, avail, who);
    if (state != SHMAP__STATE_READY)
        return shmap__err(SHMAP_ECORRUPT, "%s: unknown state %u", who, state);
    return 0;
}

int shmap__record_check(const char *rec, uint32_t rec_len, uint32_t elsize, const char *who,
                        char *out)
{
    /* Copied once, then only the copy is read: another process with write access may
     * change the list in the mapping meanwhile, and a list checked there but read again
     * (its NUL gone) would be read past its end. */
    char buf[SHMAP_RECORD_FIELDS_MAX];
    size_t fields_size;
    if (rec_len < 4 || rec_len > sizeof buf)
        return shmap__err(SHMAP_ECORRUPT, "%s: record field list is not a string", who);
    memcpy(buf, rec, rec_len);
    if (buf[rec_len - 1] != '\0' || strlen(buf) != rec_len - 1)
        return shmap__err(SHMAP_ECORRUPT, "%s: record field list is not a string", who);
    if (shmap__record_parse_stored(buf, &fields_size) < 0) {
        /* The parser's detail says what is wrong ("field name 'x' appears twice"); it is
         * copied out before the new detail is written over it. */
        char why[256];
        const char *detail = shmap_last_error();
        if (strncmp(detail, "record: ", 8) == 0)
            detail += 8;
        snprintf(why, sizeof why, "%s", detail);
        return shmap__err(SHMAP_ECORRUPT, "%s: record field list '%s' is not valid: %s", who,
                          buf, why);
    }
    if (fields_size != elsize)
        return shmap__err(SHMAP_ECORRUPT, "%s: record field list '%s' describes %zu-byte "
                                          "elements, not the segment's %u-byte ones", who, buf,
                          fields_size, elsize);
    if (out)
        memcpy(out, buf, rec_len);
    return 0;
}

bool shmap__transient(const struct shmap__header *h, const struct shmap__header *live)
{
    /* 1 only: the field was 0 in every segment made before it was used, and damage must
     * not widen what gc removes. */
    return (h->flags & SHMAP_SEG_TRANSIENT) ||
           __atomic_load_n(&live->creator_destroys, __ATOMIC_RELAXED) == 1;
}

void shmap__info_fill(shmap_info *info, const struct shmap__header *h,
                      const struct shmap__header *live, const struct shmap__kwslot *slots,
                      const char *rec)
{
    if (!live)
        live = h;
    info->version = h->version;
    info->dtype = (shmap_dtype)h->dtype;
    info->elsize = h->elsize;
    info->ndim = h->ndim;
    info->nelem = 1;
    for (unsigned i = 0; i < SHMAP_MAX_DIMS; i++) {
        info->dims[i] = i < h->ndim ? h->dims[i] : 0;
        if (i < h->ndim)
            info->nelem *= h->dims[i];
    }
    info->data_offset = h->data_offset;
    info->data_size = h->data_size;
    info->creator_pid = h->creator_pid;
    info->creator_uid = h->creator_uid;
    info->created_ns = h->created_ns;
    info->generation = __atomic_load_n(&live->generation, __ATOMIC_ACQUIRE);
    info->flags = h->flags;
    info->transient = shmap__transient(h, live);
    info->keyword_capacity = h->kw_capacity;
    info->nkeywords = slots ? shmap__keyword_count(slots, h->kw_capacity) : 0;
    info->published_ns = __atomic_load_n(&live->last_publish_ns, __ATOMIC_RELAXED);
    info->record_fields[0] = '\0';
    if (rec && h->rec_len)
        snprintf(info->record_fields, sizeof info->record_fields, "%.*s", (int)h->rec_len, rec);
}
