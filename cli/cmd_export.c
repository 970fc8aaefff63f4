/*
 * shmap export NAME FILE|- [--format npy|fits|raw] [--force] [--timeout SECONDS]
 *              [--dtype TYPE --shape D,D,... [--offset BYTES]] [--private]
 *
 * Writes a segment's array to a file: .npy, FITS (with the keywords) or raw bytes, picked
 * by FILE's extension or --format.
 *
 * A snapshot, never torn by a writer that plays by the rules: the data is copied out as
 * cli_snapshot() copies it (under the shared lock, checked against the generation and the
 * write in progress), and the keywords listed with it.
 *
 * The file appears whole or not at all, and nothing else is left, even by a kill -9. It
 * is written as an unnamed file in FILE's directory (open(O_TMPFILE)), synced, and only
 * then given its name by linking /proc/self/fd/N (linkat). A link never replaces a name,
 * so a FILE that appeared meanwhile is refused without --force. With --force, a FILE that
 * is there is replaced at once: the file is linked under a hidden name beside it
 * (.FILE.shmap-XXXXXX) and renamed over it, with INT, TERM, HUP and QUIT held off between
 * the two calls; a kill -9 in that window alone leaves the hidden name, a whole file. A
 * failure, a full disk or any signal before the link leaves FILE as it was: the unnamed
 * file goes with the process's last descriptor of it. FITS goes the same way: CFITSIO
 * writes into the descriptor through a driver of our own (fits.c).
 *
 * Where the file system has no O_TMPFILE (or no /proc is mounted to link it by), the file
 * is written under a hidden directory made next to FILE, then renamed into place (without
 * replacing anything unless --force); the hidden directory goes with a failure or a
 * catchable signal, and only a kill -9 can leave one (.FILE.shmap-XXXXXX).
 *
 * A write past this process's file size limit (ulimit -f) is a failure like a full disk:
 * main.c catches SIGXFSZ, which would otherwise end the command in the middle, so the
 * write returns EFBIG. Either failure is said with the bytes to write, and the limit or
 * the bytes free (fail_write()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const cli_opt export_opts[] = {
    {"format", 1}, {"force", 0}, {"timeout", 1}, CLI_RAW_OPTS, {NULL, 0},
};

enum { FMT_NPY, FMT_FITS, FMT_RAW };
static const char *const format_names[] = {"npy", "fits", "raw"};

/* By the name's extension: .npy, .fits/.fit/.fts (any case), anything else raw. */
static int format_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return FMT_RAW;
    if (strcasecmp(dot, ".npy") == 0)
        return FMT_NPY;
    if (strcasecmp(dot, ".fits") == 0 || strcasecmp(dot, ".fit") == 0 ||
        strcasecmp(dot, ".fts") == 0)
        return FMT_FITS;
    return FMT_RAW;
}

/* A name that says compressed (frame.fits.gz) gets raw bytes, uncompressed, by the rule
 * above: said on a warning line, as a user would expect otherwise. */
static void compressed_name(const char *path)
{
    static const char *const ext[] = {".gz", ".bz2", ".xz", ".zst", ".fz", ".npz", ".zip"};
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0)
            cli_warn(path, "written as raw bytes, uncompressed: export compresses nothing "
                           "(give --format raw to say so, or pipe - through a compressor)");
}

/* ---------------------------------------------------------------------------------------- */
/* The output file: unnamed until it is whole, or written hidden and renamed into place */

/*
 * The permission bits of a file made: the segment's read and write bits (less the umask,
 * as open() applies it), as cp(1) gives a copy, so that a 0600 segment does not become a
 * file every user may read.
 */
static mode_t file_mode = 0666;

/* The unnamed file (O_TMPFILE) being written, or -1 when the hidden directory serves. */
static int tmp_fd = -1;
/*
 * The hidden name beside FILE, .FILE.shmap-XXXXXX: the directory the file is written in
 * when it cannot be unnamed, or the name an unnamed file is linked under to replace FILE
 * (--force). tmp_file is the file in that directory.
 */
static char hidden[PATH_MAX], tmp_file[PATH_MAX];
/* What a signal handler removes: set while the hidden directory exists. */
static volatile sig_atomic_t tmp_live;

static void on_signal(int sig)
{
    if (tmp_live) {
        unlink(tmp_file);
        rmdir(hidden);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Remove what make_tmp() made: close the unnamed file, or remove the hidden directory. */
static void remove_tmp(void)
{
    if (tmp_fd >= 0) {
        close(tmp_fd);
        tmp_fd = -1;
        return;
    }
    tmp_live = 0;
    unlink(tmp_file);
    rmdir(hidden);
}

/* Put random letters and digits in place of the XXXXXX that end @p name. */
static void random_suffix(char *name)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[6];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof r; i++, v /= 62)
            r[i] = (unsigned char)(v % 62);
    }
    char *x = name + strlen(name) - sizeof r;
    for (size_t i = 0; i < sizeof r; i++)
        x[i] = chars[r[i] % 62];
}

/*
 * An unnamed file in @p dir, to be named once whole by linking /proc/self/fd/N: its
 * descriptor, or -1 with errno. Without /proc it could not be named: EOPNOTSUPP then, as
 * from a file system without O_TMPFILE, so that the hidden directory serves instead.
 */
static int open_unnamed(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, file_mode);
    if (fd < 0)
        return -1;
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (access(proc, F_OK) < 0) {
        close(fd);
        errno = EOPNOTSUPP;
        return -1;
    }
    return fd;
}

/* " (no inode left: ...)" when @p e is ENOSPC for want of an inode in @p dir's file system,
 * whatever space it has (as a creation says it); else "". */
static const char *inode_hint(int e, const char *dir)
{
    static char hint[128];
    struct statvfs vfs;
    hint[0] = '\0';
    if (e == ENOSPC && statvfs(dir, &vfs) == 0 && vfs.f_files > 0 && vfs.f_ffree == 0)
        snprintf(hint, sizeof hint, " (no inode left: its file system holds as many files "
                 "as it may, %llu, whatever space it has)", (unsigned long long)vfs.f_files);
    return hint;
}

/* Make the file to write beside @p path: unnamed, or else in a hidden directory. 0, or
 * CLI_EXIT_FAIL. */
static int make_tmp(const char *path)
{
    char copy[PATH_MAX], copy2[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return cli_fail(path, "path too long");
    snprintf(copy2, sizeof copy2, "%s", path);
    const char *dir = dirname(copy), *base = basename(copy2);
    /* The hidden name keeps at most 200 bytes of FILE's, so that a FILE name near
     * NAME_MAX (255) still leaves room for the dot and the suffix. */
    if (snprintf(hidden, sizeof hidden, "%s/.%.200s.shmap-XXXXXX", dir, base) >=
        (int)sizeof hidden)
        return cli_fail(path, "path too long");
    tmp_fd = open_unnamed(dir);
    if (tmp_fd >= 0)
        return 0;
    /* What file systems without O_TMPFILE, and kernels before 3.11, answer. */
    int e = errno;
    if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL)
        return cli_fail(path, "cannot write in %s: %s%s", dir, strerror(e), inode_hint(e, dir));
    cli_catch_end_signals(on_signal, SIGPIPE);
    /* No signal between making the directory and noting it for the handler. */
    cli_block_end_signals(1);
    int status = 0;
    if (!mkdtemp(hidden)) {
        e = errno;
        status = cli_fail(path, "cannot write in %s: %s%s", dir, strerror(e), inode_hint(e, dir));
    } else if (snprintf(tmp_file, sizeof tmp_file, "%s/%s", hidden, base) >=
               (int)sizeof tmp_file) {
        rmdir(hidden);
        status = cli_fail(path, "path too long");
    } else {
        tmp_live = 1;
    }
    cli_block_end_signals(0);
    return status;
}

static int sync_path(const char *path, int flags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * Give the unnamed file the name @p path. linkat() never replaces a name, so a FILE that
 * appeared meanwhile is refused (EEXIST). With --force, a FILE that is there is replaced
 * at once by rename() from the hidden name, linked first; signals are held off between the
 * two. 0, or -1 with errno.
 */
static int link_unnamed(const char *path, int force)
{
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", tmp_fd);
    int rc = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
    if (rc == 0 || errno != EEXIST || !force)
        return rc;
    /* Every signal that can be held waits, not only the end signals: any that ends the
     * command between the link and the rename would leave the hidden name. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    for (int tries = 0; tries < 100; tries++) {
        random_suffix(hidden);
        rc = linkat(AT_FDCWD, proc, AT_FDCWD, hidden, AT_SYMLINK_FOLLOW);
        if (rc == 0 || errno != EEXIST)
            break;
    }
    if (rc == 0 && (rc = rename(hidden, path)) < 0) {
        int e = errno;
        unlink(hidden);
        errno = e;
    }
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return rc;
}

/* Put the hidden directory's file in place of @p path, and remove the directory. */
static int commit_hidden(const char *path, int force)
{
    if (sync_path(tmp_file, 0) < 0)
        return -1;
    if (force)
        return rename(tmp_file, path);
    /* Never replace a file that appeared meanwhile. A file system without
     * RENAME_NOREPLACE gets a hard link, which refuses an existing name too. */
    int rc = renameat2(AT_FDCWD, tmp_file, AT_FDCWD, path, RENAME_NOREPLACE);
    if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {
        rc = link(tmp_file, path);
        if (rc == 0)
            unlink(tmp_file);
    }
    return rc;
}

/* Sync the file written and give it the name @p path; remove what is left. */
static int commit_tmp(const char *path, int force)
{
    int rc;
    if (tmp_fd >= 0)
        rc = fsync(tmp_fd) < 0 ? -1 : link_unnamed(path, force);
    else
        rc = commit_hidden(path, force);
    int e = errno;
    remove_tmp();
    if (rc < 0 && e == EEXIST)
        return cli_fail(path, "exists: give --force to replace it");
    if (rc < 0)
        return cli_fail(path, "%s", strerror(e));
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    sync_path(dirname(copy), O_DIRECTORY);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The snapshot */

typedef struct snapshot {
    const unsigned char *data; /* the copy, or the mapping of a raw object */
    unsigned char *copy;
    shmap_keyword *kw;
    int nkw;
} snapshot;

/* The whole data, into the snapshot's copy (cli_snapshot()). */
struct whole {
    unsigned char *dst;
    size_t bytes;
    shmap_seg *seg;
    snapshot *s;
    const char *name;
};

static void copy_all(void *ctx, const unsigned char *data)
{
    struct whole *w = ctx;
    memcpy(w->dst, data, w->bytes);
}

/* The keywords go into the file with the data they were seen with. */
static int list_keywords(void *ctx)
{
    struct whole *w = ctx;
    w->s->nkw = shmap_keyword_list_alloc(w->seg, &w->s->kw);
    if (w->s->nkw >= 0)
        return CLI_EXIT_OK;
    int rc = w->s->nkw;
    w->s->nkw = 0;
    return cli_fail_lib(w->name, rc);
}

static int take_snapshot(const char *name, shmap_seg *seg, const shmap_info *info, int raw,
                         double timeout, snapshot *s)
{
    if (raw) {
        s->data = shmap_data(seg);
        return 0;
    }
    s->copy = malloc(info->data_size ? (size_t)info->data_size : 1);
    if (!s->copy)
        return cli_fail(name, "out of memory for a copy of %" PRIu64 " bytes",
                        info->data_size);
    s->data = s->copy;
    struct whole w = {s->copy, (size_t)info->data_size, seg, s, name};
    return cli_snapshot(name, seg, timeout, copy_all, &w, list_keywords);
}

/* ---------------------------------------------------------------------------------------- */
/* A write that fails, said in numbers */

/*
 * "No space left on device" or "File too large" alone does not tell a user how much room
 * is missing, nor that a limit of this process (ulimit -f) stopped the export rather than
 * the disk. So what the file needs and what its file system had free are taken before
 * writing (afterwards, the part written has taken the space), and a failure says them.
 */
typedef struct target {
    uint64_t bytes;          /* to write */
    int at_least;            /* FITS: data and one header block; the header may be more */
    uint64_t start;          /* a stream's size or position, where the writing starts */
    int have_free;           /* free and mount were measured */
    unsigned long long free; /* bytes this process could take there */
    char mount[PATH_MAX];    /* the file system's mount point ("" if not found) */
    int hugetlbfs;           /* the file is on hugetlbfs, which takes no write() */
} target;

/* The mount point of the file system that holds directory @p dir: the highest directory
 * above it on the same device. "" if it cannot be told. */
static void mount_point(const char *dir, char *buf, size_t size)
{
    char cur[PATH_MAX];
    struct stat st, up;
    buf[0] = '\0';
    if (!realpath(dir, cur) || stat(cur, &st) < 0)
        return;
    while (strcmp(cur, "/") != 0) {
        /* Cut to the parent, "/a" of "/a/b" or "/" of "/a"; put back if it is another. */
        char *slash = strrchr(cur, '/');
        char *cut = slash == cur ? slash + 1 : slash;
        char was = *cut;
        *cut = '\0';
        if (stat(cur, &up) < 0 || up.st_dev != st.st_dev) {
            *cut = was;
            break;
        }
    }
    snprintf(buf, size, "%s", cur);
}

/*
 * Take the measures of @p t for @p bytes (at least, for FITS) written to @p fd (a stream,
 * or the unnamed file: -1 for the hidden directory's file), whose file system holds
 * directory @p dir (NULL: the stream's own, when it is a regular file).
 */
static void target_measure(target *t, uint64_t bytes, int at_least, int fd, const char *dir)
{
    memset(t, 0, sizeof *t);
    t->bytes = bytes;
    t->at_least = at_least;
    char where[PATH_MAX];
    struct stat st;
    if (!dir) {
        /* A stream: only a regular file fills up, from where it stands now. */
        char proc[32];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t r = readlink(proc, where, sizeof where - 1);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || r <= 0 || where[0] != '/')
            return;
        where[r] = '\0';
        *strrchr(where, '/') = '\0';
        if (!where[0])
            snprintf(where, sizeof where, "/");
        int fl = fcntl(fd, F_GETFL);
        off_t pos = lseek(fd, 0, SEEK_CUR);
        t->start = fl >= 0 && (fl & O_APPEND) ? (uint64_t)st.st_size
                   : pos > 0                  ? (uint64_t)pos
                                              : 0;
        dir = where;
    }
    struct statfs fs;
    t->hugetlbfs = (fd >= 0 ? fstatfs(fd, &fs) : statfs(dir, &fs)) == 0 &&
                   (unsigned long)fs.f_type == (unsigned long)HUGETLBFS_MAGIC;
    struct statvfs vfs;
    if ((fd >= 0 ? fstatvfs(fd, &vfs) : statvfs(dir, &vfs)) < 0)
        return;
    fsblkcnt_t blocks = geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
    t->free = (unsigned long long)blocks * vfs.f_frsize;
    t->have_free = 1;
    mount_point(dir, t->mount, sizeof t->mount);
}

/* Report the failed write of @p path, errno @p e, with the measures of @p t. */
static int fail_write(const char *path, int e, const target *t)
{
    char need[160];
    int n = snprintf(need, sizeof need, "%s%" PRIu64 " %s to write", t->at_least ? "at least " : "",
                     t->bytes, cli_plural(t->bytes, "byte", "bytes"));
    if (t->start > 0)
        snprintf(need + n, sizeof need - (size_t)n, " after the %" PRIu64 " already in it",
                 t->start);
    struct rlimit rl;
    if (e == EFBIG && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        return cli_fail(path, "exceeds this process's file size limit (ulimit -f) of %llu "
                              "bytes: %s", (unsigned long long)rl.rlim_cur, need);
    if (e == ENOSPC && t->have_free)
        return cli_fail(path, "%s: %s, %llu %s free%s%s%s", strerror(e), need, t->free,
                        cli_plural(t->free, "byte", "bytes"), t->mount[0] ? " in " : "",
                        t->mount, t->free >= t->bytes
                                      ? " (it filled up while the file was written)" : "");
    if (e == EINVAL && t->hugetlbfs)
        return cli_fail(path, "%s: hugetlbfs takes no write(), only mappings: export to a "
                              "file on another file system", strerror(e));
    return cli_fail(path, "%s", strerror(e));
}

/* ---------------------------------------------------------------------------------------- */

/* Write the file: to @p stream when FILE is one (>= 0), else to the unnamed file or as the
 * hidden directory's file (make_tmp()). */
static int write_native(int format, const char *path, int stream, const shmap_info *info,
                        const cli_layout *layout, const snapshot *s)
{
    char err[512], dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    const char *in = stream >= 0 ? NULL : dirname(dir);
    target t;
    if (format == FMT_FITS) {
        /* The data in whole blocks of 2880 bytes, after one header block at least. */
        uint64_t blocks = info->data_size / 2880 + (info->data_size % 2880 != 0);
        target_measure(&t, (blocks + 1) * 2880, 1, stream >= 0 ? stream : tmp_fd, in);
        int rc;
        if (stream >= 0)
            rc = cli_fits_write(NULL, stream, info, s->data, s->kw, s->nkw, err, sizeof err);
        else if (tmp_fd >= 0)
            rc = cli_fits_write_fd(tmp_fd, info, s->data, s->kw, s->nkw, err, sizeof err);
        else
            rc = cli_fits_write(tmp_file, -1, info, s->data, s->kw, s->nkw, err, sizeof err);
        if (rc == 0 && tmp_fd < 0 && stream < 0) {
            /* CFITSIO made this one, with 0666 less the umask: narrowed as open() would
             * have made it (where the file system keeps no modes, it stays as it is). */
            mode_t mask = umask(0);
            umask(mask);
            if (chmod(tmp_file, file_mode & ~mask) < 0 && errno != EPERM && errno != ENOTSUP)
                return cli_fail(path, "cannot set the file's permissions: %s", strerror(errno));
        }
        if (rc < 0 && (errno == EFBIG || errno == ENOSPC))
            return fail_write(path, errno, &t);
        return rc < 0 ? cli_fail(path, "%s", err) : 0;
    }
    char *header = NULL;
    size_t hlen = 0;
    if (format == FMT_NPY &&
        cli_npy_make_header(layout, info->ndim, info->dims, &header, &hlen, err, sizeof err) < 0)
        return cli_fail(path, "%s", err);
    int fd = stream >= 0 ? stream : tmp_fd, opened = fd < 0;
    if (opened)
        fd = open(tmp_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
    int status = 0;
    if (fd >= 0)
        target_measure(&t, hlen + info->data_size, 0, fd, in);
    if (fd < 0)
        status = cli_fail(path, "%s", strerror(errno));
    else if (cli_write_all(fd, header, hlen) < 0 ||
             cli_write_all(fd, s->data, (size_t)info->data_size) < 0)
        status = fail_write(path, errno, &t);
    if (opened && fd >= 0 && close(fd) < 0 && status == 0)
        status = fail_write(path, errno, &t);
    free(header);
    return status;
}

/* As write_native(), for any array: a raw array in the other byte order (--dtype '>f4'
 * here) is written from a copy in this machine's order, as every format is written. */
static int write_file(int format, const char *path, int stream, const shmap_info *info,
                      const cli_layout *layout, const snapshot *s)
{
    if (!layout->swapped)
        return write_native(format, path, stream, info, layout, s);
    unsigned char *native = malloc(info->data_size ? (size_t)info->data_size : 1);
    if (!native)
        return cli_fail(path, "out of memory for a copy of %" PRIu64 " bytes in this "
                              "machine's byte order", info->data_size);
    cli_value_native(layout, s->data, native, info->nelem);
    cli_layout l = *layout;
    l.swapped = 0;
    snapshot n = *s;
    n.data = native;
    int status = write_native(format, path, stream, info, &l, &n);
    free(native);
    return status;
}

/*
 * The descriptor FILE names, if it names one: /dev/stdout, /dev/stderr, /dev/fd/N,
 * /proc/self/fd/N, /proc/PID/fd/N, or a symbolic link that leads to one of those. Linux
 * shows each descriptor as a link to its open file ("/tmp/out.npy", "pipe:[81]"), which
 * stat() follows: /dev/stdout redirected to a regular file looks like that file, and
 * replacing it would replace the link in /dev (or /proc refuse it). So FILE's links are
 * followed one at a time, each directory resolved by realpath(), until a name lands in a
 * /proc/PID/fd directory (or /proc/PID/task/TID/fd). 1 with *pid and *fd set, else 0.
 * A number with a leading zero (/dev/fd/01) names no descriptor: the kernel has no such
 * entry, and the name is taken for a file (which /proc then refuses).
 */
static int descriptor_of(const char *path, long *pid, int *fd)
{
    char cur[PATH_MAX], dir[PATH_MAX], real[PATH_MAX], link[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
        return 0;
    for (int hops = 0; hops < 40; hops++) { /* as many as the kernel follows (ELOOP) */
        char *slash = strrchr(cur, '/');
        const char *base = slash ? slash + 1 : cur;
        if (!*base)
            return 0;
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else if (slash == cur)
            snprintf(dir, sizeof dir, "/");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - cur), cur);
        if (!realpath(dir, real))
            return 0;
        long p = 0, t = 0;
        int end = 0, len = (int)strlen(real);
        size_t digits = strspn(base, "0123456789");
        if (((sscanf(real, "/proc/%ld/fd%n", &p, &end) == 1 && end == len) ||
             (sscanf(real, "/proc/%ld/task/%ld/fd%n", &p, &t, &end) == 2 && end == len)) &&
            digits > 0 && digits < 10 && !base[digits] && (digits == 1 || base[0] != '0')) {
            *pid = p;
            *fd = atoi(base);
            return 1;
        }
        char joined[PATH_MAX * 2 + 2];
        snprintf(joined, sizeof joined, "%s/%s", strcmp(real, "/") ? real : "", base);
        ssize_t r = readlink(joined, link, sizeof link - 1);
        if (r < 0)
            return 0; /* not a link, or nothing there: a file to make or replace */
        link[r] = '\0';
        int w = link[0] == '/' ? snprintf(cur, sizeof cur, "%s", link)
                               : snprintf(cur, sizeof cur, "%s/%s", real, link);
        if (w >= (int)sizeof cur)
            return 0;
    }
    return 0;
}

/*
 * This process's number in the /proc that is mounted: getpid() is its number in its own
 * pid namespace, which differs when /proc belongs to another (unshare -p without
 * --mount-proc, a sandbox that binds the host's /proc). -1 if /proc says nothing.
 */
static long proc_self(void)
{
    char link[32];
    ssize_t r = readlink("/proc/self", link, sizeof link - 1);
    if (r <= 0)
        return -1;
    link[r] = '\0';
    char *end;
    long pid = strtol(link, &end, 10);
    return *end || pid <= 0 ? -1 : pid;
}

/*
 * Standard output or another descriptor of this process that FILE names (- or
 * descriptor_of()): a copy of it, written to as the data written to standard output is
 * (where the shell's redirection put it, O_APPEND and all). *fd gets it; 0, or
 * CLI_EXIT_FAIL.
 */
static int dup_descriptor(const char *path, int n, int *fd)
{
    char what[48];
    if (n == 1)
        snprintf(what, sizeof what, "standard output");
    else if (n == 2)
        snprintf(what, sizeof what, "standard error");
    else
        snprintf(what, sizeof what, "descriptor %d", n);
    int fl = fcntl(n, F_GETFL);
    if (fl < 0 && errno == EBADF)
        return cli_fail(path, "%s is not open", what);
    if (fl < 0)
        return cli_fail(path, "%s: %s", what, strerror(errno));
    if ((fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH))
        return cli_fail(path, "%s is open for reading only", what);
    *fd = fcntl(n, F_DUPFD_CLOEXEC, 0);
    if (*fd < 0)
        return cli_fail(path, "%s: %s", what, strerror(errno));
    return 0;
}

/*
 * A FILE that is a stream rather than a file to replace, written straight, with no hidden
 * file and no --force, as a shell redirection would:
 *   - "-" (standard output), and a FILE that names a descriptor of this process
 *     (/dev/stdout, /dev/fd/3: descriptor_of()), whatever it leads to (a regular file, a
 *     pipe, a socket): written through a copy of the descriptor;
 *   - a FILE that names another process's descriptor (/proc/PID/fd/N), or that is or leads
 *     to a character device or a FIFO (/dev/null, `>(gzip > x.gz)`): opened for writing.
 *     A FIFO is opened without waiting for a reader: with none, the export fails at once
 *     instead of hanging. A regular file behind another process's descriptor is an
 *     existing file, written over only with --force, as one given by its name; it is
 *     opened without O_TRUNC and *empty set, to be emptied only once the data is in hand
 *     (export() also refuses it if it is the segment's own object): an export that fails
 *     leaves it as it was.
 * Refused: a terminal (binary data), a block device (a disk: never written over by
 * accident), and a socket that is not a descriptor of ours, which Linux cannot open.
 * *fd gets the descriptor, or -1 when FILE is a file to make or replace; 0, or
 * CLI_EXIT_FAIL.
 */
static int open_stream(const char *path, int force, int *fd, int *empty)
{
    *fd = -1;
    *empty = 0;
    struct stat st;
    long pid = 0;
    int n = -1;
    int std_out = strcmp(path, "-") == 0;
    int ours = 0, theirs = 0;
    if (!std_out && descriptor_of(path, &pid, &n)) {
        ours = pid == proc_self();
        theirs = !ours;
    }
    int found = !std_out && !ours && stat(path, &st) == 0;
    if (std_out || ours) {
        if (dup_descriptor(path, std_out ? 1 : n, fd) != 0)
            return CLI_EXIT_FAIL;
    } else if (theirs && !found) {
        return cli_fail(path, "%s", strerror(errno));
    } else if (found && S_ISBLK(st.st_mode)) {
        return cli_fail(path, "is a block device: export writes no disk");
    } else if (found && S_ISSOCK(st.st_mode)) {
        return cli_fail(path, "is a socket, which cannot be opened: give - and redirect "
                              "standard output to it");
    } else if (found && theirs && S_ISDIR(st.st_mode)) {
        return cli_fail(path, "is a directory");
    } else if (found && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || theirs)) {
        if (S_ISREG(st.st_mode) && !force)
            return cli_fail(path, "is an existing file (another process's descriptor): give "
                                  "--force to write over it");
        *empty = S_ISREG(st.st_mode);
        *fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (*fd < 0 && errno == ENXIO && S_ISFIFO(st.st_mode))
            return cli_fail(path, "no process reads this FIFO: start the reader first");
        if (*fd < 0)
            return cli_fail(path, "%s", strerror(errno));
        int fl = fcntl(*fd, F_GETFL);
        if (fl >= 0)
            fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    } else {
        return 0;
    }
    if (fstat(*fd, &st) == 0 && S_ISBLK(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return cli_fail(path, "is a block device: export writes no disk");
    }
    if (isatty(*fd)) {
        close(*fd);
        *fd = -1;
        return cli_fail(path, "is a terminal: redirect the data to a file or a pipe");
    }
    return 0;
}

/*
 * /dev and /proc hold the system's names, not files: a file made or replaced there would
 * take the place of a device or a link (/dev/stdout in a container that lacks it, say),
 * and every later use of that name would reach the file. Refused: 0, or CLI_EXIT_FAIL.
 */
static int system_dir(const char *path)
{
    char copy[PATH_MAX], real[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy ||
        !realpath(dirname(copy), real))
        return 0; /* said when the file is made */
    if (strcmp(real, "/dev") != 0 && strcmp(real, "/proc") != 0 &&
        strncmp(real, "/proc/", 6) != 0)
        return 0;
    return cli_fail(path, "export makes no file in %s, where names stand for devices and "
                          "descriptors: give - for standard output", real);
}

/*
 * Is the file @p st describes the object mapped at @p addr (a segment's, by any store)?
 * /proc/self/maps names each mapping's device and inode, for a hidden or deleted object
 * too. 0 if not, or if it cannot be told.
 */
static int same_object(const struct stat *st, const void *addr)
{
    FILE *maps;
    if (!addr || !S_ISREG(st->st_mode) || !(maps = fopen("/proc/self/maps", "re")))
        return 0;
    char line[PATH_MAX + 128];
    int same = 0;
    uintptr_t a = (uintptr_t)addr;
    while (!same && fgets(line, sizeof line, maps)) {
        unsigned long long lo, hi, ino;
        unsigned int major, minor;
        if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu", &lo, &hi, &major, &minor, &ino) == 5 &&
            a >= lo && a < hi)
            same = makedev(major, minor) == st->st_dev && ino == (unsigned long long)st->st_ino;
        if (!strchr(line, '\n')) { /* a line longer than the buffer: skip the rest */
            int c;
            while ((c = fgetc(maps)) != EOF && c != '\n')
                ;
        }
    }
    fclose(maps);
    return same;
}

static int export(const char *name, const char *path, int format, int force, double timeout,
                  const cli_raw *raw)
{
    int fd, empty;
    if (open_stream(path, force, &fd, &empty) != 0)
        return CLI_EXIT_FAIL;
    /* A file is replaced, never written through: a symbolic link is FILE itself, replaced
     * (with --force) by the new file, whatever it points to. */
    if (fd < 0 && system_dir(path) != 0)
        return CLI_EXIT_FAIL;
    struct stat st;
    int exists = fd < 0 && lstat(path, &st) == 0;
    if (exists) {
        if (S_ISDIR(st.st_mode))
            return cli_fail(path, "is a directory");
        if (!force)
            return cli_fail(path, "exists: give --force to replace it");
    }
    shmap_seg *seg;
    shmap_info info;
    cli_layout layout;
    int opened = cli_open("export", name, SHMAP_RDONLY, raw, &seg, &info, &layout);
    if (opened != 0) {
        if (fd >= 0)
            close(fd);
        return opened;
    }
    /* The FITS writer's warnings name the segment by info.name: as the user wrote it, as
     * every other line of the command does ("shm://frames", not the canonical "frames"). */
    snprintf(info.name, sizeof info.name, "%s", name);
    file_mode = (mode_t)(info.mode & 0666);
    char err[256];
    int status = CLI_EXIT_OK;
    /* Written over through a descriptor, or replaced by name (--force): either way the
     * segment would lose its data, or its name, to its own copy. */
    if (fd >= 0 && fstat(fd, &st) == 0 && same_object(&st, shmap_data(seg)))
        status = cli_fail(path, "is %s's own object: export would write over what it reads",
                          name);
    else if (exists && same_object(&st, shmap_data(seg)))
        status = cli_fail(path, "is %s's own object: export would replace the segment with "
                                "its copy", name);
    /* What FITS cannot hold is refused before anything is written. */
    if (format == FMT_FITS && cli_fits_check_type(info.dtype, err, sizeof err) < 0)
        status = cli_fail(name, "%s", err);
    snapshot s = {0};
    if (status == CLI_EXIT_OK)
        status = take_snapshot(name, seg, &info, raw->raw, timeout, &s);
    /* A described segment is written from its copy once it is let go: a signal or a
     * closed pipe that ends us while the file is written finds nothing of it held. */
    if (!raw->raw) {
        shmap_close(seg);
        seg = NULL;
        cli_end_signals_after_close();
    }
    if (status == CLI_EXIT_OK && fd >= 0 && empty && ftruncate(fd, 0) < 0)
        status = cli_fail(path, "%s", strerror(errno));
    if (status == CLI_EXIT_OK && fd >= 0) {
        status = write_file(format, path, fd, &info, &layout, &s);
    } else if (status == CLI_EXIT_OK && (status = make_tmp(path)) == CLI_EXIT_OK) {
        status = write_file(format, path, -1, &info, &layout, &s);
        if (status == CLI_EXIT_OK)
            status = commit_tmp(path, force);
        else
            remove_tmp();
    }
    if (fd >= 0 && close(fd) < 0 && status == CLI_EXIT_OK)
        status = cli_fail(path, "%s", strerror(errno));
    free(s.copy);
    free(s.kw);
    cli_layout_free(&layout);
    if (seg)
        shmap_close(seg);
    return status;
}

int cmd_export(int argc, char **argv)
{
    int opt, force = 0, format = -1;
    double timeout = -1;
    cli_raw raw = {0};
    cli_args a;
    cli_args_init(&a, "export", export_opts, argc, argv);
    while ((opt = cli_args_next(&a)) >= 0) {
        const char *o = export_opts[opt].name;
        if (cli_raw_option(&raw, o, a.value))
            continue;
        if (strcmp(o, "force") == 0) {
            force = 1;
        } else if (strcmp(o, "timeout") == 0) {
            if (cli_parse_timeout("export", a.value, &timeout) != 0)
                return CLI_EXIT_USAGE;
        } else {
            for (format = 2; format >= 0; format--)
                if (strcasecmp(a.value, format_names[format]) == 0)
                    break;
            if (format < 0)
                return cli_usage_error("export", "--format '%s': give npy, fits or raw",
                                       a.value);
        }
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos < 2)
        return cli_usage_error("export", "missing %s", a.npos == 0 ? "NAME" : "FILE");
    if (a.npos > 2)
        return cli_usage_error("export", "unexpected argument '%s'", a.argv[2]);
    if (cli_raw_check("export", &raw) != 0 || cli_check_names("export", a.argv, 1) != 0)
        return CLI_EXIT_USAGE;
    const char *name = a.argv[0], *path = a.argv[1];
    if (!*path)
        return cli_usage_error("export", "FILE is empty");
    int by_name = format < 0;
    if (by_name)
        format = format_of(path);
    if (format == FMT_FITS && !cli_fits_built)
        return cli_fail(path, "%s", cli_fits_missing);
    int status = export(name, path, format, force, timeout, &raw);
    if (status == CLI_EXIT_OK && by_name)
        compressed_name(path);
    return status;
}
