/*
 * shmap_list() and shmap_gc() when this process runs out of descriptors or memory. That is
 * no fault of the object at hand, and every object after it would fail alike: the whole
 * call fails with that code, and a detail naming the cause and the limit, where it used to
 * leave the objects out (an empty listing, "nothing to do"). A failure about one object
 * (another user's) stays that object's.
 *
 * The limits are real: a child lowers RLIMIT_NOFILE and takes every free descriptor but
 * the few the call is to have (leave_spare_fds()), or caps its address space (RLIMIT_AS)
 * below a System V segment, which is attached whole to be read: gc stops there, and the
 * listing takes that segment alone for its own affair. The address-space tests skip under
 * AddressSanitizer, which needs terabytes of it.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../util.h"

/* The descriptor limit the children set: low, and not one a default could be taken for. */
#define NOFILE 64

static int fillers[NOFILE];
static int nfillers;

/* In a child: lower the descriptor limit to NOFILE and take every free descriptor below it
 * but `spare`, so that the call that follows has exactly `spare` to open things with. */
static void leave_spare_fds(int spare)
{
    struct rlimit r = {NOFILE, NOFILE};
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0);
    int fd;
    nfillers = 0;
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fillers[nfillers++] = fd;
    CHECK_EQ_INT(errno, EMFILE);
    CHECK(nfillers >= spare);
    while (spare-- > 0)
        close(fillers[--nfillers]);
}

/* Give the descriptors back, so that a failed CHECK can still say why. */
static void release_fds(void)
{
    while (nfillers > 0)
        close(fillers[--nfillers]);
}

/* Run `body` in a child, which fails the test if it does. */
static void in_child(void (*body)(void))
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        body();
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
}

/* How many entries of a listing have a name starting with this test's prefix. */
static int listed_ours(const shmap_entry *list, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += strncmp(list[i].info.name, test_prefix(), strlen(test_prefix())) == 0;
    return k;
}

/* shmap_list(flags) with `spare` descriptors: must fail with `code` and a detail that
 * contains `what`, returning nothing. */
static void list_fails(int spare, unsigned flags, int code, const char *what)
{
    shmap_entry *list = (shmap_entry *)&list; /* not NULL: the call must clear it */
    size_t n = 99;
    leave_spare_fds(spare);
    int rc = shmap_list(&list, &n, flags);
    release_fds();
    CHECK_ERR(rc, code);
    CHECK(list == NULL && n == 0);
    CHECK_CONTAINS(shmap_last_error(), what);
}

static void list_out_of_fds(void)
{
    static const unsigned flags[] = {0, SHMAP_LIST_ALL, SHMAP_LIST_KEYWORDS,
                                     SHMAP_LIST_ALL | SHMAP_LIST_KEYWORDS};
    char limit[64];
    snprintf(limit, sizeof limit, " (this process's limit, ulimit -n, is %d)", NOFILE);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        /* /dev/shm opens, its objects do not. */
        list_fails(1, flags[i], -EMFILE, "too many open files: cannot open /dev/shm/");
        CHECK_CONTAINS(shmap_last_error(), limit);
        CHECK_CONTAINS(shmap_last_error(), " to list it");
        /* /dev/shm itself does not. */
        list_fails(0, flags[i], -EMFILE, "too many open files: cannot list /dev/shm (this");
    }
    /* One descriptor beside the directory's is all a listing needs. */
    shmap_entry *list;
    size_t n;
    leave_spare_fds(2);
    int rc = shmap_list(&list, &n, SHMAP_LIST_ALL | SHMAP_LIST_KEYWORDS);
    release_fds();
    CHECK_OK(rc);
    CHECK_EQ_INT(listed_ours(list, n), 3);
    shmap_list_free(list);
}

TEST(list_limits__out_of_descriptors_fails_the_listing_and_names_the_limit)
{
    const uint64_t d[1] = {8};
    util_make_kept(test_name("a"), SHMAP_F64, 1, d);
    util_make_kept(test_name("b"), SHMAP_U8, 1, d);
    util_make_kept(test_name("c"), SHMAP_I32, 1, d);
    in_child(list_out_of_fds);
    CHECK_OK(shmap_unlink(test_name("a")));
    CHECK_OK(shmap_unlink(test_name("b")));
    CHECK_OK(shmap_unlink(test_name("c")));
}

static const char *private_name;

static void list_as_nobody(void)
{
    util_become_nobody();
    shmap_entry *list;
    size_t n;
    /* Another user's object this user may not open is that object's affair: left out, or
     * listed with why. */
    CHECK_OK(shmap_list(&list, &n, 0));
    CHECK_EQ_INT(listed_ours(list, n), 0);
    shmap_list_free(list);
    CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
    int seen = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].info.name, private_name) == 0) {
            seen++;
            CHECK_EQ_INT(list[i].status, -EACCES);
            CHECK_STR(list[i].error, "permission denied to read it");
            CHECK_EQ_INT(list[i].info.mode, 0600);
        }
    CHECK_EQ_INT(seen, 1);
    shmap_list_free(list);
    /* Out of descriptors, the same object fails the listing: no open got as far as
     * asking whether this user may. */
    list_fails(1, SHMAP_LIST_ALL, -EMFILE, "too many open files: cannot open /dev/shm/");
}

TEST(list_limits__an_object_this_user_cannot_open_stays_its_own_entry)
{
    util_need_root();
    const uint64_t d[1] = {8};
    private_name = test_name("private");
    util_make_kept(private_name, SHMAP_U8, 1, d); /* 0600, root's */
    in_child(list_as_nobody);
    CHECK_OK(shmap_unlink(private_name));
}

/* ---------------------------------------------------------------------------------------- */
/* System V: no descriptor, but the address space */

/* A System V segment this large is attached whole to be read; the children leave this
 * process less address space than that. */
#define BIG_BYTES (96ull << 20)
#define HEADROOM_KB (32 * 1024ull)

static char sysv_name[64];

/* In a child: cap the address space above both what it uses now and BIG_BYTES, then take
 * all of it but HEADROOM_KB (less than BIG_BYTES): the segment is smaller than the limit,
 * and does not fit in what is left. */
static void cap_address_space(void)
{
    unsigned long long kb = util_vm_size_kb();
    unsigned long long cap = (kb > BIG_BYTES / 1024 ? kb : BIG_BYTES / 1024) + HEADROOM_KB;
    struct rlimit r = {cap * 1024, cap * 1024};
    CHECK(setrlimit(RLIMIT_AS, &r) == 0);
    size_t fill = (size_t)(cap - kb - HEADROOM_KB) * 1024;
    CHECK(fill == 0 || mmap(NULL, fill, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                            -1, 0) != MAP_FAILED);
}

static void sysv_out_of_address_space(void)
{
    /* No descriptor is needed for System V: a gc of its names alone is not stopped by the
     * descriptor limit, and finds the leftover. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    leave_spare_fds(1);
    int rc = shmap_gc(sysv_name, SHMAP_GC_DRY_RUN, util_gc_collect, &ev);
    release_fds();
    CHECK_OK(rc);
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].action, SHMAP_GC_REMOVED_TRANSIENT);
    CHECK_STR(ev.ev[0].name, sysv_name);

    cap_address_space();
    char what[160];
    snprintf(what, sizeof what, "out of memory: cannot attach %s (", sysv_name);
    for (int dry = 0; dry < 2; dry++) {
        memset(&ev, 0, sizeof ev);
        CHECK_ERR(shmap_gc(sysv_name, dry ? SHMAP_GC_DRY_RUN : 0, util_gc_collect, &ev),
                  -ENOMEM);
        CHECK_EQ_INT(ev.n, 0);
        CHECK_CONTAINS(shmap_last_error(), what);
        CHECK_CONTAINS(shmap_last_error(), "bytes) (this process's address-space limit, "
                                           "ulimit -v, is ");
    }
    /* The listing attaches every System V segment it describes: ours does not fit in what
     * is left, though it is smaller than the limit (nor, maybe, some other one first). This
     * process ran out, not the segment: the listing fails whole. (One larger than the
     * limit itself is listed apart: ls_gc_limits.c.) */
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_ERR(shmap_list(&list, &n, 0), -ENOMEM);
    CHECK(list == NULL && n == 0);
    CHECK_CONTAINS(shmap_last_error(), "out of memory: cannot attach sysv://");
    CHECK_CONTAINS(shmap_last_error(), " to list it (this process's address-space limit");
}

TEST(list_limits__a_system_v_segment_out_of_address_space_fails_listing_and_gc)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs more address space than a cap would leave");
#endif
    snprintf(sysv_name, sizeof sysv_name, "sysv://0x%08x", (unsigned)test_sysv_key());
    /* A transient segment whose creator has exited: gc's to remove. */
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {BIG_BYTES};
        _exit(shmap_create(&seg, sysv_name, SHMAP_U8, 1, dims, &opts) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(util_wait_unmapped(sysv_name)); /* the kernel counts its attach a moment longer */
    in_child(sysv_out_of_address_space);
    /* It is still there, for a gc with room to attach it. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(sysv_name, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].action, SHMAP_GC_REMOVED_TRANSIENT);
    CHECK_EQ_INT(ev.ev[0].status, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* gc */

static const char *transient_name;
static const char *gc_prefix;

/* shmap_gc(prefix, flags) with `spare` descriptors: must fail with -EMFILE and a detail
 * that contains `what`, having reported nothing. */
static void gc_fails(int spare, const char *prefix, unsigned flags, const char *what)
{
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    leave_spare_fds(spare);
    int rc = shmap_gc(prefix, flags, util_gc_collect, &ev);
    release_fds();
    CHECK_ERR(rc, -EMFILE);
    CHECK_EQ_INT(ev.n, 0);
    CHECK_CONTAINS(shmap_last_error(), what);
}

static void gc_out_of_fds(void)
{
    char limit[64];
    snprintf(limit, sizeof limit, " (this process's limit, ulimit -n, is %d)", NOFILE);
    for (int dry = 0; dry < 2; dry++) {
        unsigned flags = dry ? SHMAP_GC_DRY_RUN : 0;
        gc_fails(1, gc_prefix, flags, "too many open files: cannot open /dev/shm/");
        CHECK_CONTAINS(shmap_last_error(), limit);
        gc_fails(0, gc_prefix, flags, "too many open files: cannot list /dev/shm (this");
    }
    /* Without a prefix too (a dry run: the machine's other objects are not ours). */
    gc_fails(1, NULL, SHMAP_GC_DRY_RUN, "too many open files: cannot open /dev/shm/");
    /* The transient segment opens, but not again read-write to mark it: that must not be
     * taken for a segment this user may not write, which gc removes unmarked. */
    gc_fails(2, transient_name, 0, "too many open files: cannot open /dev/shm/");
    CHECK_CONTAINS(shmap_last_error(), transient_name);
}

TEST(gc_limits__out_of_descriptors_fails_the_gc_and_leaves_everything)
{
    gc_prefix = test_prefix();
    transient_name = test_name("transient");
    pid_t creator = util_make_by_dead_creator(transient_name, SHMAP_CREATE_TRANSIENT);
    /* The hidden leftover of a creation whose process died: a zombie until the end, so
     * that no other run's sweep of dead processes' leftovers takes it meanwhile. */
    pid_t hider = util_zombie_pid();
    char hidden[SHMAP_NAME_MAX + 64];
    snprintf(hidden, sizeof hidden, "/.shmap-tmp-%d-1-%s", (int)hider, test_name("hidden"));
    int fd = shm_open(hidden, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 8192) == 0);
    close(fd);
    CHECK_EQ_INT(util_count_hidden_of(hider), 1);
    in_child(gc_out_of_fds);
    CHECK(util_shm_exists(transient_name));
    CHECK_EQ_INT(util_count_hidden_of(hider), 1);
    /* Both were gc's to remove. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(gc_prefix, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 2);
    for (int i = 0; i < ev.n; i++) {
        CHECK_EQ_INT(ev.ev[i].status, 0);
        CHECK_EQ_INT(ev.ev[i].pid, ev.ev[i].action == SHMAP_GC_REMOVED_TMP ? hider : creator);
    }
    CHECK(!util_shm_exists(transient_name));
    CHECK_EQ_INT(util_count_hidden_of(hider), 0);
    CHECK_EQ_INT(test_wait(hider), 0);
}

static void gc_proc_as_nobody(void)
{
    util_become_nobody();
    /* With room, the segment is kept for root's processes, whose maps nobody cannot read:
     * that one object's affair, an event, and gc goes on. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(transient_name, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].status, -EBUSY);
    /* Two descriptors: the directory's and the segment's. The read-write open to mark it
     * finds none; in a dry run, which does not mark, the search of /proc finds none. */
    char open_fails[PATH_MAX + 64], search_fails[PATH_MAX + 64];
    snprintf(open_fails, sizeof open_fails, "too many open files: cannot open %s/",
             util_test_dir());
    snprintf(search_fails, sizeof search_fails,
             "too many open files: cannot search /proc for the users of %s/", util_test_dir());
    gc_fails(2, transient_name, 0, open_fails);
    gc_fails(2, transient_name, SHMAP_GC_DRY_RUN, search_fails);
    /* Three: /proc opens, a process's maps in it do not. */
    gc_fails(3, transient_name, 0, search_fails);
    CHECK_CONTAINS(shmap_last_error(), "/seen.shm");
}

TEST(gc_limits__out_of_descriptors_searching_proc_fails_rather_than_keeps)
{
    util_need_root();
    /* A file in a directory anyone may write (not sticky): nobody may remove root's file
     * there, but not ask for its lease, so only /proc can tell who maps it. */
    static char name[PATH_MAX];
    CHECK(chmod(util_test_dir(), 0777) == 0);
    snprintf(name, sizeof name, "file:%s", util_test_path("seen.shm"));
    transient_name = name;
    /* Root's transient segment, readable by all, whose creator has exited. */
    pid_t pid = util_spawn();
    if (pid == 0) {
        umask(0);
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_TRANSIENT;
        opts.mode = 0644;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        _exit(shmap_create(&seg, transient_name, SHMAP_U8, 1, dims, &opts) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    in_child(gc_proc_as_nobody);
    CHECK(access(transient_name + 5, F_OK) == 0);
    CHECK_OK(shmap_unlink(transient_name));
}

static char files_prefix[256];

static void gc_files_out_of_fds(void)
{
    char what[320];
    snprintf(what, sizeof what, "too many open files: cannot open %s", files_prefix + 5);
    gc_fails(1, files_prefix, 0, what);
    gc_fails(1, files_prefix, SHMAP_GC_DRY_RUN, what);
    snprintf(what, sizeof what, "too many open files: cannot list %.*s (this",
             (int)strlen(files_prefix + 5) - 1, files_prefix + 5);
    gc_fails(0, files_prefix, 0, what);
}

TEST(gc_limits__files_out_of_descriptors_fails_the_gc)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[320];
    snprintf(name, sizeof name, "file:%s/frames.shm", dir);
    pid_t hider = util_make_by_dead_creator(name, SHMAP_CREATE_HIDDEN);
    snprintf(files_prefix, sizeof files_prefix, "file:%s/", dir);
    in_child(gc_files_out_of_fds);
    /* The leftover is still there, for a gc with room. */
    struct util_gc_events ev;
    memset(&ev, 0, sizeof ev);
    CHECK_OK(shmap_gc(files_prefix, 0, util_gc_collect, &ev));
    CHECK_EQ_INT(ev.n, 1);
    CHECK_EQ_INT(ev.ev[0].action, SHMAP_GC_REMOVED_TMP);
    CHECK_EQ_INT(ev.ev[0].pid, hider);
    CHECK_EQ_INT(ev.ev[0].status, 0);
    CHECK_EQ_INT(util_dir_entries(dir), 0);
}

/* ---------------------------------------------------------------------------------------- */
/* One segment's calls out of descriptors: their details named neither limit ("too many
 * open files", "cannot create shared memory: Too many open files"). */

static const char *fd_names[3]; /* an existing POSIX segment, a new one, a new file: one */

static void one_call_out_of_fds(void)
{
    char limit[64];
    snprintf(limit, sizeof limit, " (this process's limit, ulimit -n, is %d)", NOFILE);
    const uint64_t dims[1] = {8};
    shmap_seg *seg = NULL, *held = NULL;
    char path[SHMAP_NAME_MAX + 16], unique[SHMAP_NAME_MAX];
    snprintf(path, sizeof path, "/dev/shm/%s", fd_names[0]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_OK(shmap_open(&held, fd_names[0], SHMAP_RDONLY));
    shmap_mapper *mappers = NULL;
    int unseen = 0;
    int rc[9];
    char detail[9][512];
    leave_spare_fds(0);
    rc[0] = shmap_open(&seg, fd_names[0], SHMAP_RDONLY);
    snprintf(detail[0], sizeof detail[0], "%s", shmap_last_error());
    rc[1] = shmap_create(&seg, fd_names[1], SHMAP_U8, 1, dims, NULL);
    snprintf(detail[1], sizeof detail[1], "%s", shmap_last_error());
    rc[2] = shmap_create(&seg, fd_names[2], SHMAP_U8, 1, dims, NULL);
    snprintf(detail[2], sizeof detail[2], "%s", shmap_last_error());
    rc[3] = shmap_create(&seg, "memfd:fds", SHMAP_U8, 1, dims, NULL);
    snprintf(detail[3], sizeof detail[3], "%s", shmap_last_error());
    rc[4] = shmap_chmod(fd_names[0], 0644);
    snprintf(detail[4], sizeof detail[4], "%s", shmap_last_error());
    rc[5] = shmap_delete(fd_names[0], 0, 0);
    snprintf(detail[5], sizeof detail[5], "%s", shmap_last_error());
    rc[6] = shmap_name_unique(unique, sizeof unique, test_prefix());
    snprintf(detail[6], sizeof detail[6], "%s", shmap_last_error());
    rc[7] = shmap_open_fd(&seg, fd, SHMAP_RDONLY);
    snprintf(detail[7], sizeof detail[7], "%s", shmap_last_error());
    rc[8] = shmap_mapped_by(held, &mappers, &unseen);
    snprintf(detail[8], sizeof detail[8], "%s", shmap_last_error());
    release_fds();
    close(fd);
    CHECK_OK(shmap_close(held));
    for (int i = 0; i < 9; i++) {
        CHECK_ERR(rc[i], -EMFILE);
        CHECK_CONTAINS(detail[i], limit);
    }
    CHECK(!util_shm_exists(fd_names[1]));
}

TEST(limits__one_segments_calls_out_of_descriptors_name_the_limit)
{
    fd_names[0] = test_name("fds");
    fd_names[1] = test_name("fds-new");
    char file[PATH_MAX];
    snprintf(file, sizeof file, "file:%s", util_test_path("fds.shm"));
    fd_names[2] = file;
    util_make_kept(fd_names[0], SHMAP_U8, 1, (const uint64_t[]){8});
    in_child(one_call_out_of_fds);
    CHECK_EQ_INT(util_dir_entries(util_test_dir()), 0);
    CHECK_OK(shmap_unlink(fd_names[0]));
}

/* ---------------------------------------------------------------------------------------- */
/* A delete that cannot attach a System V segment (out of address space) by a user who may
 * not remove it anyway: told who may, as without the limit, not to use force. */

static const char *theirs_name;

static void nobody_deletes_theirs_out_of_address_space(void)
{
    util_become_nobody();
    struct rlimit r = {40000 * 1024, 40000 * 1024};
    CHECK(setrlimit(RLIMIT_AS, &r) == 0);
    CHECK_ERR(shmap_delete(theirs_name, 0, 0), -EPERM);
    CHECK_CONTAINS(shmap_last_error(), ": permission denied to remove it: only its owner "
                                       "(uid 0) or root may");
}

TEST(list_limits__delete_out_of_address_space_by_one_who_may_not_remove_says_who_may)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs more address space than a cap would leave");
#endif
    util_need_root();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    theirs_name = name;
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.mode = 0666;
    mode_t old = umask(0);
    shmap_seg *seg = NULL;
    int rc = shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){BIG_BYTES}, &opts);
    umask(old);
    CHECK_OK(rc);
    CHECK_OK(shmap_close(seg));
    in_child(nobody_deletes_theirs_out_of_address_space);
    CHECK_OK(shmap_delete(name, 0, 0));
}
