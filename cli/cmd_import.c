/*
 * shmap import FILE|- NAME [--mode MODE] [--transient] [--prefault] [--hugepages]
 *              [--keyword KEY=VALUE]... [--hdu N|EXTNAME]
 *              [--dtype TYPE --shape D,D,... [--offset BYTES]]
 * shmap import FILE|- NAME --existing [--timeout SECONDS] [--keyword KEY=VALUE]...
 *              [--hdu N|EXTNAME] [--dtype TYPE --shape D,D,... [--offset BYTES]]
 *
 * Makes segment NAME from an array file: a .npy file or a FITS image, told apart by their
 * first bytes whatever the file's name, or any file as raw bytes when --dtype and --shape
 * say what it holds. With --existing it writes the array into segment NAME, which must
 * exist with the same type and shape: the processes that map it keep their mapping.
 *
 * All or nothing. Everything that can be known from the file before its data is read (its
 * header, its size against what the header announces) is checked before the segment is
 * made. The segment is made hidden (SHMAP_CREATE_HIDDEN) with its keywords, filled, and
 * given its name only once complete (shmap_create_finish()): a failure or a signal before
 * that takes it away at close, and a kill -9 leaves nothing under the name, only a hidden
 * object that `shmap gc` removes (.shmap-tmp-PID-N-NAME in /dev/shm, or beside a file;
 * a System V segment, which has its key from the start, stays marked as being created, and
 * gc removes it too). Readers never see a half-imported array.
 *
 * --existing is all or nothing too: the whole array is read from the file into memory of
 * our own (and put in C order and this machine's byte order there) before the segment is
 * touched, so a short pipe, a read error or a signal leaves it as it was. Only then is the
 * exclusive lock taken (waiting for ever, or --timeout seconds; a signal that would end us
 * ends the wait), the keywords set (all or none: keyword writers take no lock, so their
 * room is counted again under it, and those set are put back if one fails), the copy made
 * inside shmap_write_begin() and published.
 * The signals that would end us wait from the lock to the unlock, so the copy is never
 * left half made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const cli_opt import_opts[] = {
    CLI_CREATE_OPTS, {"dtype", 1}, {"shape", 1}, {"offset", 1}, {"existing", 0},
    {"timeout", 1}, {"hdu", 1}, {NULL, 0},
};

#define FITS_MAGIC "SIMPLE  ="

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

/* Let the signals through again; if one came, end as it would have, now that nothing is
 * left half done. */
static void end_as_signalled(void)
{
    cli_block_end_signals(0);
    if (interrupted) {
        signal(interrupted, SIG_DFL);
        raise(interrupted);
    }
}

/* The library's wait check: a signal that would end us ends a lock wait. */
static int stop_waiting(void *arg)
{
    (void)arg;
    return interrupted ? -EINTR : 0;
}


/*
 * Read exactly @p n bytes unless the file ends first. Returns the bytes read (fewer at the
 * end of the file), or -1 with errno set (EINTR once a signal asked us to stop).
 */
static ssize_t read_all(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        if (interrupted) {
            errno = EINTR;
            return -1;
        }
        /* In pieces, so a signal is noticed within one piece. */
        size_t piece = n - done < (64u << 20) ? n - done : (64u << 20);
        ssize_t r = read(fd, p + done, piece);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

/* Skip @p n bytes of a file that may not seek (a pipe). 0, or -1 (errno 0: it ended). */
static int skip_bytes(int fd, uint64_t n)
{
    if (n == 0 || lseek(fd, (off_t)n, SEEK_CUR) >= 0)
        return 0;
    unsigned char buf[4096];
    while (n > 0) {
        size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
        ssize_t r = read_all(fd, buf, want);
        if (r < 0)
            return -1;
        if ((size_t)r < want) {
            errno = 0;
            return -1;
        }
        n -= want;
    }
    return 0;
}

/*
 * Fortran order (first index fastest) to C order (last index fastest): walk the C order,
 * keeping the element's place in the Fortran layout as an odometer would.
 */
static void fortran_to_c(unsigned char *dst, const unsigned char *src, unsigned int ndim,
                         const uint64_t *dims, size_t elsize)
{
    uint64_t fstride[SHMAP_MAX_DIMS], idx[SHMAP_MAX_DIMS] = {0}, n = 1, off = 0;
    for (unsigned int k = 0; k < ndim; k++) {
        fstride[k] = k ? fstride[k - 1] * dims[k - 1] : 1;
        n *= dims[k];
    }
    for (uint64_t i = 0; i < n; i++) {
        memcpy(dst + i * elsize, src + off * elsize, elsize);
        for (int k = (int)ndim - 1; k >= 0; k--) {
            off += fstride[k];
            if (++idx[k] < dims[k])
                break;
            off -= fstride[k] * dims[k];
            idx[k] = 0;
        }
    }
}

typedef struct source {
    const char *path;
    int fd;
    const char *kind; /* "npy", "fits", "raw": for messages */
    const char *hdu;  /* --hdu: the FITS HDU to read, or NULL */
    cli_file_array a;
    uint64_t bytes;   /* of data */
    cli_fits *fits;
    shmap_keyword *kw; /* from a FITS header */
    int nkw;
    int raw_swapped;   /* a raw file in the other byte order (--dtype '>f4' here) */
} source;

/* Describe a raw file as --dtype, --shape and --offset say. */
static int describe_raw(source *s, const cli_raw *raw, const struct stat *st)
{
    s->kind = "raw";
    s->a.dtype = raw->dtype;
    s->a.swap = s->raw_swapped = raw->swapped;
    if (raw->fields) {
        snprintf(s->a.fields, sizeof s->a.fields, "%s", raw->fields);
        shmap_record_parse(raw->fields, &s->a.elsize); /* checked by cli_raw_check */
    } else {
        s->a.elsize = shmap_dtype_size(raw->dtype);
    }
    s->a.ndim = raw->ndim;
    memcpy(s->a.dims, raw->dims, sizeof raw->dims);
    s->a.data_offset = raw->offset;
    s->bytes = s->a.elsize;
    for (unsigned int i = 0; i < s->a.ndim; i++)
        s->bytes *= s->a.dims[i]; /* no overflow: cli_raw_check said so */
    if (S_ISREG(st->st_mode) && (uint64_t)st->st_size != raw->offset + s->bytes) {
        char shape[160];
        cli_format_shape(shape, sizeof shape, s->a.ndim, s->a.dims);
        return cli_fail(s->path, "is %lld %s; %s of %s at offset %" PRIu64 " makes %" PRIu64
                        " (the file must end where the array does)", (long long)st->st_size,
                        cli_plural((uint64_t)st->st_size, "byte", "bytes"), shape,
                        raw->dtype_text, raw->offset, raw->offset + s->bytes);
    }
    if (skip_bytes(s->fd, raw->offset) < 0)
        return cli_fail(s->path, "%s", errno ? strerror(errno) : "ends before --offset");
    return 0;
}

/*
 * Open FILE ("-": standard input) and find out what it holds, from its first bytes, or from
 * the raw options.
 *
 * What FILE may be. A regular file, or a pipe or socket (standard input, `<(cmd)`, a named
 * FIFO), whose size is known only at its end: the segment is then made at the header's size
 * and taken away if the data falls short. Never a device: /dev/zero would fill memory for
 * any shape, a terminal would wait for typed binary; and a device is refused before it is
 * opened, since opening some does something (a tape rewinds, a watchdog arms). A FIFO is
 * opened without waiting for a writer (O_NONBLOCK, cleared once open), so with none it
 * reads as empty instead of hanging: its writer must be started first.
 */
static int refuse_kind(const char *path, const struct stat *st)
{
    if (S_ISDIR(st->st_mode))
        return cli_fail(path, "is a directory");
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        return cli_fail(path, "is a device: import reads regular files and pipes");
    return 0;
}

/*
 * Linux cannot open a socket by name, not even one of this process's descriptors named
 * as /dev/stdin or /dev/fd/N (links to the socket): such a FILE is read through a copy of
 * the descriptor that holds that socket, found by its inode. A copy, or -1.
 */
static int socket_descriptor(const struct stat *named)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int found = -1;
    for (struct dirent *e; found < 0 && (e = readdir(d));) {
        struct stat st;
        char *end;
        long n = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end || n < 0 || n > INT_MAX || n == dirfd(d) ||
            fstat((int)n, &st) < 0)
            continue;
        if (S_ISSOCK(st.st_mode) && st.st_dev == named->st_dev && st.st_ino == named->st_ino)
            found = fcntl((int)n, F_DUPFD_CLOEXEC, 0);
    }
    closedir(d);
    return found;
}

static int describe(source *s, const cli_raw *raw)
{
    int std_in = strcmp(s->path, "-") == 0;
    struct stat st, named;
    if (!std_in && stat(s->path, &named) < 0)
        return cli_fail(s->path, "%s", strerror(errno));
    if (!std_in && refuse_kind(s->path, &named) != 0)
        return CLI_EXIT_FAIL;
    s->fd = std_in ? fcntl(0, F_DUPFD_CLOEXEC, 0)
                   : open(s->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (s->fd < 0 && errno == ENXIO && S_ISSOCK(named.st_mode)) {
        s->fd = socket_descriptor(&named);
        if (s->fd < 0)
            return cli_fail(s->path, "is a socket, which cannot be opened: give - and "
                                     "redirect standard input from it");
        std_in = 1; /* a descriptor of ours, as standard input is */
    }
    if (s->fd < 0)
        return cli_fail(s->path, "%s", strerror(errno));
    if (fstat(s->fd, &st) < 0)
        return cli_fail(s->path, "%s", strerror(errno));
    if (refuse_kind(s->path, &st) != 0)
        return CLI_EXIT_FAIL;
    if (!std_in && (st.st_dev != named.st_dev || st.st_ino != named.st_ino))
        return cli_fail(s->path, "was replaced while it was being opened");
    int fl = std_in ? 0 : fcntl(s->fd, F_GETFL);
    if (fl < 0 || (!std_in && fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
        return cli_fail(s->path, "%s", strerror(errno));
    if (raw->raw)
        return describe_raw(s, raw, &st);

    unsigned char prefix[16];
    ssize_t n = read_all(s->fd, prefix, sizeof prefix);
    if (n < 0)
        return cli_fail(s->path, "%s", strerror(errno));
    if (n == 0)
        return cli_fail(s->path, S_ISFIFO(st.st_mode) ? "is empty (a FIFO with no writer reads "
                                                        "as empty: start the writer first)"
                                                      : "is empty");
    char err[512];
    if ((size_t)n >= CLI_NPY_MAGIC_LEN && memcmp(prefix, CLI_NPY_MAGIC, CLI_NPY_MAGIC_LEN) == 0) {
        s->kind = "npy";
        if (s->hdu)
            return cli_fail(s->path, "--hdu picks an HDU of a FITS file, and this is a .npy "
                                     "file");
        if (cli_npy_read_header(s->fd, prefix, (size_t)n, &s->a, err, sizeof err) < 0)
            return cli_fail(s->path, "%s", err);
        if (s->a.data_offset < (uint64_t)n)
            return cli_fail(s->path, "the .npy header is shorter than its own prelude");
    } else if ((size_t)n >= 9 && memcmp(prefix, FITS_MAGIC, 9) == 0) {
        s->kind = "fits";
        if (!cli_fits_built)
            return cli_fail(s->path, "%s", cli_fits_missing);
        /* CFITSIO opens the file again (the one open here, through /proc/self/fd) and
         * reads it from its start: a pipe cannot be read again. */
        if (!S_ISREG(st.st_mode))
            return cli_fail(s->path, "a FITS file is read from its start again, and this one "
                                     "is not a regular file: save it to a file first");
        if (cli_fits_open(s->path, s->fd, s->hdu, &s->fits, &s->a, &s->kw, &s->nkw, err,
                          sizeof err) < 0)
            return cli_fail(s->path, "%s", err);
    } else if ((size_t)n >= 2 && prefix[0] == 0x1f && prefix[1] == 0x8b) {
        return cli_fail(s->path, "is gzip-compressed: decompress it first (gunzip -k FILE)");
    } else {
        return cli_fail(s->path, "not a .npy file (no 0x93 NUMPY magic) nor a FITS file (no "
                                 "'SIMPLE  =' card); give --dtype and --shape to import raw "
                                 "bytes");
    }
    s->bytes = s->a.elsize;
    for (unsigned int i = 0; i < s->a.ndim; i++)
        s->bytes *= s->a.dims[i]; /* no overflow: the readers checked */
    if (s->fits || !S_ISREG(st.st_mode))
        return 0;
    uint64_t have = (uint64_t)st.st_size > s->a.data_offset
                        ? (uint64_t)st.st_size - s->a.data_offset : 0;
    if (have < s->bytes)
        return cli_fail(s->path, "truncated: the header announces %" PRIu64 " %s of data, "
                                 "the file holds %" PRIu64, s->bytes,
                        cli_plural(s->bytes, "byte", "bytes"), have);
    return 0;
}

/* Read the data into @p data (a segment's, or a copy), in C order and this machine's byte
 * order; @p info describes the segment it is for. */
static int read_data(source *s, const char *name, unsigned char *data, const shmap_info *info)
{
    char err[512];
    if (s->fits) {
        if (cli_fits_read(s->fits, &s->a, data, err, sizeof err) < 0)
            return cli_fail(s->path, "%s", err);
        return interrupted ? cli_fail(name, "interrupted") : 0;
    }
    /* Fortran order is read into the segment as it comes and put in C order through a
     * copy: the copy is made once the file has proved it holds the data, so a header that
     * announces more than a pipe brings costs no allocation. */
    ssize_t n = read_all(s->fd, data, (size_t)s->bytes);
    int status = 0;
    if (n < 0 && errno == EINTR)
        status = cli_fail(name, "interrupted");
    else if (n < 0)
        status = cli_fail(s->path, "%s", strerror(errno));
    else if ((uint64_t)n < s->bytes)
        status = cli_fail(s->path, "truncated: the header announces %" PRIu64 " %s of "
                                   "data, the file holds %zd", s->bytes,
                          cli_plural(s->bytes, "byte", "bytes"), n);
    if (status == 0 && s->a.fortran && s->a.ndim > 1) {
        unsigned char *tmp = malloc((size_t)s->bytes);
        if (!tmp)
            return cli_fail(s->path, "out of memory for a Fortran-order array of %" PRIu64
                                     " bytes", s->bytes);
        memcpy(tmp, data, (size_t)s->bytes);
        fortran_to_c(data, tmp, s->a.ndim, s->a.dims, s->a.elsize);
        free(tmp);
    }
    if (status != 0 || !s->a.swap)
        return status;
    cli_layout l;
    if (cli_layout_init(&l, info, err, sizeof err) < 0)
        return cli_fail(name, "cannot read back the segment's type");
    l.swapped = s->raw_swapped;
    cli_swap_bytes(&l, data, info->nelem);
    cli_layout_free(&l);
    return 0;
}

/*
 * The file's keywords, then the command line's, which so win over the file's, in one array
 * (@p *kw), with whether each keeps the comment the segment has (@p *keep: a --keyword
 * without one does, as `shmap keyword` does; the file's come whole; NULL: not wanted).
 * Their number, or -1 after saying that memory ran out; to free.
 */
static int all_keywords(const source *s, const cli_create *c, const char *name,
                        shmap_keyword **kw, unsigned char **keep)
{
    int n = s->nkw + c->nkw;
    *kw = calloc(n ? (size_t)n : 1, sizeof **kw);
    unsigned char *kept = keep ? calloc(n ? (size_t)n : 1, 1) : NULL;
    if (!*kw || (keep && !kept)) {
        free(*kw);
        free(kept);
        *kw = NULL;
        cli_fail(name, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        (*kw)[i] = i < s->nkw ? s->kw[i] : c->kw[i - s->nkw];
        if (kept)
            kept[i] = i < s->nkw ? 0 : c->kw_keep[i - s->nkw];
    }
    if (keep)
        *keep = kept;
    return n;
}

static int import(source *s, const char *name, const cli_raw *raw, const cli_create *c)
{
    if (describe(s, raw) != 0)
        return CLI_EXIT_FAIL;
    shmap_create_opts opts = c->opts;
    opts.flags |= SHMAP_CREATE_HIDDEN;
    opts.record_fields = s->a.dtype == SHMAP_RECORD ? s->a.fields : NULL;
    unsigned int nkw = (unsigned int)(s->nkw + c->nkw);
    if (nkw > SHMAP_KEYWORD_CAPACITY_MAX)
        return cli_fail(s->path, "%u keywords: a segment holds at most %d", nkw,
                        SHMAP_KEYWORD_CAPACITY_MAX);
    opts.keyword_capacity = cli_keyword_capacity(nkw);
    shmap_keyword *kw;
    if (all_keywords(s, c, name, &kw, NULL) < 0)
        return CLI_EXIT_FAIL;
    opts.keywords = kw;
    opts.nkeywords = nkw;

    /* Signals that end the command are noted, so that the segment being filled can be
     * taken away; a read in progress returns. */
    cli_catch_end_signals(on_signal, SIGPIPE);
    shmap_seg *seg;
    int rc = cli_create_segment(c, &seg, name, s->a.dtype, s->a.ndim, s->a.dims, &opts);
    free(kw);
    /* A reservation a signal cut short (EINTR, where the kernel stops for a caught signal)
     * has been taken away: end as the signal would have, as create does. */
    if (rc < 0 && interrupted) {
        cli_block_end_signals(1);
        int status = cli_fail(name, "interrupted");
        end_as_signalled();
        return status;
    }
    if (rc < 0 && cli_store_misuse(name, 1, opts.flags, 0))
        return cli_usage_lib("import", name, rc);
    if (rc < 0)
        return cli_fail_lib(name, rc);

    int status = CLI_EXIT_OK;
    shmap_info info;
    if ((rc = shmap_info_get(seg, &info)) < 0)
        status = cli_fail_lib(name, rc);
    if (status == CLI_EXIT_OK)
        status = read_data(s, name, shmap_data(seg), &info);
    /* From the last look at a signal to the close, signals wait: one that came before is
     * seen and the segment goes; one that comes after finds the segment complete, and
     * ends the command once it is closed. */
    cli_block_end_signals(1);
    if (status == CLI_EXIT_OK && interrupted)
        status = cli_fail(name, "interrupted");
    /* Published once, as a writer publishes a frame: generation 1. */
    if (status == CLI_EXIT_OK && (rc = shmap_publish(seg)) < 0)
        status = cli_fail_lib(name, rc);
    if (status == CLI_EXIT_OK && (rc = shmap_create_finish(seg)) < 0)
        status = cli_fail_lib(name, rc);
    rc = shmap_close(seg); /* not finished: removed */
    if (rc < 0 && status == CLI_EXIT_OK)
        status = cli_fail_lib(name, rc);
    end_as_signalled();
    return status;
}

/* ---- --existing ---- */

/* One field of a field list ("pos:f8[3]"): its name, type and count. 0, or -1. */
static int field_of(char *text, char **name, shmap_dtype *dtype, unsigned long *count)
{
    char *colon = strchr(text, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    *name = text;
    char *type = colon + 1, *bracket = strchr(type, '[');
    *count = 1;
    if (bracket) {
        char *end;
        *bracket = '\0';
        *count = strtoul(bracket + 1, &end, 10);
        if (*end != ']' || end[1])
            return -1;
    }
    return shmap_dtype_parse(type, dtype) == 0 ? 0 : -1;
}

/* Do two field lists name the same fields, of the same types and counts, however each
 * spells its types ("x:f4" and "x:f32")? */
static int same_fields(const char *a, const char *b)
{
    char x[SHMAP_RECORD_FIELDS_MAX], y[SHMAP_RECORD_FIELDS_MAX], *sx, *sy;
    snprintf(x, sizeof x, "%s", a);
    snprintf(y, sizeof y, "%s", b);
    char *fx = strtok_r(x, ",", &sx), *fy = strtok_r(y, ",", &sy);
    for (; fx && fy; fx = strtok_r(NULL, ",", &sx), fy = strtok_r(NULL, ",", &sy)) {
        char *nx, *ny;
        shmap_dtype tx, ty;
        unsigned long cx, cy;
        if (field_of(fx, &nx, &tx, &cx) < 0 || field_of(fy, &ny, &ty, &cy) < 0 ||
            strcmp(nx, ny) != 0 || tx != ty || cx != cy)
            return 0;
    }
    return !fx && !fy;
}

/* "f32 480x640" or "record x:f4,y:f4 100", for messages. */
static void describe_array(char *buf, size_t size, shmap_dtype dtype, const char *fields,
                           unsigned int ndim, const uint64_t *dims)
{
    char shape[160];
    cli_format_shape(shape, sizeof shape, ndim, dims);
    if (dtype == SHMAP_RECORD)
        snprintf(buf, size, "record %s %s", fields, shape);
    else
        snprintf(buf, size, "%s %s", shmap_dtype_name(dtype), shape);
}

/* The file's array has the segment's type and shape: 0, or CLI_EXIT_FAIL after saying how
 * they differ. */
static int check_same_array(const char *name, const source *s, const shmap_info *info)
{
    int same = info->dtype == s->a.dtype && info->ndim == s->a.ndim &&
               memcmp(info->dims, s->a.dims, info->ndim * sizeof info->dims[0]) == 0 &&
               (info->dtype != SHMAP_RECORD ||
                (info->elsize == s->a.elsize && same_fields(info->record_fields, s->a.fields)));
    if (same)
        return 0;
    char have[SHMAP_RECORD_FIELDS_MAX + 200], want[SHMAP_RECORD_FIELDS_MAX + 200];
    describe_array(have, sizeof have, info->dtype, info->record_fields, info->ndim, info->dims);
    describe_array(want, sizeof want, s->a.dtype, s->a.fields, s->a.ndim, s->a.dims);
    return cli_fail(name, "holds %s, and %s holds %s: --existing needs the same type and shape",
                    have, s->path, want);
}


/* Take the exclusive lock, waiting @p timeout seconds at most (< 0: for ever); a signal
 * that would end us ends the wait. 1 when taken, 2 when an enclosing `shmap lock --write`
 * holds it (cli_enclosing_write()), or 0 after saying why not. */
static int lock_existing(const char *name, shmap_seg *seg, double timeout)
{
    int enclosing = cli_enclosing_write(name, seg, NULL);
    if (enclosing != 0)
        return enclosing > 0 ? 2 : 0;
    shmap_set_wait_check(stop_waiting, NULL);
    int rc = shmap_lock(seg, SHMAP_LOCK_EXCLUSIVE, timeout);
    shmap_set_wait_check(NULL, NULL);
    if (rc == SHMAP_EOWNERDEAD) {
        /* The data is about to be replaced whole, so a writer that died in it costs nothing,
         * but it is said, as every command that takes the lock says it. */
        shmap_lockinfo li;
        if (shmap_lock_info(seg, &li) == 0 && li.dead_pid > 0)
            cli_warn(name, "previous writer (pid %ld) died while holding the lock",
                     (long)li.dead_pid);
        return 1;
    }
    if (rc == 0)
        return 1;
    char who[512];
    if (interrupted)
        cli_fail(name, "interrupted");
    else if ((rc == -ETIMEDOUT || rc == -EBUSY) && shmap_lock_holders(seg, who, sizeof who) >= 0)
        cli_fail(name, "timed out after %g s waiting for the exclusive lock: %s", timeout, who);
    else
        cli_fail_lib(name, rc);
    return 0;
}

static int import_existing(source *s, const char *name, const cli_raw *raw,
                           const cli_create *c, double timeout)
{
    if (describe(s, raw) != 0)
        return CLI_EXIT_FAIL;
    shmap_seg *seg;
    int rc = shmap_open(&seg, name, SHMAP_RDWR);
    if (rc < 0)
        return cli_fail_lib(name, rc);
    shmap_info info;
    int status = CLI_EXIT_OK, locked = 0;
    unsigned char *copy = NULL, *keep = NULL;
    shmap_keyword *kw = NULL;
    int nkw = all_keywords(s, c, name, &kw, &keep);
    if (nkw < 0)
        status = CLI_EXIT_FAIL;
    else if ((rc = shmap_info_get(seg, &info)) < 0)
        status = cli_fail_lib(name, rc);
    else if (info.flags & SHMAP_SEG_RING)
        status = cli_fail(name, "is a ring of frames: --existing writes one whole array; "
                                "write frames with shmap_write_begin() and shmap_publish()");
    if (status == CLI_EXIT_OK)
        status = check_same_array(name, s, &info);
    if (status == CLI_EXIT_OK)
        status = cli_keywords_set_all(name, seg, kw, keep, nkw, SHMAP_KEYWORD_CHECK_ONLY);
    if (status == CLI_EXIT_OK && !(copy = malloc(s->bytes ? (size_t)s->bytes : 1)))
        status = cli_fail(name, "out of memory for a copy of the %" PRIu64 " bytes to import",
                          s->bytes);

    cli_catch_end_signals(on_signal, SIGPIPE);
    if (status == CLI_EXIT_OK)
        status = read_data(s, name, copy, &info);
    if (status == CLI_EXIT_OK && interrupted)
        status = cli_fail(name, "interrupted");
    if (status == CLI_EXIT_OK && !(locked = lock_existing(name, seg, timeout)))
        status = CLI_EXIT_FAIL;
    /* From here to the unlock the copy is made whole or not at all: signals wait. */
    cli_block_end_signals(1);
    if (status == CLI_EXIT_OK && interrupted)
        status = cli_fail(name, "interrupted");
    /* Keyword writers take no lock: the room is counted again, as it is now. */
    if (status == CLI_EXIT_OK)
        status = cli_keywords_set_all(name, seg, kw, keep, nkw, 0);
    if (status == CLI_EXIT_OK && (rc = shmap_write_begin(seg, NULL)) < 0)
        status = cli_fail_lib(name, rc);
    if (status == CLI_EXIT_OK) {
        memcpy(shmap_data(seg), copy, (size_t)s->bytes);
        if ((rc = shmap_publish(seg)) < 0)
            status = cli_fail_lib(name, rc);
    }
    if (locked == 1)
        shmap_unlock(seg);
    rc = shmap_close(seg);
    if (rc < 0 && status == CLI_EXIT_OK)
        status = cli_fail_lib(name, rc);
    free(copy);
    free(kw);
    free(keep);
    end_as_signalled();
    return status;
}

int cmd_import(int argc, char **argv)
{
    cli_create c;
    cli_raw raw = {0};
    cli_args a;
    int opt, status = CLI_EXIT_USAGE, existing = 0;
    const char *made_with = NULL, *timeout_text = NULL; /* an option that makes a segment */
    const char *hdu = NULL;
    double timeout = -1;
    cli_args_init(&a, "import", import_opts, argc, argv);
    cli_args_subject(&a, 1, 0);
    if (cli_create_init(&c, argc) < 0) {
        status = cli_fail(cli_subject(), "out of memory");
        goto out;
    }
    while ((opt = cli_args_next(&a)) >= 0) {
        const char *o = import_opts[opt].name;
        if (strcmp(o, "existing") == 0) {
            existing = 1;
            continue;
        }
        if (strcmp(o, "timeout") == 0) {
            if (cli_parse_timeout("import", a.value, &timeout) != 0)
                goto out;
            timeout_text = a.value;
            continue;
        }
        if (strcmp(o, "hdu") == 0) {
            /* A number (0 the primary HDU) or an EXTNAME, which FITS keeps to 68 printable
             * characters. */
            size_t len = strlen(a.value);
            const char *p = a.value;
            while (*p && *p >= ' ' && *p <= '~')
                p++;
            if (len == 0 || len > 68 || *p || a.value[0] == '-' || a.value[0] == '+') {
                cli_usage_error("import", "--hdu '%s': give an HDU's number (0 the primary, 1 "
                                          "the first extension...) or its EXTNAME", a.value);
                goto out;
            }
            hdu = a.value;
            continue;
        }
        int taken = cli_create_option("import", &c, o, a.value);
        if (taken < 0)
            goto out;
        if (taken && strcmp(o, "keyword") != 0)
            made_with = o;
        if (!taken)
            cli_raw_option(&raw, o, a.value);
    }
    if (opt == CLI_ARGS_EXIT) {
        status = a.status;
        goto out;
    }
    if (a.npos < 2) {
        cli_usage_error("import", "missing %s", a.npos == 0 ? "FILE" : "NAME");
        goto out;
    }
    if (a.npos > 2) {
        cli_usage_error("import", "unexpected argument '%s'", a.argv[2]);
        goto out;
    }
    if (existing && made_with) {
        cli_usage_error("import", "--%s is for a new segment, and --existing writes into one "
                                  "that exists", made_with);
        goto out;
    }
    if (timeout_text && !existing) {
        cli_usage_error("import", "--timeout is for --existing (a new segment has no one to "
                                  "wait for)");
        goto out;
    }
    const char *file = a.argv[0], *name = a.argv[1];
    shmap_store store = SHMAP_STORE_POSIX;
    if (shmap_name_check(name, &store) == 0 && store == SHMAP_STORE_MEMFD) {
        cli_usage_error_on("import", name, "a memfd segment would vanish when this command "
                           "exits; name a POSIX, System V or file segment");
        goto out;
    }
    raw.any_offset = 1; /* the file is read, not mapped */
    if (cli_raw_check("import", &raw) != 0 || cli_check_names("import", a.argv + 1, 1) != 0)
        goto out;
    if (hdu && raw.raw) {
        cli_usage_error("import", "--hdu picks an HDU of a FITS file, and --dtype reads FILE "
                                  "as raw bytes");
        goto out;
    }

    source s;
    memset(&s, 0, sizeof s);
    s.path = file;
    s.hdu = hdu;
    s.fd = -1;
    status = existing ? import_existing(&s, name, &raw, &c, timeout)
                      : import(&s, name, &raw, &c);
    if (s.fd >= 0)
        close(s.fd);
    if (s.fits)
        cli_fits_close(s.fits);
    free(s.kw);
out:
    cli_create_free(&c);
    return status;
}
