/*
 * shmap set NAME INDEX... VALUE [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * Indices are checked as numbers before the segment is opened, and against its shape after;
 * the value against its type. Each is bad usage when wrong (a malformed index, one too
 * many or too few, one outside the shape, a value the type cannot hold): the command line
 * has to change, and nothing is written. As for fill, a raw or private mapping is written
 * without publishing.
 *
 * A ring of frames is refused, as fill refuses it: an element belongs to one frame, which
 * readers may have copied already, while the publish would announce the next frame, whose
 * slot set never wrote (it still holds a frame a lap older).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

/* The element's offset in elements, or -1 after a usage error saying why there is none. */
static int64_t element_offset(const char *name, const shmap_info *info, char **text,
                              const int64_t *index, int nindex)
{
    if ((unsigned int)nindex != info->ndim) {
        cli_usage_error_on("set", name, "%d %s given for %u %s", nindex,
                           cli_plural((uint64_t)nindex, "index", "indices"), info->ndim,
                           cli_plural(info->ndim, "dimension", "dimensions"));
        return -1;
    }
    int64_t offset = 0;
    for (int d = 0; d < nindex; d++) {
        int64_t dim = (int64_t)info->dims[d];
        int64_t i = index[d] < 0 ? index[d] + dim : index[d];
        if (i < 0 || i >= dim) {
            const char *shown;
            int len = cli_unblanked(text[d], &shown);
            cli_usage_error_on("set", name, "index %.*s out of range for dimension %d of size %"
                               PRIu64, len, shown, d, info->dims[d]);
            return -1;
        }
        offset = offset * dim + i;
    }
    return offset;
}

static const cli_opt set_opts[] = {CLI_RAW_OPTS, {"timeout", 1}, {NULL, 0}};

int cmd_set(int argc, char **argv)
{
    int opt;
    cli_raw raw = {0};
    cli_args a;
    double timeout = -1;
    cli_args_init(&a, "set", set_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0)
        if (!cli_raw_option(&raw, set_opts[opt].name, a.value) &&
            cli_parse_timeout("set", a.value, &timeout) != 0)
            return CLI_EXIT_USAGE;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos < 3) {
        static const char *const missing[] = {"NAME", "INDEX", "VALUE"};
        return cli_usage_error("set", "missing %s", missing[a.npos]);
    }
    int nindex = a.npos - 2;
    if (nindex > SHMAP_MAX_DIMS)
        return cli_usage_error("set", "%d indices given, at most %d", nindex, SHMAP_MAX_DIMS);
    int64_t index[SHMAP_MAX_DIMS];
    for (int d = 0; d < nindex; d++)
        if (cli_parse_i64(a.argv[1 + d], &index[d]) < 0)
            return cli_usage_error("set", "invalid index '%s'", a.argv[1 + d]);
    if (cli_raw_check("set", &raw) != 0 || cli_check_names("set", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0], *text = a.argv[a.npos - 1];
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened = cli_open("set", name, SHMAP_RDWR, &raw, &seg, &info, &layout);
    if (opened != 0)
        return opened;

    int status = CLI_EXIT_USAGE;
    int64_t offset = -1;
    cli_value v;
    char err[256];
    if ((raw.raw || raw.priv) && timeout >= 0) {
        status = cli_usage_error_on("set", name, "--timeout is for a segment's lock: %s",
                                    raw.raw ? "a raw object has none"
                                            : "a private mapping is written without it");
    } else if (info.flags & SHMAP_SEG_RING) {
        /* --private too: a dry run answers as the real command would. */
        status = cli_fail(name, "is a ring of frames: set would change a frame readers may "
                                "have had; write frames with shmap_write_begin() and "
                                "shmap_publish()");
    } else if ((offset = element_offset(name, &info, a.argv + 1, index, nindex)) < 0) {
        /* reported */
    } else if (cli_value_parse(&layout, text, &v, err, sizeof err) < 0) {
        cli_usage_error_on("set", name, "%s", err);
    } else {
        /* Under the exclusive lock, one writer at a time, and bracketed by write_begin and
         * publish, so readers of whole frames never see the element half-written. */
        int publish = !raw.raw && !raw.priv;
        int took = publish ? cli_write_begin(name, seg, timeout) : 0;
        status = took < 0 ? -took : CLI_EXIT_OK;
        if (took >= 0) {
            unsigned char *data = shmap_data(seg);
            cli_value_store(&layout, &v, data + (size_t)offset * layout.elsize);
            if (publish)
                status = cli_write_publish(name, seg, took);
        }
        cli_value_free(&v);
    }
    cli_layout_free(&layout);
    shmap_close(seg);
    cli_end_signals_after_close();
    return status;
}
