/*
 * A small benchmark harness: time several operations in interleaved rounds and summarise
 * each by its median and 90th percentile.
 *
 * Design note. These machines are small and shared, so a figure taken a few seconds away
 * from its baseline can differ from it by more than the effect we measure. The harness
 * therefore runs the cases of one comparison round by round (A B, then B A, ...), alternating
 * which goes first, so slow drifts (frequency scaling, other tenants, page-cache state) hit
 * every case alike, and it reports medians, which a few preempted samples do not move.
 *
 * A case is a function that performs its operation `n` times (the loop is inside the function
 * so that fast operations, such as a lock and unlock of a few nanoseconds, are not dominated
 * by an indirect call); a sample is the time of one such call divided by `n`. Slow operations
 * use n = 1. Times are CLOCK_MONOTONIC.
 *
 * Everything here is `static inline` so any benchmark program can include it as is.
 */
#ifndef SHMAP_BENCH_HARNESS_H
#define SHMAP_BENCH_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Perform the operation n times; return 0, or a negative code (-errno or a shmap code). */
typedef int (*bench_fn)(void *ctx, unsigned n);

struct bench_case {
    const char *label;
    bench_fn fn;
    void *ctx;
    unsigned inner; /* operations per sample; 0 means 1 */
    double *ns;     /* out: nanoseconds per operation, one per sample (bench_run allocates) */
    unsigned nsamples;
};

struct bench_stats {
    double median, p90, min, max; /* nanoseconds per operation */
    unsigned n;
};

/*
 * The flags every benchmark program takes: --quick (fewer rounds) and --strict (a missed
 * target is an error). Returns 0, or 2 after a usage line for anything else.
 */
static inline int bench_flags(int argc, char **argv, int *quick, int *strict)
{
    *quick = *strict = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            *quick = 1;
        } else if (strcmp(argv[i], "--strict") == 0) {
            *strict = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--strict]\n", argv[0]);
            return 2;
        }
    }
    return 0;
}

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The value below which a fraction q of the sorted samples lie (nearest rank, interpolated). */
static inline double bench__quantile(const double *sorted, unsigned n, double q)
{
    if (n == 0)
        return 0;
    double pos = q * (double)(n - 1);
    unsigned lo = (unsigned)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * frac;
}

/* Summarise samples (not modified). Returns 0 or -ENOMEM. */
static inline int bench_stats_of(const double *ns, unsigned n, struct bench_stats *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return 0;
    double *s = malloc(n * sizeof *s);
    if (!s)
        return -ENOMEM;
    memcpy(s, ns, n * sizeof *s);
    qsort(s, n, sizeof *s, bench__cmp_double);
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = bench__quantile(s, n, 0.5);
    out->p90 = bench__quantile(s, n, 0.9);
    free(s);
    return 0;
}

/*
 * Run `warmup` unrecorded rounds, then `samples` recorded rounds of every case, interleaved,
 * alternating the order from one round to the next. Stops early, keeping what was measured,
 * when *stop becomes non-zero (a signal handler may set it). Returns 0, the first negative
 * code a case returned, or -ENOMEM. Free each case's `ns` with free().
 */
static inline int bench_run(struct bench_case *cases, unsigned ncases, unsigned samples,
                            unsigned warmup, volatile sig_atomic_t *stop)
{
    for (unsigned c = 0; c < ncases; c++) {
        cases[c].nsamples = 0;
        cases[c].ns = NULL;
    }
    for (unsigned c = 0; c < ncases; c++) {
        cases[c].ns = malloc((samples ? samples : 1) * sizeof *cases[c].ns);
        if (!cases[c].ns)
            return -ENOMEM;
    }
    for (unsigned r = 0; r < warmup + samples; r++) {
        for (unsigned k = 0; k < ncases; k++) {
            if (stop && *stop)
                return 0;
            unsigned c = (r & 1) ? ncases - 1 - k : k;
            struct bench_case *bc = &cases[c];
            unsigned n = bc->inner ? bc->inner : 1;
            double t0 = bench_now_ns();
            int rc = bc->fn(bc->ctx, n);
            double t1 = bench_now_ns();
            if (rc < 0)
                return rc;
            if (r >= warmup)
                bc->ns[bc->nsamples++] = (t1 - t0) / n;
        }
    }
    return 0;
}

/* Time `runs` calls of one operation (no baseline): a convenience over bench_run. */
static inline int bench_single(const char *label, bench_fn fn, void *ctx, unsigned runs,
                               unsigned warmup, volatile sig_atomic_t *stop,
                               struct bench_stats *out)
{
    struct bench_case bc = {label, fn, ctx, 1, NULL, 0};
    int rc = bench_run(&bc, 1, runs, warmup, stop);
    if (rc == 0)
        rc = bench_stats_of(bc.ns, bc.nsamples, out);
    free(bc.ns);
    return rc;
}

#endif
