/*
 * Fuzz target: what the command parses from its user or from files: --slice (every view
 * made must stay inside the array), values for set and fill, every type and record layout
 * (store, fill, print), .npy headers (what is accepted must lay out as it says), and
 * integers and seconds. cmd_cat.c is included to reach its static slice parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define cmd_cat fuzz_cmd_cat
#include "../../cli/cmd_cat.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every element view @p v reaches lies in an array of @p nelem elements. */
static void check_view(const view *v, uint64_t nelem)
{
    if (view_empty(v))
        return;
    __int128 lo = v->base, hi = v->base;
    for (int d = 0; d < v->ndim; d++) {
        __int128 span = (__int128)(v->count[d] - 1) * v->stride[d];
        if (span < 0)
            lo += span;
        else
            hi += span;
    }
    if (lo < 0 || hi >= (__int128)nelem)
        __builtin_trap();
}

static void slices(const uint8_t *data, const char *text)
{
    shmap_info info;
    memset(&info, 0, sizeof info);
    info.ndim = data[1] % 8 + 1;
    info.nelem = 1;
    for (unsigned d = 0; d < info.ndim; d++) {
        info.dims[d] = d == 0 ? (uint64_t)(data[2] % 7 + 1) << (data[2] >> 5) * 5 : d % 3 + 1;
        info.nelem *= info.dims[d];
    }
    slice_item items[SHMAP_MAX_DIMS];
    view v;
    int n = parse_slice(text, items);
    if (n >= 0 && make_view("fuzz", &info, items, n, &v) == 0)
        check_view(&v, info.nelem);
}

static void values(const uint8_t *data, const char *text)
{
    static const char *const records[] = {"x:f4,y:f4,flag:u1", "a:u1[3],b:c128,c:bool",
                                          "p:f8[3],t:i64", "h:f16,q:c64[2]"};
    shmap_info info;
    memset(&info, 0, sizeof info);
    unsigned t = data[1] % 18;
    if (t < 14) {
        info.dtype = (shmap_dtype)(t + 1);
        info.elsize = shmap_dtype_size(info.dtype);
    } else {
        info.dtype = SHMAP_RECORD;
        snprintf(info.record_fields, sizeof info.record_fields, "%s", records[t - 14]);
        shmap_record_parse(info.record_fields, &info.elsize);
    }
    cli_layout l;
    char err[600];
    if (cli_layout_init(&l, &info, err, sizeof err) != 0)
        __builtin_trap();
    cli_value v;
    if (cli_value_parse(&l, text, &v, err, sizeof err) == 0) {
        unsigned char *buf = malloc(l.elsize * 3);
        memset(buf, 0xa5, l.elsize * 3);
        cli_value_store(&l, &v, buf);
        cli_value_fill(&l, &v, buf, 3);
        cli_value_print(stdout, &l, buf);
        free(buf);
        cli_value_free(&v);
    }
    cli_layout_free(&l);
}

static void npy(const uint8_t *data, size_t size)
{
    int fd = memfd_create("shmap-fuzz-npy", MFD_CLOEXEC);
    if (fd < 0)
        return;
    unsigned char prefix[16];
    size_t np = size < sizeof prefix ? size : sizeof prefix;
    cli_file_array a;
    char err[600];
    if (write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0 &&
        read(fd, prefix, np) == (ssize_t)np &&
        cli_npy_read_header(fd, prefix, np, &a, err, sizeof err) == 0) {
        size_t es;
        if (a.ndim < 1 || a.ndim > SHMAP_MAX_DIMS || a.elsize == 0 ||
            (a.dtype == SHMAP_RECORD ? shmap_record_parse(a.fields, &es) != 0 || es != a.elsize
                                     : shmap_dtype_size(a.dtype) != a.elsize))
            __builtin_trap();
        shmap_info info;
        memset(&info, 0, sizeof info);
        info.dtype = a.dtype;
        info.elsize = a.elsize;
        snprintf(info.record_fields, sizeof info.record_fields, "%s", a.fields);
        cli_layout l;
        if (cli_layout_init(&l, &info, err, sizeof err) != 0)
            __builtin_trap();
        unsigned char *buf = calloc(2, a.elsize);
        cli_swap_bytes(&l, buf, 2);
        free(buf);
        cli_layout_free(&l);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 4096)
        return 0;
    static int quiet;
    if (!quiet) {
        quiet = 1;
        if (!freopen("/dev/null", "w", stdout))
            return 0;
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t i;
    uint64_t u;
    double sec;
    switch (data[0] % 4) {
    case 0:
        slices(data, s + 3);
        break;
    case 1:
        values(data, s + 2);
        break;
    case 2:
        npy(data + 1, size - 1);
        break;
    default:
        cli_parse_i64(s + 1, &i);
        cli_parse_u64(s + 1, &u);
        cli_parse_seconds(s + 1, &sec);
        break;
    }
    free(s);
    return 0;
}
