/*
 * shmap fill NAME VALUE|ramp [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * The whole array is written, then published once, so a reader waiting on the generation
 * wakes to a complete fill rather than to each element. A raw mapping has no generation to
 * publish, and a private one nobody to tell: those are only written.
 *
 * A ring of frames is refused (as `import --existing` refuses it). shmap_write_begin()
 * declares one frame, the next, as being written, and readers check their copy of any other
 * frame against that alone: a fill rewrites every frame, so readers of the others would take
 * torn copies for whole ones. Frames go into a ring one at a time, through the library.
 */
#include <string.h>

#include "cli.h"

static const cli_opt fill_opts[] = {CLI_RAW_OPTS, {"timeout", 1}, {NULL, 0}};

int cmd_fill(int argc, char **argv)
{
    int opt;
    cli_raw raw = {0};
    cli_args a;
    double timeout = -1;
    cli_args_init(&a, "fill", fill_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0)
        if (!cli_raw_option(&raw, fill_opts[opt].name, a.value) &&
            cli_parse_timeout("fill", a.value, &timeout) != 0)
            return CLI_EXIT_USAGE;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos < 2)
        return cli_usage_error("fill", "missing %s", a.npos == 0 ? "NAME" : "VALUE");
    if (a.npos > 2)
        return cli_usage_error("fill", "unexpected argument '%s'", a.argv[2]);
    if (cli_raw_check("fill", &raw) != 0 || cli_check_names("fill", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;

    const char *name = a.argv[0], *text = a.argv[1];
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened = cli_open("fill", name, SHMAP_RDWR, &raw, &seg, &info, &layout);
    if (opened != 0)
        return opened;

    int status = CLI_EXIT_OK, ramp = strcmp(text, "ramp") == 0;
    cli_value v = {0};
    char err[256];
    if ((raw.raw || raw.priv) && timeout >= 0) {
        status = cli_usage_error_on("fill", name, "--timeout is for a segment's lock: %s",
                                    raw.raw ? "a raw object has none"
                                            : "a private mapping is written without it");
    } else if (info.flags & SHMAP_SEG_RING) {
        /* --private too: a dry run answers as the real command would. */
        status = cli_fail(name, "is a ring of frames: fill writes every frame at once; write "
                                "frames with shmap_write_begin() and shmap_publish()");
    } else if (!ramp && cli_value_parse(&layout, text, &v, err, sizeof err) < 0) {
        status = cli_usage_error_on("fill", name, "%s", err); /* nothing written */
    } else {
        /* Under the exclusive lock, one writer at a time, and bracketed by write_begin and
         * publish, so readers of whole frames never see half a fill. */
        int publish = !raw.raw && !raw.priv;
        int took = publish ? cli_write_begin(name, seg, timeout) : 0;
        if (took < 0) {
            status = -took;
        } else {
            if (ramp)
                cli_value_ramp(&layout, shmap_data(seg), info.nelem);
            else
                cli_value_fill(&layout, &v, shmap_data(seg), info.nelem);
            if (publish)
                status = cli_write_publish(name, seg, took);
        }
        if (!ramp)
            cli_value_free(&v);
    }
    cli_layout_free(&layout);
    shmap_close(seg);
    cli_end_signals_after_close();
    return status;
}
