/*
 * shmap_mapped_by() and the mapped_by lines of `shmap info`: a read-only open that never
 * locks writes nothing into the segment, so the attach table does not list it; info finds
 * it in /proc instead. Real processes hold the mappings: a reader of a POSIX segment, of a
 * System V one, a writer that the table lists already, and raw mappings of a plain file.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util.h"
#include "internal.h"

/* The entry of `pid` in a shmap_mapped_by() list, or NULL. */
static const shmap_mapper *find(const shmap_mapper *list, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (list[i].pid == pid)
            return &list[i];
    return NULL;
}

/* Is `pid` in the list of the segment `name` opened anew, and writable there? -1: absent. */
static int listed_as(const char *name, pid_t pid)
{
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_mapper *list = NULL;
    int unseen = -2;
    int n = shmap_mapped_by(seg, &list, &unseen);
    CHECK(n >= 0);
    CHECK(unseen >= -1);
    CHECK(n > 0 || list == NULL);
    const shmap_mapper *m = find(list, n, pid);
    int res = m ? m->writable : -1;
    if (m)
        CHECK(m->start == shmap__proc_start(pid));
    CHECK(find(list, n, getpid()) == NULL); /* never the caller */
    free(list);
    shmap_close(seg);
    return res;
}

/* Make a kept segment `name` (any store), look for mappers of it, and remove it. */
static void check_reader_found(const char *name)
{
    const uint64_t dims[1] = {16};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, dims, &opts));
    CHECK_OK(shmap_close(seg));
    pid_t reader = util_spawn_opener(name, SHMAP_RDONLY, 0);
    pid_t writer = util_spawn_opener(name, SHMAP_RDWR, 0);
    pid_t locker = util_spawn_opener(name, SHMAP_RDONLY, SHMAP_LOCK_SHARED);
    CHECK_EQ_INT(listed_as(name, reader), 0);
    CHECK_EQ_INT(listed_as(name, writer), -1); /* in the table: info lists it there */
    CHECK_EQ_INT(listed_as(name, locker), -1); /* a read-only handle that locked: likewise */

    char *out = NULL, *err = NULL, want[128];
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "mapped_by:       1 other process outside the attach table\n");
    snprintf(want, sizeof want, "\n  pid %-8d read-only\n", (int)reader);
    CHECK_CONTAINS(out, want);
    snprintf(want, sizeof want, "\n  pid %-8d alive shared 0  read-write\n", (int)writer);
    CHECK_CONTAINS(out, want);
    snprintf(want, sizeof want, "\n  pid %-8d alive shared 1  read-only\n", (int)locker);
    CHECK_CONTAINS(out, want);
    RUN(0, "info", name, "--json");
    snprintf(want, sizeof want, "\"mapped_by\": [{\"pid\": %d, \"start\": %llu, "
                                "\"writable\": false}],\n",
             (int)reader, (unsigned long long)shmap__proc_start(reader));
    CHECK_CONTAINS(out, want);
    CHECK_CONTAINS(out, "\"mapped_by_unseen\": ");
    RUN(0, "ls", "--json");
    CHECK_CONTAINS(out, "\"mapped_by\": null, \"mapped_by_unseen\": null");

    util_kill9(reader);
    CHECK_EQ_INT(listed_as(name, reader), -1);
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "mapped_by:       0 other processes\n");
    util_kill9(writer);
    util_kill9(locker);
    util_clear(&out, &err);
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

TEST(cli__info_finds_read_only_opens_that_the_attach_table_does_not_list)
{
    check_reader_found(test_name("mappedby"));
}

TEST(cli__info_finds_read_only_attachers_of_a_system_v_segment)
{
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%08x", (unsigned)test_sysv_key());
    check_reader_found(name);
}

/* A child that maps the file at `path` raw, read-only or read-write, and waits. */
static pid_t spawn_raw(const char *path, unsigned flags)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        const uint64_t n = 4096;
        shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
        opts.flags = flags;
        shmap_seg *seg = NULL;
        util_child_send(&c, shmap_open_raw(&seg, path, SHMAP_U8, 1, &n, &opts) < 0 ? 'E' : 'M');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'M');
    util_chan_close(&c);
    return pid;
}

TEST(api__mapped_by_lists_every_other_mapper_of_a_raw_object)
{
    char path[512], name[600];
    snprintf(path, sizeof path, "%s/raw-mapped", util_test_dir());
    snprintf(name, sizeof name, "file:%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK_OK(ftruncate(fd, 4096));
    close(fd);
    pid_t ro = spawn_raw(name, SHMAP_RDONLY), rw = spawn_raw(name, SHMAP_RDWR);
    pid_t cow = spawn_raw(name, SHMAP_PRIVATE);

    const uint64_t n = 4096;
    shmap_raw_opts opts = SHMAP_RAW_OPTS_INIT;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open_raw(&seg, name, SHMAP_U8, 1, &n, &opts));
    shmap_mapper *list = NULL;
    int n_found = shmap_mapped_by(seg, &list, NULL);
    CHECK_EQ_INT(n_found, 3);
    CHECK(find(list, n_found, ro) && !find(list, n_found, ro)->writable);
    CHECK(find(list, n_found, rw) && find(list, n_found, rw)->writable);
    CHECK(find(list, n_found, cow) && !find(list, n_found, cow)->writable); /* copy-on-write */
    free(list);
    shmap_close(seg);
    util_kill9(ro);
    util_kill9(rw);
    util_kill9(cow);
    CHECK_OK(unlink(path));
}

TEST(api__mapped_by_refuses_null_arguments)
{
    shmap_mapper *list = (shmap_mapper *)&list;
    int unseen = 5;
    CHECK_ERR(shmap_mapped_by(NULL, &list, &unseen), SHMAP_EINVAL);
    CHECK_EQ_INT(unseen, 0);
    const char *name = test_name("mappedbynull");
    const uint64_t dims[1] = {4};
    util_make_kept(name, SHMAP_U8, 1, dims);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    CHECK_ERR(shmap_mapped_by(seg, NULL, NULL), SHMAP_EINVAL);
    CHECK_EQ_INT(shmap_mapped_by(seg, &list, NULL), 0);
    CHECK(list == NULL);
    shmap_close(seg);
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

/*
 * The processes info cannot look into are not all other users': a process of the caller's
 * own user that is not dumpable (one that changed its ids, a container's pid 1) hides its
 * maps too, from everyone but root. As nobody, with such a process of nobody's own running,
 * the line counts them without saying whose they are, in the right number.
 */
TEST(cli__info_counts_the_processes_it_cannot_look_into_without_saying_whose)
{
    util_need_root();
    const char *name = test_name("unseen");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "4", "--mode", "0644");
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        close(p[0]);
        util_become_nobody();
        if (access(test_shmap_bin(), X_OK) != 0)
            _exit(77);
        pid_t hidden = fork();
        if (hidden == 0) {
            prctl(PR_SET_DUMPABLE, 0);
            for (;;)
                pause();
        }
        char *o = NULL;
        int rc = hidden > 0 ? test_cli(&o, NULL, NULL, "info", name, NULL) : 99;
        kill(hidden, SIGKILL);
        if (o && write(p[1], o, strlen(o)) < 0)
            _exit(98);
        _exit(rc);
    }
    close(p[1]);
    char buf[16384];
    util_read_to_end(p[0], buf, sizeof buf);
    int rc = test_wait(pid);
    RUN(0, "rm", name);
    util_clear(&out, &err);
    if (rc == 77)
        TEST_SKIP("nobody may not run %s", test_shmap_bin());
    CHECK_EQ_INT(rc, 0);
    CHECK(!strstr(buf, "other users"));
    const char *line = strstr(buf, "\n  (and maybe ");
    if (!line)
        test_fail(__FILE__, __LINE__, "no line of unseen processes in:\n%s", buf);
    int count = atoi(line + strlen("\n  (and maybe "));
    char want[128];
    snprintf(want, sizeof want, "\n  (and maybe %d process%s whose maps this user cannot "
                                "read)\n", count, count == 1 ? "" : "es");
    CHECK(count >= 1);
    CHECK_CONTAINS(buf, want);
}
