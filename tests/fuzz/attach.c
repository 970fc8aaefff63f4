/*
 * Fuzz target: attaching to a segment another process wrote, and every accessor on the
 * handle. A segment is never trusted (SPEC: a bad one is a clear error, never a crash), so
 * whatever the bytes, open and the calls after it must not crash, hang or overrun.
 *
 * The input is mostly a description of a valid segment, which the fuzzer then damages, so
 * that the checks past the checksum are reached: byte 0 holds flags (bit 0: keep the
 * checksum as given; bit 1: open read-write; bit 2: open private; bit 3: the rest is the
 * object's raw bytes; bit 4: also stat and open it by name, as a file: segment; bit 5:
 * keep odd keyword and write sequences); then the type, the dimensions, the keyword
 * capacity, a record field list, up to 7 patches (offset, length, bytes) over the whole
 * object, keyword slots and data. Waits the design bounds (a creator still writing, gc, a
 * live keyword writer) are cleared, as they only slow the fuzzer down.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *in;
static size_t left;
static FILE *devnull;

static uint8_t take(void)
{
    if (!left)
        return 0;
    left--;
    return *in++;
}

/* What the command does with a handle's data, and every library call a reader makes. */
static void use(shmap_seg *seg)
{
    shmap_info info;
    char err[256], buf[512];
    if (shmap_info_get(seg, &info) == 0) {
        cli_layout l;
        if (cli_layout_init(&l, &info, err, sizeof err) == 0) {
            const unsigned char *d = shmap_data(seg);
            for (uint64_t i = 0; i < info.nelem && i < 64; i++) {
                double r;
                cli_value_print(devnull, &l, d + i * l.elsize);
                cli_value_real(&l, d + i * l.elsize, &r);
            }
            char *hdr;
            size_t hlen;
            if (cli_npy_make_header(&l, info.ndim, info.dims, &hdr, &hlen, err, sizeof err) == 0)
                free(hdr);
            cli_layout_free(&l);
        }
    }
    shmap_info_at_open(seg, &info);
    shmap_keyword *kw = NULL, one, few[4];
    int n = shmap_keyword_list_alloc(seg, &kw);
    for (int i = 0; i < n; i++)
        shmap_keyword_get(seg, kw[i].name, &one);
    free(kw);
    shmap_keyword_list(seg, few, 4);
    shmap_generation(seg);
    shmap_ring_length(seg);
    pid_t writer;
    shmap_write_state(seg, &writer);
    shmap_lockinfo li;
    shmap_lock_info(seg, &li);
    shmap_attacher att[4];
    shmap_attached(seg, att, 4);
    shmap_lock_holders(seg, buf, sizeof buf);
    shmap_os_handle(seg, buf, sizeof buf);
    size_t frame = shmap_frame_size(seg);
    if (frame && frame < (1u << 20)) {
        void *dst = malloc(frame);
        uint64_t seen = 0, missed = 0;
        shmap_read_frame(seg, &seen, dst, 0, &missed);
        free(dst);
    }
    if (shmap_lock(seg, SHMAP_LOCK_SHARED, 0) == 0)
        shmap_unlock(seg);
    if (shmap_writable(seg)) {
        if (shmap_keyword_parse("FZKEY = 12 / c", &one) == 0)
            shmap_keyword_set(seg, &one);
        shmap_keyword_set_many(seg, &one, 1, NULL, 0);
        shmap_keyword_delete(seg, "FZKEY");
        if (shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, 0) == 0)
            shmap_unlock(seg);
        void *f;
        if (shmap_write_begin(seg, &f) == 0)
            shmap_write_abort(seg);
    }
    shmap_seg *dup;
    if (shmap_dup(&dup, seg) == 0)
        shmap_close(dup);
}

/* A valid segment of the type and shape the input gives, damaged as it says; NULL when the
 * input describes none. */
static unsigned char *described(size_t *len)
{
    static const shmap_dtype types[16] = {
        SHMAP_U8,  SHMAP_I8,  SHMAP_U16, SHMAP_I16,  SHMAP_U32,  SHMAP_I32,
        SHMAP_U64, SHMAP_I64, SHMAP_F16, SHMAP_F32,  SHMAP_F64,  SHMAP_C64,
        SHMAP_C128, SHMAP_BOOL, SHMAP_RECORD, SHMAP_RECORD};
    shmap_dtype dtype = types[take() % 16];
    unsigned ndim = take() % 8 + 1, cap = take() % 40;
    uint64_t dims[SHMAP_MAX_DIMS];
    for (unsigned i = 0; i < ndim; i++)
        dims[i] = i < 2 ? take() % 32 + 1 : take() % 3 + 1;
    char rec[300] = "";
    size_t rlen = take(), elsize = shmap_dtype_size(dtype), reclen = 0;
    for (size_t i = 0; i < rlen; i++)
        rec[i] = (char)take();
    if (dtype == SHMAP_RECORD) {
        size_t es = 0;
        reclen = rlen + 1;
        elsize = shmap_record_parse(rec, &es) == 0 && es ? es : take() % 64 + 1;
    }
    struct shmap__layout lay;
    if (shmap__layout(&lay, "fuzz", elsize, ndim, dims, cap, reclen) < 0 ||
        lay.total_size > (8u << 20))
        return NULL;
    unsigned char *obj = calloc(1, lay.total_size);
    struct shmap__header *h = (struct shmap__header *)obj;
    shmap__header_init(h, &lay, dtype, ndim, dims, 0);
    h->state = SHMAP__STATE_READY;
    if (reclen)
        memcpy(obj + h->rec_offset, rec, reclen);
    for (unsigned p = 0, patches = take() % 8; p < patches; p++) {
        size_t off = take();
        off = (off | (size_t)take() << 8) % lay.total_size;
        for (size_t j = 0, plen = take() % 17; j < plen && off + j < lay.total_size; j++)
            obj[off + j] = take();
    }
    for (size_t k = 0; left && k < (size_t)cap * SHMAP__KW_SLOT_SIZE; k++)
        obj[lay.kw_offset + k] = take();
    for (size_t k = 0; left && k < lay.data_size; k++)
        obj[lay.data_offset + k] = take();
    *len = lay.total_size;
    return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[1024], name[1040];
    if (!devnull) {
        devnull = fopen("/dev/null", "w");
        /* make fuzz gives a directory it removes however the run ends. */
        const char *dir = getenv("SHMAP_FUZZ_DIR");
        snprintf(path, sizeof path, "%s/shmap-fuzz-%d", dir ? dir : "/dev/shm", (int)getpid());
        snprintf(name, sizeof name, "file:%s", path);
    }
    in = data;
    left = size;
    uint8_t mode = take();
    size_t len = 0;
    unsigned char *obj;
    if (mode & 8) {
        len = left > (1u << 20) ? (1u << 20) : left;
        obj = calloc(1, len ? len : 1);
        memcpy(obj, in, len);
    } else if (!(obj = described(&len))) {
        return 0;
    }
    struct shmap__header *h = len >= sizeof *h ? (struct shmap__header *)obj : NULL;
    if (h) {
        if (h->state == SHMAP__STATE_INIT)
            h->creator_pid = 0x7ffffff0; /* no such process: incomplete, at once */
        h->gc_pid = 0;
        h->kw_lock = 0;
        if (!(mode & 32)) {
            h->kw_seq &= ~1u;
            h->write_seq &= ~1u;
        }
        if (!(mode & 1))
            h->checksum = shmap__checksum(h);
    }
    unsigned flags = (mode & 2) ? SHMAP_RDWR : (mode & 4) ? SHMAP_PRIVATE : SHMAP_RDONLY;
    int fd = memfd_create("shmap-fuzz", MFD_CLOEXEC);
    shmap_seg *seg;
    if (fd >= 0 && (len == 0 || write(fd, obj, len) == (ssize_t)len) &&
        shmap_open_fd(&seg, fd, flags) == 0) {
        use(seg);
        shmap_close(seg);
    }
    if (fd >= 0)
        close(fd);
    if (mode & 16) {
        int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (f >= 0) {
            int whole = len == 0 || write(f, obj, len) == (ssize_t)len;
            close(f);
            shmap_info info;
            if (whole) {
                shmap_stat(name, &info); /* the listing's reader, which maps nothing */
                if (shmap_open(&seg, name, flags) == 0) {
                    use(seg);
                    shmap_close(seg);
                }
            }
            unlink(path);
        }
    }
    free(obj);
    return 0;
}
