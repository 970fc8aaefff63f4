/*
 * shmap bench: shmap against the bare system calls doing the same work, in the same run.
 *
 *   shmap-bench [--quick] [--strict]
 *
 * For a 4 KiB and a 64 MiB array it measures:
 *
 *   create+destroy  shmap_create() with the default options (destroy on close) + shmap_close(),
 *                   against shm_open(O_CREAT|O_EXCL|O_RDWR, 0600) + ftruncate + posix_fallocate
 *                   of the size shmap reserves + mmap + munmap + close + shm_unlink;
 *   attach+detach   shmap_open(SHMAP_RDONLY) + shmap_close() of an existing segment that this
 *                   process does not map (so each open is a real attach, not a registry hit),
 *                   against shm_open(O_RDONLY) + fstat + mmap(PROT_READ, MAP_SHARED) + munmap +
 *                   close of an object of the same size;
 *
 * and for a 512x512 float32 image (1 MiB):
 *
 *   create+write+destroy  the same create and destroy, with the whole image copied in
 *                   (memcpy from a buffer) between them, at the data offset on both sides;
 *                   target <= 1.1x the bare calls.
 *
 * It times shmap_list() over 2,000 segments carrying three keywords each, without and with
 * SHMAP_LIST_KEYWORDS (what `shmap ls --json` and Python's list() ask), interleaved round by
 * round, and an uncontended lock+unlock pair:
 *
 *   shared, exclusive  shmap_lock(SHMAP_LOCK_SHARED or _EXCLUSIVE, -1) + shmap_unlock(), against
 *                   an atomic increment+decrement of a word on a line of a shared page (what
 *                   the shared lock does at least), a process-shared robust pthread mutex
 *                   lock+unlock, and an fcntl(F_SETLKW) write lock+unlock of one byte of a
 *                   /dev/shm object (CFITSIO's mechanism); target: each shmap pair < 30 ns.
 *
 * Each comparison interleaves the two sides round by round (see harness.h) and reports
 * medians and 90th percentiles; the ratio is of the medians. --quick takes a tenth of the
 * samples; --strict exits 1 when a target is missed (by default missing a target is
 * reported, not an error, since these machines are noisy).
 *
 * Every object it makes is named bench-<pid>-..., removed as it goes and swept at the end;
 * the first SIGINT/SIGTERM stops the measurements and cleans up normally, a second one
 * unlinks what is registered and exits at once (names.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness.h"
#include "names.h"
#include "shmap.h"

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define LIST_COUNT 2000
#define LIST_TARGET_MS 100.0
#define SHM_DIR "/dev/shm"
#define HANDLE_MAX (SHMAP_NAME_MAX + 1)
#define IMAGE_SIDE 512

/* ---------------------------------------------------------------------------------------- */
/* The operations. Bare ones return -errno and undo what they did on failure. */

struct op_ctx {
    char name[SHMAP_NAME_MAX]; /* shmap's side */
    char handle[HANDLE_MAX];   /* bare side: a POSIX name with its '/' */
    shmap_dtype dtype;         /* the array */
    unsigned ndim;
    uint64_t dims[2];
    uint64_t data_bytes;       /* its size in bytes */
    uint64_t data_offset;      /* where shmap puts it; the bare side writes there too */
    uint64_t total;            /* the object's size, as shmap reserves it */
    const void *src;           /* when set, create also copies data_bytes from here */
};

static int op_shmap_create(void *p, unsigned n)
{
    struct op_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        shmap_seg *seg;
        int rc = shmap_create(&seg, c->name, c->dtype, c->ndim, c->dims, NULL);
        if (rc < 0)
            return rc;
        if (c->src)
            memcpy(shmap_data(seg), c->src, c->data_bytes);
        rc = shmap_close(seg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int op_bare_create(void *p, unsigned n)
{
    struct op_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        int fd = shm_open(c->handle, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0)
            return -errno;
        int err = 0;
        void *m = MAP_FAILED;
        if (ftruncate(fd, (off_t)c->total) < 0)
            err = errno;
        else if ((err = posix_fallocate(fd, 0, (off_t)c->total)) != 0)
            ;
        else if ((m = mmap(NULL, c->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
                 MAP_FAILED)
            err = errno;
        if (m != MAP_FAILED && c->src)
            memcpy((char *)m + c->data_offset, c->src, c->data_bytes);
        if (m != MAP_FAILED)
            munmap(m, c->total);
        close(fd);
        if (shm_unlink(c->handle) < 0 && !err)
            err = errno;
        if (err)
            return -err;
    }
    return 0;
}

static int op_shmap_attach(void *p, unsigned n)
{
    struct op_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        shmap_seg *seg;
        int rc = shmap_open(&seg, c->name, SHMAP_RDONLY);
        if (rc < 0)
            return rc;
        rc = shmap_close(seg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int op_bare_attach(void *p, unsigned n)
{
    struct op_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        int fd = shm_open(c->handle, O_RDONLY, 0);
        if (fd < 0)
            return -errno;
        struct stat st;
        int err = 0;
        if (fstat(fd, &st) < 0) {
            err = errno;
        } else {
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED)
                err = errno;
            else
                munmap(m, (size_t)st.st_size);
        }
        close(fd);
        if (err)
            return -err;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The comparisons and the table. */

struct row {
    const char *op;
    uint64_t bytes;
    uint64_t total;      /* the object's size */
    const char *skipped; /* why, when not measured */
    struct bench_stats shmap, bare;
    unsigned samples;
    double target; /* highest acceptable ratio */
};

static void format_size(char *buf, size_t size, uint64_t bytes)
{
    if (bytes >= MiB && bytes % MiB == 0)
        snprintf(buf, size, "%llu MiB", (unsigned long long)(bytes / MiB));
    else if (bytes >= KiB && bytes % KiB == 0)
        snprintf(buf, size, "%llu KiB", (unsigned long long)(bytes / KiB));
    else
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
}

static int compare(struct row *row, bench_fn shmap_fn, bench_fn bare_fn, struct op_ctx *ctx,
                   unsigned samples, unsigned warmup)
{
    struct bench_case cases[2] = {
        {"shmap", shmap_fn, ctx, 1, NULL, 0},
        {"bare", bare_fn, ctx, 1, NULL, 0},
    };
    int rc = bench_run(cases, 2, samples, warmup, &bench_stop);
    if (rc == 0)
        rc = bench_stats_of(cases[0].ns, cases[0].nsamples, &row->shmap);
    if (rc == 0)
        rc = bench_stats_of(cases[1].ns, cases[1].nsamples, &row->bare);
    row->samples = cases[0].nsamples < cases[1].nsamples ? cases[0].nsamples : cases[1].nsamples;
    free(cases[0].ns);
    free(cases[1].ns);
    if (rc < 0) {
        char what[96], sz[32];
        format_size(sz, sizeof sz, row->bytes);
        snprintf(what, sizeof what, "%s of %s", row->op, sz);
        bench_error(what, rc);
    }
    return rc;
}

/*
 * Names for both sides, and the object's size and data offset as shmap lays them out for
 * this array: read from a real segment, so the bare side reserves exactly the same.
 */
static int ctx_init(struct op_ctx *ctx, shmap_dtype dtype, unsigned ndim, const uint64_t *dims)
{
    char bare_name[SHMAP_NAME_MAX];
    int rc;
    memset(ctx, 0, sizeof *ctx);
    ctx->dtype = dtype;
    ctx->ndim = ndim;
    memcpy(ctx->dims, dims, ndim * sizeof *dims);
    if ((rc = bench_name_fresh(ctx->name, sizeof ctx->name)) < 0 ||
        (rc = bench_name_fresh(bare_name, sizeof bare_name)) < 0) {
        bench_error("unique name", rc);
        return rc;
    }
    snprintf(ctx->handle, sizeof ctx->handle, "/%s", bare_name);
    shmap_seg *seg;
    shmap_info info;
    if ((rc = shmap_create(&seg, ctx->name, dtype, ndim, dims, NULL)) < 0) {
        bench_error("create", rc);
        return rc;
    }
    rc = shmap_info_get(seg, &info);
    int rc2 = shmap_close(seg);
    if (rc < 0 || rc2 < 0) {
        bench_error(rc < 0 ? "info" : "close", rc < 0 ? rc : rc2);
        return rc < 0 ? rc : rc2;
    }
    ctx->data_bytes = info.data_size;
    ctx->data_offset = info.data_offset;
    ctx->total = info.size;
    return 0;
}

/* Run both comparisons for one size; fills rows[0] (create) and rows[1] (attach). */
static int bench_size(struct row rows[2], uint64_t bytes, unsigned create_samples,
                      unsigned create_warmup, unsigned att_samples, unsigned att_warmup)
{
    struct op_ctx ctx;
    int rc = ctx_init(&ctx, SHMAP_U8, 1, &bytes);
    if (rc < 0)
        return rc;

    rows[0].op = "create+destroy";
    rows[0].bytes = bytes;
    rows[0].total = rows[1].total = ctx.total;
    rows[0].target = 1.5;
    rc = compare(&rows[0], op_shmap_create, op_bare_create, &ctx, create_samples, create_warmup);
    if (rc < 0 || bench_stop)
        return rc;

    /* Attach: a kept segment that this process then closes, so it is not in our registry,
     * and a bare object of the same size. */
    rows[1].op = "attach+detach";
    rows[1].bytes = bytes;
    rows[1].target = 1.2;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags |= SHMAP_CREATE_KEEP;
    shmap_seg *seg;
    rc = shmap_create(&seg, ctx.name, SHMAP_U8, 1, &bytes, &opts);
    if (rc < 0) {
        bench_error("create", rc);
        return rc;
    }
    if ((rc = shmap_close(seg)) < 0) {
        bench_error("close", rc);
        shmap_unlink(ctx.name);
        return rc;
    }
    int fd = shm_open(ctx.handle, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        int err = posix_fallocate(fd, 0, (off_t)ctx.total);
        rc = -err;
        close(fd);
    }
    if (rc < 0)
        bench_error("bare object", rc);
    else
        rc = compare(&rows[1], op_shmap_attach, op_bare_attach, &ctx, att_samples, att_warmup);
    int rc2 = shmap_unlink(ctx.name);
    if (rc2 < 0) {
        bench_error("unlink", rc2);
        rc = rc < 0 ? rc : rc2;
    }
    shm_unlink(ctx.handle);
    return rc;
}

/*
 * A 512x512 float32 image created, written in full and destroyed: shmap_create() + a copy
 * of the 1 MiB into shmap_data() + shmap_close(), against the bare calls reserving the
 * same object and copying the same bytes to the same offset.
 */
static int bench_image(struct row *row, unsigned samples, unsigned warmup)
{
    const uint64_t dims[2] = {IMAGE_SIDE, IMAGE_SIDE};
    struct op_ctx ctx;
    int rc = ctx_init(&ctx, SHMAP_F32, 2, dims);
    if (rc < 0)
        return rc;
    float *img = malloc(ctx.data_bytes);
    if (!img) {
        bench_syserror("image buffer", -ENOMEM);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ctx.data_bytes / sizeof *img; i++)
        img[i] = (float)i;
    ctx.src = img;
    row->op = "create+write+destroy";
    row->bytes = ctx.data_bytes;
    row->total = ctx.total;
    row->target = 1.1;
    rc = compare(row, op_shmap_create, op_bare_create, &ctx, samples, warmup);
    free(img);
    return rc;
}

/* shmap_list() over LIST_COUNT kept segments with LIST_KEYWORDS keywords each, with `flags`;
 * `ours` counts how many of ours it saw whole (their keywords too, when asked). */
#define LIST_KEYWORDS 3

struct list_ctx {
    unsigned flags;
    size_t ours, total;
};

static int op_list(void *p, unsigned n)
{
    struct list_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        shmap_entry *list;
        size_t count;
        int rc = shmap_list(&list, &count, c->flags);
        if (rc < 0)
            return rc;
        size_t plen = strlen(bench_prefix);
        unsigned want = c->flags & SHMAP_LIST_KEYWORDS ? LIST_KEYWORDS : 0;
        c->ours = 0;
        for (size_t k = 0; k < count; k++)
            if (strncmp(list[k].info.name, bench_prefix, plen) == 0 && list[k].status == 0 &&
                list[k].nkeywords == want)
                c->ours++;
        c->total = count;
        shmap_list_free(list);
    }
    return 0;
}

/* A segment of the listing: one byte and its keywords, as a frame buffer might carry. */
static int make_listed(const char *name)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags |= SHMAP_CREATE_KEEP;
    const uint64_t one = 1;
    static const char *const cards[LIST_KEYWORDS] = {
        "EXPTIME=0.25 / seconds", "OBJECT='M31' / target", "FRAME=1234"};
    shmap_seg *seg;
    int rc = shmap_create(&seg, name, SHMAP_U8, 1, &one, &opts);
    if (rc < 0) {
        bench_error("create", rc);
        return rc;
    }
    for (int k = 0; k < LIST_KEYWORDS && rc == 0; k++) {
        shmap_keyword kw;
        if ((rc = shmap_keyword_parse(cards[k], &kw)) == 0)
            rc = shmap_keyword_set(seg, &kw);
        if (rc < 0)
            bench_error("keyword", rc);
    }
    int crc = shmap_close(seg);
    if (crc < 0)
        bench_error("close", crc);
    return rc < 0 ? rc : crc;
}

/* The listing without and with keywords (lc[0], lc[1]), interleaved round by round. */
static int bench_list(unsigned runs, struct bench_stats st[2], struct list_ctx lc[2])
{
    static char names[LIST_COUNT][SHMAP_NAME_MAX];
    int made = 0, rc = 0;

    for (; made < LIST_COUNT && !bench_stop; made++) {
        if ((rc = bench_name_fresh(names[made], sizeof names[made])) < 0) {
            bench_error("unique name", rc);
            break;
        }
        if ((rc = make_listed(names[made])) < 0) {
            made++;
            break;
        }
    }
    if (rc == 0 && !bench_stop) {
        struct bench_case cases[2] = {{"list", op_list, &lc[0], 1, NULL, 0},
                                      {"list+keywords", op_list, &lc[1], 1, NULL, 0}};
        rc = bench_run(cases, 2, runs, 1, &bench_stop);
        for (int c = 0; c < 2; c++) {
            if (rc == 0)
                rc = bench_stats_of(cases[c].ns, cases[c].nsamples, &st[c]);
            free(cases[c].ns);
        }
        if (rc < 0)
            bench_error("list", rc);
    }
    for (int i = 0; i < made; i++) {
        int urc = shmap_unlink(names[i]);
        if (urc < 0 && urc != -ENOENT) {
            bench_error("unlink", urc);
            rc = rc < 0 ? rc : urc;
        }
    }
    return rc;
}

/* Room left in /dev/shm, in bytes (0 if unknown). */
static uint64_t shm_free(void)
{
    struct statvfs sv;
    if (statvfs(SHM_DIR, &sv) < 0)
        return 0;
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* ---------------------------------------------------------------------------------------- */
/* Locks: uncontended lock+unlock pairs against their baselines. */

#define LOCK_TARGET_NS 30.0

struct lock_ctx {
    shmap_seg *seg;
    uint32_t *word;          /* a word on a shared page, for the bare atomic pair */
    pthread_mutex_t *mutex;  /* process-shared, robust, on the same page */
    int fd;                  /* for fcntl */
};

static int op_lock_shared(void *p, unsigned n)
{
    struct lock_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        int rc = shmap_lock(c->seg, SHMAP_LOCK_SHARED, -1);
        if (rc < 0)
            return rc;
        shmap_unlock(c->seg);
    }
    return 0;
}

static int op_lock_exclusive(void *p, unsigned n)
{
    struct lock_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        int rc = shmap_lock(c->seg, SHMAP_LOCK_EXCLUSIVE, -1);
        if (rc < 0)
            return rc;
        shmap_unlock(c->seg);
    }
    return 0;
}

static int op_atomic_pair(void *p, unsigned n)
{
    struct lock_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        __atomic_add_fetch(c->word, 1, __ATOMIC_SEQ_CST);
        __atomic_sub_fetch(c->word, 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static int op_mutex_pair(void *p, unsigned n)
{
    struct lock_ctx *c = p;
    for (unsigned i = 0; i < n; i++) {
        int rc = pthread_mutex_lock(c->mutex);
        if (rc != 0 && rc != EOWNERDEAD)
            return -rc;
        pthread_mutex_unlock(c->mutex);
    }
    return 0;
}

static int op_fcntl_pair(void *p, unsigned n)
{
    struct lock_ctx *c = p;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    for (unsigned i = 0; i < n; i++) {
        fl.l_type = F_WRLCK;
        if (fcntl(c->fd, F_SETLKW, &fl) < 0)
            return -errno;
        fl.l_type = F_UNLCK;
        if (fcntl(c->fd, F_SETLK, &fl) < 0)
            return -errno;
    }
    return 0;
}

/* Measure and print the lock table; returns 0, or a negative code; counts missed targets. */
static int bench_locks(unsigned samples, int *missed)
{
    char name[SHMAP_NAME_MAX];
    int rc = bench_name_fresh(name, sizeof name);
    if (rc < 0) {
        bench_error("unique name", rc);
        return rc;
    }
    struct lock_ctx c = {NULL, NULL, NULL, -1};
    const uint64_t n = 4096;
    if ((rc = shmap_create(&c.seg, name, SHMAP_U8, 1, &n, NULL)) < 0) {
        bench_error("create", rc);
        return rc;
    }
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        shmap_close(c.seg);
        return -errno;
    }
    c.word = (uint32_t *)page;
    c.mutex = (pthread_mutex_t *)((char *)page + 64);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(c.mutex, &ma);
    pthread_mutexattr_destroy(&ma);
    char handle[HANDLE_MAX];
    snprintf(handle, sizeof handle, "/%s", name);
    c.fd = shm_open(handle, O_RDWR, 0);
    if (c.fd < 0)
        rc = -errno;

    struct bench_case cases[5] = {
        {"shmap shared", op_lock_shared, &c, 10000, NULL, 0},
        {"shmap exclusive", op_lock_exclusive, &c, 10000, NULL, 0},
        {"atomic inc+dec", op_atomic_pair, &c, 10000, NULL, 0},
        {"robust mutex", op_mutex_pair, &c, 10000, NULL, 0},
        {"fcntl lock", op_fcntl_pair, &c, 200, NULL, 0},
    };
    struct bench_stats st[5];
    memset(st, 0, sizeof st);
    if (rc == 0)
        rc = bench_run(cases, 5, samples, samples / 10, &bench_stop);
    for (int i = 0; i < 5; i++) {
        if (rc == 0)
            bench_stats_of(cases[i].ns, cases[i].nsamples, &st[i]);
        free(cases[i].ns);
    }
    if (c.fd >= 0)
        close(c.fd);
    pthread_mutex_destroy(c.mutex);
    munmap(page, 4096);
    int crc = shmap_close(c.seg);
    if (rc < 0) {
        bench_error("locks", rc);
        return rc;
    }
    if (crc < 0)
        bench_error("close", crc);
    printf("\nuncontended lock+unlock, ns per pair, %u rounds:\n", st[0].n);
    printf("%-16s %9s %9s %10s %10s  %s\n", "pair", "median", "(p90)", "/atomic", "/mutex",
           "target");
    for (int i = 0; i < 5; i++) {
        const char *verdict = "";
        if (i < 2) {
            int ok = st[i].median < LOCK_TARGET_NS;
            verdict = ok ? "< 30 ns: ok" : "< 30 ns: MISSED";
            if (!ok)
                (*missed)++;
        }
        printf("%-16s %9.1f %9.1f %9.2fx %9.2fx  %s\n", cases[i].label, st[i].median, st[i].p90,
               st[2].median > 0 ? st[i].median / st[2].median : 0,
               st[3].median > 0 ? st[i].median / st[3].median : 0, verdict);
    }
    return crc;
}

static void print_row(const struct row *r, int *missed)
{
    char sz[32];
    format_size(sz, sizeof sz, r->bytes);
    if (r->skipped) {
        printf("%-20s %7s   skipped: %s\n", r->op, sz, r->skipped);
        return;
    }
    if (r->samples == 0) {
        printf("%-20s %7s   not measured\n", r->op, sz);
        return;
    }
    double ratio = r->bare.median > 0 ? r->shmap.median / r->bare.median : 0;
    int ok = ratio <= r->target;
    if (!ok)
        (*missed)++;
    printf("%-20s %7s %10.1f %9.1f %10.1f %9.1f %6.3fx  <=%.1fx  %s\n", r->op, sz,
           r->shmap.median / 1e3, r->shmap.p90 / 1e3, r->bare.median / 1e3, r->bare.p90 / 1e3,
           ratio, r->target, ok ? "ok" : "MISSED");
}

int main(int argc, char **argv)
{
    int quick, strict;
    if (bench_flags(argc, argv, &quick, &strict) != 0)
        return 2;
    unsigned div = quick ? 10 : 1;

    bench_names_init("shmap-bench");

    struct utsname un;
    uname(&un);
    printf("shmap %s bench on %s %s, %ld CPUs, %ld-byte pages\n"
           "medians and 90th percentiles in microseconds; shmap and the bare system calls\n"
           "interleaved round by round in this run\n\n",
           SHMAP_VERSION_STRING, un.sysname, un.release, sysconf(_SC_NPROCESSORS_ONLN),
           sysconf(_SC_PAGESIZE));

    struct row rows[5];
    memset(rows, 0, sizeof rows);
    int rc = 0;
    double t0 = bench_now_ns();

    rc = bench_size(&rows[0], 4 * KiB, 2000 / div, 200 / div, 5000 / div, 500 / div);
    /* The 64 MiB case needs room for four such objects at once (two sides, two tests). */
    if (rc == 0 && !bench_stop) {
        if (shm_free() < 4 * 65 * MiB) {
            rows[2].op = "create+destroy";
            rows[3].op = "attach+detach";
            rows[2].bytes = rows[3].bytes = 64 * MiB;
            rows[2].skipped = rows[3].skipped = "not enough room in " SHM_DIR;
        } else {
            rc = bench_size(&rows[2], 64 * MiB, 50 / div ? 50 / div : 5, 5, 2000 / div, 200 / div);
        }
    }
    if (rc == 0 && !bench_stop)
        rc = bench_image(&rows[4], 1000 / div, 100 / div);
    struct bench_stats list_st[2];
    struct list_ctx lc[2] = {{0, 0, 0}, {SHMAP_LIST_KEYWORDS, 0, 0}};
    memset(list_st, 0, sizeof list_st);
    int list_rc = -1;
    if (rc == 0 && !bench_stop) {
        list_rc = bench_list(quick ? 3 : 9, list_st, lc);
        rc = list_rc;
    }
    double elapsed = (bench_now_ns() - t0) / 1e9;

    /* Clean up before anything else can fail. */
    bench_names_unlink();
    int left = bench_names_sweep();

    int missed = 0;
    printf("%-20s %7s %10s %9s %10s %9s %7s  %6s  %s\n", "operation", "size", "shmap us", "(p90)",
           "bare us", "(p90)", "ratio", "target", "result");
    for (int i = 0; i < 5; i++)
        if (rows[i].op)
            print_row(&rows[i], &missed);
    if (list_rc == 0 && list_st[0].n > 0 && list_st[1].n > 0) {
        printf("\nlist %d segments with %d keywords each (%zu objects listed), target < %.0f "
               "ms:\n", LIST_COUNT, LIST_KEYWORDS, lc[0].total, LIST_TARGET_MS);
        for (int c = 0; c < 2; c++) {
            int ok = list_st[c].median / 1e6 < LIST_TARGET_MS && lc[c].ours == LIST_COUNT;
            if (!ok)
                missed++;
            printf("  %-32s median %6.1f ms, p90 %6.1f ms  %s\n",
                   c ? "shmap_list(SHMAP_LIST_KEYWORDS)" : "shmap_list()",
                   list_st[c].median / 1e6, list_st[c].p90 / 1e6, ok ? "ok" : "MISSED");
            if (lc[c].ours != LIST_COUNT)
                printf("  found %zu of our %d segments whole\n", lc[c].ours, LIST_COUNT);
        }
        printf("  keywords cost %.2fx the listing without them (medians, interleaved)\n",
               list_st[1].median / list_st[0].median);
    }
    if (rc == 0 && !bench_stop)
        rc = bench_locks(quick ? 30 : 300, &missed);
    printf("\nsize is the array's; both sides reserve the same object, header page and keyword\n"
           "area included: %llu bytes for 4 KiB, %llu for 64 MiB, %llu for the 1 MiB image\n"
           "(512x512 float32, copied in with memcpy on both sides). rounds: create %u and %u,\n"
           "attach %u and %u, image %u; %.1f s in all\n",
           (unsigned long long)rows[0].total, (unsigned long long)rows[2].total,
           (unsigned long long)rows[4].total, rows[0].samples, rows[2].samples, rows[1].samples,
           rows[3].samples, rows[4].samples, elapsed);

    if (left)
        fprintf(stderr, "shmap-bench: removed %d leftover object(s) of ours from %s\n", left,
                SHM_DIR);
    if (bench_stop) {
        fprintf(stderr, "shmap-bench: interrupted\n");
        return 1;
    }
    if (rc < 0 || left)
        return 1;
    if (missed)
        printf("%d target(s) missed%s\n", missed, strict ? "" : " (not an error without --strict)");
    return strict && missed ? 1 : 0;
}
