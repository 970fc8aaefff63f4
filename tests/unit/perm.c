/*
 * Changing who may use a segment: shmap_chmod(), shmap_chown() and shmap_perm_get() on
 * every store with a name (POSIX, System V, file), on segments and foreign objects; the
 * modes refused; names that hold a symbolic link or a FIFO, refused and never followed;
 * what another user can do after a change, and what a user who is not the owner is told.
 *
 * What the kernel says of an object is read here with stat(2) and shmctl(IPC_STAT), not
 * through the library. The tests that switch to the user nobody in a child need root and
 * skip otherwise. Names and keys are this test's: the runner removes what a failure leaves,
 * and files live in the test's directory, which its guard removes.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util.h"

#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

/* The three stores a name can pick, each made by make_segment(). */
enum store { POSIX, SYSV, FILE_STORE };
static const char *const store_names[] = {"posix", "sysv", "file"};

/* A name of this test on a store; each call gives a new one. */
static const char *name_on(enum store s, const char *suffix)
{
    static char buf[4][SHMAP_NAME_MAX];
    static int i;
    char *b = buf[i++ % 4];
    if (s == POSIX)
        snprintf(b, SHMAP_NAME_MAX, "%s", test_name(suffix));
    else if (s == SYSV)
        snprintf(b, SHMAP_NAME_MAX, "sysv://0x%08x", (unsigned)test_sysv_key());
    else
        snprintf(b, SHMAP_NAME_MAX, "file:%s/%s", util_test_dir(), suffix);
    return b;
}

/* A kept u8 segment of 8 elements, 0..7, with `mode` exactly (chmod'ed past the umask). */
static void make_segment(const char *name, unsigned mode)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    const uint64_t n = 8;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &n, &opts));
    unsigned char *d = shmap_data(seg);
    for (int i = 0; i < 8; i++)
        d[i] = (unsigned char)i;
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_chmod(name, mode));
}

/* Mode and owner as the kernel reports them: stat(2) of the file (not following a link),
 * or shmctl(IPC_STAT) of the System V segment. */
struct kperm {
    unsigned mode;
    uid_t uid;
    gid_t gid;
};

/* IPC_STAT of segment @p id, or, where its mode denies this user reading (an owner after
 * chmod 0), the entry `ipcs` reads (SHM_STAT_ANY, which needs no permission). */
static int stat_any(int id, struct shmid_ds *ds)
{
    if (shmctl(id, IPC_STAT, ds) == 0)
        return 0;
    struct shm_info info;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info);
    for (int i = 0; i <= max; i++)
        if (shmctl(i, SHM_STAT_ANY, ds) == id)
            return 0;
    return -1;
}

static struct kperm kernel_perm(const char *name)
{
    struct kperm k;
    if (strncmp(name, "sysv://0x", 9) == 0) {
        int id = shmget((key_t)strtoul(name + 9, NULL, 16), 0, 0);
        struct shmid_ds ds;
        CHECK(id >= 0 && stat_any(id, &ds) == 0);
        k.mode = ds.shm_perm.mode & 0777;
        k.uid = ds.shm_perm.uid;
        k.gid = ds.shm_perm.gid;
        return k;
    }
    char path[SHMAP_NAME_MAX + 16];
    if (strncmp(name, "file:", 5) == 0)
        snprintf(path, sizeof path, "%s", name + 5);
    else
        snprintf(path, sizeof path, "/dev/shm/%s", name);
    struct stat st;
    if (lstat(path, &st) < 0)
        test_fail(__FILE__, __LINE__, "lstat(%s): %s", path, strerror(errno));
    k.mode = st.st_mode & 07777;
    k.uid = st.st_uid;
    k.gid = st.st_gid;
    return k;
}

/* The segment, its mode and owner as the library describes them by name. */
static void check_stat_shows(const char *name, unsigned mode, uid_t uid, gid_t gid)
{
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    CHECK_EQ_INT(info.mode, mode);
    CHECK_EQ_INT(info.uid, uid);
    CHECK_EQ_INT(info.gid, gid);
    unsigned m = 0;
    uid_t u = 0;
    gid_t g = 0;
    CHECK_OK(shmap_perm_get(name, &m, &u, &g));
    CHECK_EQ_INT(m, mode);
    CHECK_EQ_INT(u, uid);
    CHECK_EQ_INT(g, gid);
}

TEST(perm__chmod_sets_the_mode_on_every_store)
{
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0600);
        static const unsigned modes[] = {0640, 0644, 0400, 0, 0777, 0600};
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
            CHECK_OK(shmap_chmod(name, modes[i]));
            struct kperm k = kernel_perm(name);
            if (k.mode != modes[i])
                test_fail(__FILE__, __LINE__, "%s store: mode 0%o after chmod 0%o",
                          store_names[s], k.mode, modes[i]);
            CHECK_EQ_INT(k.uid, geteuid()); /* the owner stays */
        }
        check_stat_shows(name, 0600, geteuid(), getegid());
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

TEST(perm__chmod_of_a_system_v_segment_by_id)
{
    const char *name = name_on(SYSV, NULL);
    make_segment(name, 0600);
    shmap_info info;
    CHECK_OK(shmap_stat(name, &info));
    char by_id[SHMAP_NAME_MAX + 16];
    snprintf(by_id, sizeof by_id, "sysv://id=%s", info.os_handle);
    CHECK_OK(shmap_chmod(by_id, 0604));
    CHECK_EQ_INT(kernel_perm(name).mode, 0604);
    check_stat_shows(by_id, 0604, geteuid(), getegid());
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

TEST(perm__chmod_refuses_set_id_sticky_and_other_bits)
{
    const char *name = test_name("seg");
    make_segment(name, 0640);
    static const unsigned bad[] = {04755, 01777, 02000, 04000, 01000, 010000, 0x7fffffffu,
                                   0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_ERR(shmap_chmod(name, bad[i]), SHMAP_EINVAL);
        CHECK_DETAIL_NAMES(name);
        CHECK_CONTAINS(shmap_last_error(), "0 to 0777");
    }
    CHECK_ERR(shmap_chmod(name, 04755), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "set-user-id, set-group-id and sticky bits");
    CHECK_EQ_INT(util_shm_mode(name), 0640); /* unchanged */
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

/*
 * A new segment gets permission bits only, as shmap_chmod() gives: a set-user-id,
 * set-group-id or sticky bit asked of shmap_create() (Python's create(mode=0o4777)) is
 * refused on every store, memfd included, and nothing is made.
 */
TEST(perm__create_refuses_set_id_sticky_and_other_bits_on_every_store)
{
    static const unsigned bad[] = {04777, 02777, 01777, 04000, 06600, 010000, 0x7fffffffu,
                                   0xffffffffu};
    const mode_t old_mask = umask(0);
    for (int s = 0; s <= 3; s++) {
        char name[SHMAP_NAME_MAX];
        snprintf(name, sizeof name, "%s", s < 3 ? name_on((enum store)s, "setid") : "memfd:");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
            opts.mode = bad[i];
            opts.flags = SHMAP_CREATE_KEEP;
            const uint64_t n = 8;
            shmap_seg *seg = (shmap_seg *)1;
            int rc = shmap_create(&seg, s < 3 ? name : NULL, SHMAP_U8, 1, &n, &opts);
            if (rc != SHMAP_EINVAL)
                test_fail(__FILE__, __LINE__, "%s: create with mode 0%o gave %s (%s)", name,
                          bad[i], shmap_errname(rc), shmap_last_error());
            CHECK(seg == NULL);
            CHECK_DETAIL_NAMES(s == SYSV ? name + strlen("sysv://") : name);
            CHECK_CONTAINS(shmap_last_error(), "0 to 0777");
            if ((bad[i] & ~07777u) == 0)
                CHECK_CONTAINS(shmap_last_error(), "set-user-id, set-group-id and sticky bits");
        }
        /* Nothing was made under the name. */
        if (s == POSIX)
            CHECK(!util_shm_exists(name));
        else if (s == SYSV)
            CHECK(!util_sysv_exists((key_t)strtoul(name + 9, NULL, 16)));
        else if (s == FILE_STORE)
            CHECK(access(name + 5, F_OK) < 0 && errno == ENOENT);
        if (s == 3)
            continue;
        /* The widest mode allowed is taken as given (the umask is 0 here). */
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.mode = 0777;
        opts.flags = SHMAP_CREATE_KEEP;
        const uint64_t n = 8;
        shmap_seg *seg = NULL;
        CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, &n, &opts));
        CHECK_OK(shmap_close(seg));
        CHECK_EQ_INT(kernel_perm(name).mode, 0777);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
    umask(old_mask);
}

TEST(perm__a_missing_object_is_enoent_on_every_store)
{
    const char *names[] = {test_name("none"), name_on(SYSV, NULL), "sysv://id=2147483646",
                           name_on(FILE_STORE, "none"), name_on(FILE_STORE, "nodir/none")};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        unsigned mode;
        CHECK_ERR(shmap_chmod(names[i], 0600), -ENOENT);
        CHECK_DETAIL_NAMES(names[i]);
        CHECK(strstr(shmap_last_error(), ": no such ") ||
              strstr(shmap_last_error(), ": no System V segment with id "));
        CHECK_ERR(shmap_chown(names[i], (uid_t)-1, getegid()), -ENOENT);
        CHECK_ERR(shmap_chown(names[i], (uid_t)-1, (gid_t)-1), -ENOENT);
        CHECK_ERR(shmap_perm_get(names[i], &mode, NULL, NULL), -ENOENT);
    }
}

TEST(perm__bad_names_and_memfd_names_are_refused)
{
    CHECK_ERR(shmap_chmod(NULL, 0600), SHMAP_EBADNAME);
    CHECK_ERR(shmap_chmod("", 0600), SHMAP_EBADNAME);
    CHECK_ERR(shmap_chown("a/b", 0, 0), SHMAP_EBADNAME);
    CHECK_ERR(shmap_perm_get("sysv://0", NULL, NULL, NULL), SHMAP_EBADNAME);
    CHECK_ERR(shmap_chmod("memfd:x", 0600), SHMAP_ESTORE);
    CHECK_CONTAINS(shmap_last_error(), "shmap_fd()");
}

TEST(perm__a_foreign_object_is_changed_and_left_as_it_was)
{
    const char *name = test_name("foreign");
    char bytes[100];
    memset(bytes, 'x', sizeof bytes);
    util_shm_write(name, bytes, sizeof bytes);
    CHECK_OK(shmap_chmod(name, 0640));
    CHECK_EQ_INT(util_shm_mode(name), 0640);
    unsigned mode;
    uid_t uid;
    CHECK_OK(shmap_perm_get(name, &mode, &uid, NULL));
    CHECK_EQ_INT(mode, 0640);
    CHECK_EQ_INT(uid, geteuid());
    /* Still not a segment, still its size. */
    shmap_info info;
    CHECK_ERR(shmap_stat(name, &info), SHMAP_EFORMAT);
    CHECK_EQ_INT(util_shm_size(name), (long long)sizeof bytes);
    util_shm_remove(name);
}

TEST(perm__a_symlink_or_fifo_at_the_name_is_refused_and_not_followed)
{
    /* A hang in open() would be a FIFO opened for reading: fail by SIGALRM, not the runner. */
    alarm(30);
    char target[512], link[512], fifo[512], shm_link[512];
    snprintf(target, sizeof target, "%s/target", util_test_dir());
    snprintf(link, sizeof link, "%s/link", util_test_dir());
    snprintf(fifo, sizeof fifo, "%s/fifo", util_test_dir());
    make_segment(name_on(FILE_STORE, "target"), 0600);
    CHECK(symlink(target, link) == 0);
    CHECK(mkfifo(fifo, 0600) == 0);
    /* A link in /dev/shm under a segment name, to another segment. */
    const char *seg = test_name("seg"), *seg_link = test_name("link");
    make_segment(seg, 0600);
    snprintf(shm_link, sizeof shm_link, "/dev/shm/%s", seg_link);
    CHECK(symlink(seg, shm_link) == 0);

    const char *names[3] = {name_on(FILE_STORE, "link"), name_on(FILE_STORE, "fifo"),
                            seg_link};
    const char *kinds[3] = {"symbolic link", "FIFO", "symbolic link"};
    for (int i = 0; i < 3; i++) {
        unsigned mode;
        CHECK_ERR(shmap_chmod(names[i], 0666), -EINVAL);
        CHECK_CONTAINS(shmap_last_error(), "not a regular file");
        CHECK_CONTAINS(shmap_last_error(), kinds[i]);
        CHECK_ERR(shmap_chown(names[i], geteuid(), getegid()), -EINVAL);
        CHECK_ERR(shmap_perm_get(names[i], &mode, NULL, NULL), -EINVAL);
    }
    /* Nothing reached the targets, and the links and the FIFO are as they were. */
    struct stat st;
    CHECK(stat(target, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_EQ_INT(util_shm_mode(seg), 0600);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0600);
    CHECK(unlink(shm_link) == 0);
    CHECK_OK(shmap_delete(seg, 0, SHMAP_DELETE_FORCE));
    alarm(0);
}

TEST(perm__handles_of_this_process_show_the_new_mode)
{
    const char *name = test_name("seg");
    make_segment(name, 0600);
    shmap_seg *rw, *ro;
    CHECK_OK(shmap_open(&rw, name, SHMAP_RDWR));
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_OK(shmap_chmod(name, 0640));
    shmap_info info;
    CHECK_OK(shmap_info_get(rw, &info));
    CHECK_EQ_INT(info.mode, 0640);
    CHECK_OK(shmap_info_get(ro, &info));
    CHECK_EQ_INT(info.mode, 0640);
    /* A change made elsewhere (another process, chmod(1)) shows once the segment is
     * opened again, in the handles already open too. */
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    CHECK(chmod(path, 0604) == 0);
    shmap_seg *again;
    CHECK_OK(shmap_open(&again, name, SHMAP_RDONLY));
    CHECK_OK(shmap_info_get(ro, &info));
    CHECK_EQ_INT(info.mode, 0604);
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(ro));
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

/* ---- as another user (root only) ---------------------------------------------------- */

/* Let nobody reach files in this test's directory (mkdtemp makes it 0700). */
static void open_test_dir(void)
{
    CHECK(chmod(util_test_dir(), 0711) == 0);
}

TEST(perm__chown_then_stat_shows_the_new_owner)
{
    util_need_root();
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0640);
        CHECK_OK(shmap_chown(name, UTIL_NOBODY, UTIL_NOBODY));
        struct kperm k = kernel_perm(name);
        CHECK_EQ_INT(k.uid, UTIL_NOBODY);
        CHECK_EQ_INT(k.gid, UTIL_NOBODY);
        CHECK_EQ_INT(k.mode, 0640);
        check_stat_shows(name, 0640, UTIL_NOBODY, UTIL_NOBODY);
        /* -1 keeps one of them; both -1 change nothing. */
        CHECK_OK(shmap_chown(name, (uid_t)-1, 0));
        check_stat_shows(name, 0640, UTIL_NOBODY, 0);
        CHECK_OK(shmap_chown(name, 0, (gid_t)-1));
        check_stat_shows(name, 0640, 0, 0);
        CHECK_OK(shmap_chown(name, (uid_t)-1, (gid_t)-1));
        check_stat_shows(name, 0640, 0, 0);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

TEST(perm__listing_shows_the_new_mode_and_owner)
{
    util_need_root();
    const char *names[2] = {name_on(POSIX, "seg"), name_on(SYSV, NULL)};
    for (int i = 0; i < 2; i++) {
        make_segment(names[i], 0600);
        CHECK_OK(shmap_chmod(names[i], 0604));
        CHECK_OK(shmap_chown(names[i], UTIL_NOBODY, UTIL_NOBODY));
    }
    shmap_entry *list = NULL;
    size_t n = 0;
    CHECK_OK(shmap_list(&list, &n, 0));
    int found = 0;
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < 2; i++)
            if (strcmp(list[k].info.name, names[i]) == 0) {
                CHECK_EQ_INT(list[k].info.mode, 0604);
                CHECK_EQ_INT(list[k].info.uid, UTIL_NOBODY);
                CHECK_EQ_INT(list[k].info.gid, UTIL_NOBODY);
                found++;
            }
    shmap_list_free(list);
    CHECK_EQ_INT(found, 2);
    for (int i = 0; i < 2; i++)
        CHECK_OK(shmap_delete(names[i], 0, SHMAP_DELETE_FORCE));
}

/* As nobody: the segment can be read, not written. */
static void nobody_reads(const char *name)
{
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const unsigned char *d = shmap_data(seg);
    CHECK(d[7] == 7);
    CHECK_OK(shmap_close(seg));
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDWR), -EACCES);
}

/* As nobody: the segment cannot even be read. */
static void nobody_is_kept_out(const char *name)
{
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -EACCES);
    CHECK_DETAIL_NAMES(name);
}

TEST(perm__after_chmod_644_another_user_attaches_read_only_and_after_600_cannot)
{
    util_need_root();
    open_test_dir();
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0600);
        util_as_nobody(nobody_is_kept_out, name);
        CHECK_OK(shmap_chmod(name, 0644));
        util_as_nobody(nobody_reads, name);
        CHECK_OK(shmap_chmod(name, 0600));
        util_as_nobody(nobody_is_kept_out, name);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

/* As nobody, of root's segment: every change is refused, saying who may make it. */
static void nobody_cannot_change(const char *name)
{
    CHECK_ERR(shmap_chmod(name, 0666), -EPERM);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "only its owner (uid 0)");
    CHECK_CONTAINS(shmap_last_error(), "or root may change its mode");
    CHECK_ERR(shmap_chown(name, UTIL_NOBODY, (gid_t)-1), -EPERM);
    CHECK_CONTAINS(shmap_last_error(), "permission denied");
    CHECK_CONTAINS(shmap_last_error(), "root");
    CHECK_ERR(shmap_chown(name, (uid_t)-1, UTIL_NOBODY), -EPERM);
    CHECK_CONTAINS(shmap_last_error(), "root");
    /* Reading the mode needs no permission on the object. */
    unsigned mode;
    uid_t uid;
    CHECK_OK(shmap_perm_get(name, &mode, &uid, NULL));
    CHECK_EQ_INT(mode, 0644);
    CHECK_EQ_INT(uid, 0);
}

TEST(perm__a_user_who_is_not_the_owner_cannot_chmod_and_is_told_who_may)
{
    util_need_root();
    open_test_dir();
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0644);
        util_as_nobody(nobody_cannot_change, name);
        struct kperm k = kernel_perm(name);
        CHECK_EQ_INT(k.mode, 0644);
        CHECK_EQ_INT(k.uid, 0);
        CHECK_EQ_INT(k.gid, 0);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

/* As nobody, owner of a mode 0000 segment: locked out, and able to let itself back in. */
static void owner_restores_mode(const char *name)
{
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), -EACCES);
    unsigned mode = 0777;
    CHECK_OK(shmap_perm_get(name, &mode, NULL, NULL));
    CHECK_EQ_INT(mode, 0);
    CHECK_OK(shmap_chmod(name, 0600));
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    CHECK(((const unsigned char *)shmap_data(seg))[3] == 3);
    CHECK_OK(shmap_close(seg));
}

TEST(perm__the_owner_of_a_mode_0000_segment_can_give_it_a_mode_back)
{
    util_need_root();
    open_test_dir();
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0);
        CHECK_OK(shmap_chown(name, UTIL_NOBODY, UTIL_NOBODY));
        util_as_nobody(owner_restores_mode, name);
        CHECK_EQ_INT(kernel_perm(name).mode, 0600);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

/* As nobody, of root's mode 0666 segment: it may take the lock, but not remove the name,
 * and is told so at once (no waiting for users first), with the code a forced removal
 * gives, and who may. Replacing it is refused the same way, before anything is made. */
static void nobody_may_not_remove(const char *name)
{
    bool sysv = strncmp(name, "sysv://", 7) == 0, file = strncmp(name, "file:", 5) == 0;
    int code = sysv ? -EPERM : -EACCES; /* file: its directory is root's, 0711 */
    const char *why = sysv   ? "permission denied to remove it: only its owner (uid 0) or root "
                               "may"
                      : file ? "permission denied to remove it: this user may not write its "
                               "directory"
                             : "permission denied to remove it: only its owner (uid 0) or root "
                               "may, /dev/shm being a sticky directory";
    double t0 = util_now_s();
    CHECK_ERR(shmap_delete(name, 10, 0), code);
    CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
    CHECK_CONTAINS(shmap_last_error(), why);
    CHECK_ERR(shmap_delete(name, 10, SHMAP_DELETE_FORCE), code);
    if (sysv)
        CHECK_CONTAINS(shmap_last_error(), why);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_REPLACE;
    const uint64_t n = 4;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U16, 1, &n, &opts), sysv || !file ? -EPERM : code);
    CHECK_CONTAINS(shmap_last_error(), sysv ? "permission denied to remove the existing segment"
                                            : "permission denied to replace it");
}

TEST(perm__a_user_who_may_not_remove_a_name_is_told_at_once_with_the_forced_code)
{
    util_need_root();
    open_test_dir();
    for (int s = POSIX; s <= FILE_STORE; s++) {
        const char *name = name_on((enum store)s, "seg");
        make_segment(name, 0666);
        pid_t reader = util_spawn_opener(name, SHMAP_RDONLY, SHMAP_LOCK_SHARED);
        util_as_nobody(nobody_may_not_remove, name);
        util_kill9(reader);
        shmap_info info;
        CHECK_OK(shmap_stat(name, &info));
        CHECK_EQ_INT(info.dtype, SHMAP_U8);
        CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    }
}

/* In a child: give up CAP_SYS_ADMIN from the effective set (root stays root). */
static void drop_sys_admin(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    CHECK(syscall(SYS_capget, &h, d) == 0);
    d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    CHECK(syscall(SYS_capset, &h, d) == 0);
}

TEST(perm__root_without_cap_sys_admin_is_refused_another_users_system_v_segment_at_once)
{
    /* IPC_RMID of a segment root neither owns nor created needs CAP_SYS_ADMIN, not uid 0:
     * without it root is told at once, as any other user is, rather than wait for the
     * segment's users only to be refused. */
    util_need_root();
    const char *name = name_on(SYSV, "seg");
    pid_t pid = util_spawn();
    if (pid == 0) {
        util_become_nobody();
        umask(0);
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        opts.mode = 0666;
        const uint64_t n = 8;
        shmap_seg *seg = NULL;
        _exit(shmap_create(&seg, name, SHMAP_U8, 1, &n, &opts) == 0 && shmap_close(seg) == 0
                  ? 0
                  : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    pid_t reader = util_spawn_opener(name, SHMAP_RDONLY, SHMAP_LOCK_SHARED);
    pid = util_spawn();
    if (pid == 0) {
        drop_sys_admin();
        double t0 = util_now_s();
        CHECK_ERR(shmap_delete(name, 10, 0), -EPERM);
        CHECK(util_now_s() - t0 < UTIL_PROMPT_S);
        CHECK_CONTAINS(shmap_last_error(), "permission denied to remove it: only its owner "
                                           "(uid 65534) or root may");
        _exit(0);
    }
    int status = test_wait(pid);
    util_kill9(reader);
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
    CHECK_EQ_INT(status, 0);
}
