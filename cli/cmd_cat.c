/*
 * shmap cat NAME [--slice SPEC] [--timeout SECONDS]
 *          [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * A segment's values are printed from one consistent copy of what is printed
 * (cli_snapshot(): under the shared lock, checked against the writers' publishes), so a
 * writer never shows half-way; --timeout bounds the wait for the lock. A raw object has no
 * lock nor generation, and is printed from its mapping.
 *
 * A slice is resolved as numpy resolves it (CPython's PySlice_AdjustIndices): an integer
 * item picks one index and drops the dimension; a start:stop:step item keeps it, with
 * out-of-range bounds clamped rather than refused. What is left is a view: a base offset
 * and, per kept dimension, a count and a signed stride in elements, walked as an odometer.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_opt cat_opts[] = {{"slice", 1}, {"timeout", 1}, CLI_RAW_OPTS, {NULL, 0}};

typedef struct slice_item {
    int is_range;
    int64_t index;         /* when !is_range */
    int has_start, has_stop;
    int64_t start, stop, step;
    char text[32];         /* for messages */
} slice_item;

typedef struct view {
    int ndim;
    int64_t base;
    uint64_t count[SHMAP_MAX_DIMS];
    int64_t stride[SHMAP_MAX_DIMS];
} view;

/* "", "-3", "10": an optional bound. Returns -1 if not a number. */
static int parse_bound(const char *s, const char *e, int *has, int64_t *out)
{
    char buf[32];
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *has = s < e;
    if (!*has)
        return 0;
    if ((size_t)(e - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return cli_parse_i64(buf, out);
}

static int parse_item(const char *s, const char *e, slice_item *it)
{
    memset(it, 0, sizeof *it);
    snprintf(it->text, sizeof it->text, "%.*s", (int)(e - s), s);
    const char *c1 = memchr(s, ':', (size_t)(e - s));
    if (!c1) {
        int has;
        return parse_bound(s, e, &has, &it->index) < 0 || !has ? -1 : 0;
    }
    const char *c2 = memchr(c1 + 1, ':', (size_t)(e - c1 - 1));
    const char *stop_end = c2 ? c2 : e;
    int has_step = 0;
    it->is_range = 1;
    it->step = 1;
    if (parse_bound(s, c1, &it->has_start, &it->start) < 0 ||
        parse_bound(c1 + 1, stop_end, &it->has_stop, &it->stop) < 0 ||
        (c2 && parse_bound(c2 + 1, e, &has_step, &it->step) < 0))
        return -1;
    if (!has_step)
        it->step = 1;
    return it->step == 0 ? -1 : 0;
}

/* SPEC: items separated by commas. Returns the count, or -1 after a usage error. */
static int parse_slice(const char *spec, slice_item *items)
{
    int n = 0;
    const char *s = spec, *end = spec + strlen(spec);
    for (;;) {
        const char *e = memchr(s, ',', (size_t)(end - s));
        if (!e)
            e = end;
        if (n == SHMAP_MAX_DIMS) {
            cli_usage_error("cat", "--slice '%s': more than %d items", spec, SHMAP_MAX_DIMS);
            return -1;
        }
        if (parse_item(s, e, &items[n]) < 0) {
            cli_usage_error("cat", "--slice '%s': invalid item '%.*s' (INDEX or "
                            "[START]:[STOP][:STEP], a nonzero STEP)", spec, (int)(e - s), s);
            return -1;
        }
        n++;
        if (e == end)
            return n;
        s = e + 1;
    }
}

/* Clamp a bound as Python does: negative counts from the end; then into [lo, hi]. */
static int64_t clamp_bound(int64_t v, int64_t n, int64_t lo, int64_t hi)
{
    if (v < 0)
        v = v < -n ? lo : v + n;
    return v < lo ? lo : v > hi ? hi : v;
}

/* Resolve the items against the shape; returns 0, or CLI_EXIT_USAGE after saying why: a
 * slice that does not fit the array is a wrong command line, as a malformed one is. */
static int make_view(const char *name, const shmap_info *info, const slice_item *items,
                     int nitems, view *v)
{
    if ((unsigned int)nitems > info->ndim)
        return cli_usage_error_on("cat", name, "--slice has %d items for %u %s",
                                  nitems, info->ndim,
                                  cli_plural(info->ndim, "dimension", "dimensions"));
    memset(v, 0, sizeof *v);
    int64_t stride = 1;
    for (int d = (int)info->ndim - 1; d >= 0; d--) {
        int64_t n = (int64_t)info->dims[d];
        slice_item all = {1, 0, 0, 0, 0, 0, 1, ":"};
        const slice_item *it = d < nitems ? &items[d] : &all;
        if (!it->is_range) {
            int64_t i = it->index < 0 ? it->index + n : it->index;
            const char *shown;
            int len = cli_unblanked(it->text, &shown);
            if (i < 0 || i >= n)
                return cli_usage_error_on("cat", name, "--slice: index %.*s out of range for "
                                          "dimension %d of size %" PRIu64, len, shown, d,
                                          info->dims[d]);
            v->base += i * stride;
        } else {
            int64_t start, stop, count;
            /* A step as long as the dimension or longer takes one element at most, as
             * that length does: so the step is cut to it, and neither its negation
             * (INT64_MIN) nor the stride it makes can overflow. */
            int64_t step = it->step > n ? n : it->step < -n ? -n : it->step;
            if (step > 0) {
                start = it->has_start ? clamp_bound(it->start, n, 0, n) : 0;
                stop = it->has_stop ? clamp_bound(it->stop, n, 0, n) : n;
                count = stop > start ? (stop - start - 1) / step + 1 : 0;
            } else {
                start = it->has_start ? clamp_bound(it->start, n, -1, n - 1) : n - 1;
                stop = it->has_stop ? clamp_bound(it->stop, n, -1, n - 1) : -1;
                count = start > stop ? (start - stop - 1) / -step + 1 : 0;
            }
            /* Dimensions are filled from the last; shifted into place below. */
            v->count[SHMAP_MAX_DIMS - 1 - v->ndim] = (uint64_t)count;
            v->stride[SHMAP_MAX_DIMS - 1 - v->ndim] = stride * step;
            v->ndim++;
            if (count > 0)
                v->base += start * stride;
        }
        stride *= n;
    }
    memmove(v->count, v->count + SHMAP_MAX_DIMS - v->ndim, (size_t)v->ndim * sizeof *v->count);
    memmove(v->stride, v->stride + SHMAP_MAX_DIMS - v->ndim,
            (size_t)v->ndim * sizeof *v->stride);
    return 0;
}

/* Has view @p v no element (a dimension of count 0)? */
static int view_empty(const view *v)
{
    for (int d = 0; d < v->ndim; d++)
        if (v->count[d] == 0)
            return 1;
    return 0;
}

/*
 * The rows of view @p v (ndim >= 1) as an odometer over @p idx: moves to the next row and
 * sets *@p row to its first element; returns the outermost dimension that moved on, or -1
 * after the last row.
 */
static int next_row(const view *v, uint64_t *idx, int64_t *row)
{
    int last = v->ndim - 1, k = last - 1;
    while (k >= 0 && ++idx[k] == v->count[k])
        idx[k--] = 0;
    *row = v->base;
    for (int d = 0; d < last; d++)
        *row += (int64_t)idx[d] * v->stride[d];
    return k;
}

/*
 * Rows of the last dimension, one per line. When an outer dimension k (beyond the last two)
 * moves on, print as many blank lines as dimensions lie between it and the rows, as numpy
 * separates 2-D blocks by one blank line and 3-D blocks by two. Output that fails (a full
 * disk) stops it: the rest would fail too, and main() says why.
 */
static void print_view(const view *v, const cli_layout *l, const unsigned char *data)
{
    if (v->ndim == 0) {
        cli_value_print(stdout, l, data + (size_t)v->base * l->elsize);
        putchar('\n');
        return;
    }
    if (view_empty(v))
        return;
    int last = v->ndim - 1;
    uint64_t idx[SHMAP_MAX_DIMS] = {0};
    int64_t row = v->base;
    for (;;) {
        for (uint64_t j = 0; j < v->count[last]; j++) {
            if (j)
                putchar(' ');
            int64_t off = row + (int64_t)j * v->stride[last];
            cli_value_print(stdout, l, data + (size_t)off * l->elsize);
        }
        putchar('\n');
        if (cli_stdout_failed())
            return;
        int k = next_row(v, idx, &row);
        if (k < 0)
            return;
        for (int b = 0; b < last - 1 - k; b++)
            putchar('\n');
    }
}

/*
 * One element of @p size bytes: sizes the compiler copies inline, as a call per element
 * made a strided gather of a large array slow enough that a writer publishing every
 * millisecond always tore it.
 */
static void copy_element(unsigned char *dst, const unsigned char *src, size_t size)
{
    switch (size) {
    case 1:
        *dst = *src;
        return;
    case 2:
        memcpy(dst, src, 2);
        return;
    case 4:
        memcpy(dst, src, 4);
        return;
    case 8:
        memcpy(dst, src, 8);
        return;
    case 16:
        memcpy(dst, src, 16);
        return;
    default:
        memcpy(dst, src, size);
        return;
    }
}

/*
 * The elements of view @p v of @p data, in the order they are printed, into @p dst
 * (compact_view() describes that copy). What a described segment's cat prints is gathered
 * so, as a consistent copy (cli_snapshot()): the slice alone is copied, however large the
 * array.
 */
struct gather {
    const view *v;
    size_t elsize;
    unsigned char *dst;
};

static void gather_view(void *ctx, const unsigned char *data)
{
    const struct gather *g = ctx;
    const view *v = g->v;
    unsigned char *dst = g->dst;
    if (v->ndim == 0) {
        memcpy(dst, data + (size_t)v->base * g->elsize, g->elsize);
        return;
    }
    if (view_empty(v))
        return;
    int last = v->ndim - 1;
    uint64_t idx[SHMAP_MAX_DIMS] = {0};
    int64_t row = v->base, step = v->stride[last];
    size_t es = g->elsize;
    do {
        const unsigned char *src = data + (size_t)row * es;
        if (step == 1) {
            memcpy(dst, src, (size_t)v->count[last] * es);
            dst += (size_t)v->count[last] * es;
            continue;
        }
        for (uint64_t j = 0; j < v->count[last]; j++, dst += es) {
            const unsigned char *s = src + (ptrdiff_t)((int64_t)j * step) * (ptrdiff_t)es;
            copy_element(dst, s, es);
        }
    } while (next_row(v, idx, &row) >= 0);
}

/* The view @p v as laid out by gather_view(): from 0, in C order. Its number of elements. */
static uint64_t compact_view(const view *v, view *out)
{
    *out = *v;
    out->base = 0;
    uint64_t n = 1;
    for (int d = v->ndim - 1; d >= 0; d--) {
        out->stride[d] = (int64_t)n;
        n *= v->count[d];
    }
    return n;
}

int cmd_cat(int argc, char **argv)
{
    int opt, nitems = 0;
    slice_item items[SHMAP_MAX_DIMS];
    cli_raw raw = {0};
    cli_args a;
    cli_args_init(&a, "cat", cat_opts, argc, argv);
    double timeout = -1;
    while ((opt = cli_args_next(&a)) >= 0) {
        if (cli_raw_option(&raw, cat_opts[opt].name, a.value))
            continue;
        if (strcmp(cat_opts[opt].name, "timeout") == 0) {
            if (cli_parse_timeout("cat", a.value, &timeout) != 0)
                return CLI_EXIT_USAGE;
        } else if ((nitems = parse_slice(a.value, items)) < 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("cat", "missing NAME");
    if (a.npos > 1)
        return cli_usage_error("cat", "unexpected argument '%s'", a.argv[1]);
    if (cli_raw_check("cat", &raw) != 0 || cli_check_names("cat", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0];
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened = cli_open("cat", name, SHMAP_RDONLY, &raw, &seg, &info, &layout);
    if (opened != 0)
        return opened;
    view v, cv;
    int status = make_view(name, &info, items, nitems, &v);
    if (status == 0 && raw.raw && timeout >= 0)
        status = cli_usage_error_on("cat", name, "--timeout is for a segment's lock: a raw "
                                    "object has none");
    if (status == 0 && raw.raw) {
        print_view(&v, &layout, shmap_data(seg));
    } else if (status == 0) {
        /* What is printed is one consistent copy: never half of one fill and half of the
         * next. */
        uint64_t n = compact_view(&v, &cv);
        struct gather g = {&v, layout.elsize, malloc(n ? (size_t)(n * layout.elsize) : 1)};
        if (!g.dst)
            status = cli_fail(name, "out of memory for a copy of %" PRIu64 " elements", n);
        if (status == 0)
            status = cli_snapshot(name, seg, timeout, gather_view, &g, NULL);
        /* Printed from the copy once the segment is let go: a reader that stops reading
         * (`| head`) ends us by SIGPIPE with nothing of the segment held. */
        shmap_close(seg);
        seg = NULL;
        cli_end_signals_after_close();
        if (status == 0)
            print_view(&cv, &layout, g.dst);
        free(g.dst);
    }
    cli_layout_free(&layout);
    if (seg)
        shmap_close(seg);
    return status;
}
