/*
 * First-touch write bandwidth: what writing every byte of a fresh large segment costs,
 * beside the same writes into memory that is already faulted in, in the same run.
 *
 *   shmap-bench-fault [--quick] [--strict]
 *
 * Design note. The write kernel is the same everywhere: memcpy of a 1 MiB source buffer
 * (written once, so it stays in the cache) over the destination, 1 MiB at a time, which
 * is how a frame or a table usually lands in a segment. Cases, one of each per round, in
 * an order that rotates from round to round:
 *
 *   memcpy, faulted   the baseline: the copy into a segment of the same size that was
 *                     written before (every page present and mapped);
 *   fresh             shmap_create() with the default options, then the copy, then
 *                     shmap_close() (which destroys it). The reservation (posix_fallocate)
 *                     allocates and zeroes the pages at create; the copy then takes a
 *                     page fault per 4 KiB page to map them;
 *   prefault          the same with SHMAP_CREATE_PREFAULT: MAP_POPULATE maps every page
 *                     at create, so the cost moves from the copy into the create;
 *   huge pages        a memfd segment (name NULL) with SHMAP_CREATE_HUGEPAGES: one fault
 *                     per 2 MiB page. Run only where huge pages are configured and enough
 *                     are free (/proc/sys/vm/nr_hugepages, HugePages_Free): the benchmark
 *                     never changes system settings.
 *
 * Create and write are timed apart; "create+write" is their sum in each round, and its
 * median is reported (not the sum of the medians). Bandwidths are of the write (and of
 * create+write) over the array's bytes, in GB/s (1e9 bytes). SPEC's target: the first
 * write into a fresh segment in huge pages >= 0.8x the baseline's bandwidth.
 *
 * Memory: the baseline segment plus one fresh segment at a time, 2 x 256 MiB; 64 MiB
 * each when /dev/shm (or the huge-page pool) has not the room.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"
#include "names.h"
#include "shmap.h"

#define MiB (1024ull * 1024ull)
#define BIG (256 * MiB)
#define SMALL (64 * MiB)
#define CHUNK MiB
#define ROUNDS 15
#define QUICK_ROUNDS 3
#define TARGET 0.8

enum kase { K_FAULTED, K_FRESH, K_PREFAULT, K_HUGE, NKASE };
static const char *const kase_names[NKASE] = {"memcpy, faulted", "fresh", "fresh, prefault",
                                              "fresh, huge pages"};

struct ctx {
    uint64_t size;             /* the array's bytes */
    const char *src;           /* CHUNK bytes */
    shmap_seg *faulted;        /* the baseline's segment, written before */
    char name[2][SHMAP_NAME_MAX]; /* for the fresh and prefault segments */
    double create[NKASE][ROUNDS], write[NKASE][ROUNDS], both[NKASE][ROUNDS];
    unsigned n[NKASE];
};

static void copy_in(char *dst, const char *src, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += CHUNK)
        memcpy(dst + off, src, size - off < CHUNK ? size - off : CHUNK);
}

/* One sample of case k; `record` false for the warm-up round. */
static int run_case(struct ctx *c, enum kase k, int record)
{
    double t0 = bench_now_ns(), t1 = t0;
    shmap_seg *seg = c->faulted;
    int rc = 0;
    if (k != K_FAULTED) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        const char *name = k == K_HUGE ? NULL : c->name[k == K_PREFAULT];
        opts.flags = k == K_PREFAULT ? SHMAP_CREATE_PREFAULT
                     : k == K_HUGE   ? SHMAP_CREATE_HUGEPAGES
                                     : 0;
        rc = shmap_create(&seg, name, SHMAP_U8, 1, &c->size, &opts);
        if (rc < 0) {
            if (k != K_HUGE) /* the caller says why the huge-page case stops */
                bench_error(kase_names[k], rc);
            return rc;
        }
        t1 = bench_now_ns();
    }
    copy_in(shmap_data(seg), c->src, c->size);
    double t2 = bench_now_ns();
    if (k != K_FAULTED && (rc = shmap_close(seg)) < 0)
        bench_error("close", rc);
    if (rc == 0 && record) {
        unsigned i = c->n[k]++;
        c->create[k][i] = t1 - t0;
        c->write[k][i] = t2 - t1;
        c->both[k][i] = t2 - t0;
    }
    return rc;
}

static uint64_t shm_free(void)
{
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) < 0)
        return 0;
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/*
 * Can huge pages hold `bytes`? Returns 1, or 0 with the reason in `why`. Reads only:
 * the pool is the administrator's to size (sysctl vm.nr_hugepages).
 */
static int huge_pages_ok(uint64_t bytes, char *why, size_t size)
{
    unsigned long long nr = 0, free_pages = 0, kb = 0;
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "re");
    if (f) {
        if (fscanf(f, "%llu", &nr) != 1)
            nr = 0;
        fclose(f);
    }
    f = fopen("/proc/meminfo", "re");
    if (f) {
        char line[128];
        while (fgets(line, sizeof line, f)) {
            sscanf(line, "HugePages_Free: %llu", &free_pages);
            sscanf(line, "Hugepagesize: %llu kB", &kb);
        }
        fclose(f);
    }
    if (nr == 0) {
        snprintf(why, size, "no huge pages configured (vm.nr_hugepages = 0)");
        return 0;
    }
    unsigned long long need = kb ? (bytes + kb * 1024 - 1) / (kb * 1024) : 0;
    if (kb == 0 || free_pages < need) {
        snprintf(why, size, "%llu huge pages of %llu kB free, %llu needed (vm.nr_hugepages = "
                            "%llu)", free_pages, kb, need, nr);
        return 0;
    }
    return 1;
}

static void print_ms(double ns_med, double ns_p90)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.1f (%.1f)", ns_med / 1e6, ns_p90 / 1e6);
    printf(" %14s", buf);
}

int main(int argc, char **argv)
{
    int quick, strict;
    if (bench_flags(argc, argv, &quick, &strict) != 0)
        return 2;
    unsigned rounds = quick ? QUICK_ROUNDS : ROUNDS;
    bench_names_init("shmap-bench-fault");
    static struct ctx c;
    c.size = shm_free() >= 2 * BIG + 64 * MiB ? BIG : SMALL;
    if (shm_free() < 2 * c.size + 16 * MiB) {
        printf("first-touch bench skipped: /dev/shm has %llu MiB free, needs %llu\n",
               (unsigned long long)(shm_free() / MiB),
               (unsigned long long)((2 * c.size + 16 * MiB) / MiB));
        return 0;
    }
    char *src = malloc(CHUNK);
    int rc = src ? 0 : -ENOMEM;
    if (src)
        for (size_t i = 0; i < CHUNK; i++)
            src[i] = (char)(i * 7 + 1);
    c.src = src;
    for (int i = 0; i < 2 && rc == 0; i++)
        if ((rc = bench_name_fresh(c.name[i], sizeof c.name[i])) < 0)
            bench_error("unique name", rc);
    char base_name[SHMAP_NAME_MAX];
    shmap_info info;
    if (rc == 0 && (rc = bench_name_fresh(base_name, sizeof base_name)) < 0)
        bench_error("unique name", rc);
    if (rc == 0 && (rc = shmap_create(&c.faulted, base_name, SHMAP_U8, 1, &c.size, NULL)) < 0)
        bench_error("create", rc);
    if (rc == 0 && (rc = shmap_info_get(c.faulted, &info)) < 0)
        bench_error("info", rc);

    char why[512] = "";
    int huge = rc == 0 && huge_pages_ok(info.size, why, sizeof why);
    unsigned nk = huge ? NKASE : NKASE - 1;
    double t0 = bench_now_ns();
    /*
     * Round 0 is a warm-up: it also writes the baseline's pages for the first time. The
     * huge-page pool is shared with the rest of the system: if a create fails there (taken
     * meanwhile), that case is dropped and the others go on.
     */
    for (unsigned r = 0; r <= rounds && rc == 0 && !bench_stop; r++) {
        for (unsigned j = 0; j < nk && rc == 0 && !bench_stop; j++) {
            enum kase k = (enum kase)((j + r) % nk);
            rc = run_case(&c, k, r > 0);
            if (rc < 0 && k == K_HUGE) {
                snprintf(why, sizeof why, "creating it failed: %s", shmap_last_error());
                nk = K_HUGE;
                rc = 0;
            }
        }
    }
    double elapsed = (bench_now_ns() - t0) / 1e9;
    if (c.faulted) {
        int crc = shmap_close(c.faulted);
        if (crc < 0) {
            bench_error("close", crc);
            rc = rc < 0 ? rc : crc;
        }
    }
    free(src);
    bench_names_unlink();
    int left = bench_names_sweep();
    if (left)
        fprintf(stderr, "shmap-bench-fault: removed %d leftover object(s) of ours\n", left);
    if (bench_stop) {
        fprintf(stderr, "shmap-bench-fault: interrupted\n");
        return 1;
    }
    if (rc < 0 || left)
        return 1;

    printf("first write into a fresh %llu MiB segment: memcpy of a 1 MiB cached buffer over\n"
           "every byte; median (p90) of %u rounds, cases interleaved in this run; GB/s of the\n"
           "write and of create+write, and their ratios to the write into faulted memory\n\n",
           (unsigned long long)(c.size / MiB), c.n[K_FAULTED]);
    printf("%-17s %14s %14s %14s %6s %6s %6s %6s  %s\n", "", "create ms", "write ms",
           "create+write", "write", "c+w", "write", "c+w", "target");
    printf("%-17s %14s %14s %14s %6s %6s %6s %6s\n", "case", "", "", "ms", "GB/s", "GB/s",
           "/mcpy", "/mcpy");
    struct bench_stats base;
    bench_stats_of(c.write[K_FAULTED], c.n[K_FAULTED], &base);
    int missed = 0;
    for (unsigned k = 0; k < NKASE; k++) {
        if (k >= nk) {
            printf("%-17s  skipped: %s\n", kase_names[k], why);
            continue;
        }
        struct bench_stats cr, wr, both;
        bench_stats_of(c.create[k], c.n[k], &cr);
        bench_stats_of(c.write[k], c.n[k], &wr);
        bench_stats_of(c.both[k], c.n[k], &both);
        printf("%-17s", kase_names[k]);
        if (k == K_FAULTED)
            printf(" %14s", "-");
        else
            print_ms(cr.median, cr.p90);
        print_ms(wr.median, wr.p90);
        if (k == K_FAULTED)
            printf(" %14s", "-");
        else
            print_ms(both.median, both.p90);
        double gbw = (double)c.size / wr.median, gbb = (double)c.size / both.median;
        printf(" %6.2f %6.2f %5.2fx %5.2fx", gbw, gbb, base.median / wr.median,
               base.median / both.median);
        if (k == K_HUGE) {
            int ok = base.median / wr.median >= TARGET;
            missed += !ok;
            printf("  write >= %.1fx: %s", TARGET, ok ? "ok" : "MISSED");
        }
        printf("\n");
    }
    printf("\nthe fresh segments are %llu bytes (header page and keyword area included); the\n"
           "huge-page one is a memfd rounded up to whole huge pages. %.1f s in all\n",
           (unsigned long long)info.size, elapsed);
    if (missed)
        printf("%d target(s) missed%s\n", missed, strict ? "" : " (not an error without --strict)");
    return strict && missed ? 1 : 0;
}
