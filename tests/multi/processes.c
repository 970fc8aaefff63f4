/*
 * Real processes: forked children that attach by name, exec'd programs, faults through a
 * read-only mapping, observers racing creators, creators killed mid-creation.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../util.h"

TEST(multi__a_forked_child_attaches_by_name_and_both_see_each_others_writes)
{
    const char *name = test_name("fork");
    int gofd;
    pid_t pid = util_spawn_waiting(&gofd);
    if (pid == 0) {
        /* The child: attach by name alone, check the parent's ramp, write its own. */
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDWR) < 0)
            _exit(10);
        shmap_info info;
        if (shmap_info_get(seg, &info) < 0 || info.dtype != SHMAP_F64 || info.ndim != 2 ||
            info.dims[0] != 10 || info.dims[1] != 100)
            _exit(11);
        double *v = shmap_data(seg);
        for (int i = 0; i < 1000; i++)
            if (v[i] != (double)i)
                _exit(12);
        for (int i = 0; i < 1000; i++)
            v[i] = -0.5 * i;
        if (shmap_publish(seg) < 0)
            _exit(13);
        shmap_close(seg);
        _exit(0);
    }
    const uint64_t dims[2] = {10, 100};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 2, dims, NULL));
    double *v = shmap_data(seg);
    for (int i = 0; i < 1000; i++)
        v[i] = i;
    util_go(gofd);
    CHECK_EQ_INT(test_wait(pid), 0);
    for (int i = 0; i < 1000; i++)
        CHECK(v[i] == -0.5 * i);
    CHECK_EQ_INT(shmap_generation(seg), 1);
    /* The child attached, not created: its close left the segment. */
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(multi__a_child_closing_an_inherited_handle_does_not_destroy_the_segment)
{
    const char *name = test_name("inh");
    const uint64_t dims[1] = {64};
    shmap_seg *seg = NULL, *dup = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, dims, NULL));
    CHECK_OK(shmap_dup(&dup, seg));
    ((int32_t *)shmap_data(seg))[0] = 11;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        ((int32_t *)shmap_data(seg))[1] = 22;
        shmap_unmap(dup);
        shmap_close(seg);
        _exit(util_shm_exists(name) ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(util_shm_exists(name));
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[1], 22);
    /* The parent's references are untouched by the child's. */
    CHECK_EQ_INT(util_mapping_refs(name, NULL), 2);
    CHECK_OK(shmap_close(dup));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(multi__a_child_that_asks_to_destroy_an_inherited_segment_does)
{
    const char *name = test_name("inhd");
    const uint64_t dims[1] = {64};
    shmap_seg *seg = NULL;
    shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
    keep.flags = SHMAP_CREATE_KEEP;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, dims, &keep));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        shmap_set_destroy(seg, 1);
        shmap_close(seg);
        _exit(util_shm_exists(name) ? 1 : 0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(!util_shm_exists(name));
    /* The parent's mapping still works. */
    ((int32_t *)shmap_data(seg))[63] = 5;
    CHECK_OK(shmap_close(seg));
}

/* A child about to fault: no core file, and the default action even under a sanitizer. */
static void no_core_default_segv(void)
{
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
}

TEST(multi__a_write_through_a_readonly_mapping_faults_in_the_child)
{
    const char *name = test_name("ro");
    const uint64_t dims[1] = {1024};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U32, 1, dims, NULL));
    ((uint32_t *)shmap_data(seg))[100] = 0xabcdef;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        no_core_default_segv();
        shmap_seg *ro = NULL;
        if (shmap_open(&ro, name, SHMAP_RDONLY) < 0 || shmap_writable(ro))
            _exit(10);
        volatile uint32_t *p = shmap_data(ro);
        if (p[100] != 0xabcdef)
            _exit(11);
        p[100] = 1; /* must fault */
        _exit(12);
    }
    CHECK_EQ_INT(test_wait(pid), 128 + SIGSEGV);
    CHECK_EQ_INT(((uint32_t *)shmap_data(seg))[100], 0xabcdef);
    CHECK_OK(shmap_close(seg));
}

TEST(multi__a_write_to_the_header_through_a_readonly_mapping_faults_too)
{
    const char *name = test_name("roh");
    const uint64_t dims[1] = {16};
    util_make_kept(name, SHMAP_U8, 1, dims);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        no_core_default_segv();
        shmap_seg *ro = NULL;
        if (shmap_open(&ro, name, SHMAP_RDONLY) < 0)
            _exit(10);
        volatile unsigned char *data = shmap_data(ro);
        data[-4096] = 0; /* the header page */
        _exit(12);
    }
    CHECK_EQ_INT(test_wait(pid), 128 + SIGSEGV);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_OK(shmap_unlink(name));
}

/* Is the object under `handle` either absent or complete? Returns a reason, or NULL. */
static const char *observe(const char *name, uint64_t want_size_min, int *seen)
{
    static char why[256];
    char handle[SHMAP_NAME_MAX + 2];
    snprintf(handle, sizeof handle, "/%s", name);
    int fd = shm_open(handle, O_RDONLY, 0);
    if (fd >= 0) {
        struct stat st;
        struct shmap__header h;
        if (fstat(fd, &st) < 0) {
            close(fd);
            return "fstat failed";
        }
        ssize_t n = pread(fd, &h, sizeof h, 0);
        close(fd);
        if ((uint64_t)st.st_size < want_size_min) {
            snprintf(why, sizeof why, "shm_open saw %lld bytes, expected at least %llu",
                     (long long)st.st_size, (unsigned long long)want_size_min);
            return why;
        }
        if (n != (ssize_t)sizeof h || memcmp(h.magic, SHMAP__MAGIC, SHMAP__MAGIC_LEN) != 0 ||
            h.checksum != util_header_checksum(&h) || h.state != SHMAP__STATE_READY)
            return "shm_open saw an incomplete header";
        (*seen)++;
    } else if (errno != ENOENT) {
        return "shm_open failed other than ENOENT";
    }
    shmap_seg *seg = NULL;
    int rc = shmap_open(&seg, name, SHMAP_RDONLY);
    if (rc == 0) {
        shmap_info info;
        shmap_info_get(seg, &info);
        shmap_close(seg);
        if (info.dtype != SHMAP_F32 || info.dims[0] != 1024 || info.dims[1] != 1024)
            return "shmap_open saw another shape";
        (*seen)++;
    } else if (rc != -ENOENT) {
        snprintf(why, sizeof why, "shmap_open: %s (%s)", shmap_errname(rc), shmap_last_error());
        return why;
    }
    shmap_info st;
    rc = shmap_stat(name, &st);
    if (rc != 0 && rc != -ENOENT) {
        snprintf(why, sizeof why, "shmap_stat: %s (%s)", shmap_errname(rc), shmap_last_error());
        return why;
    }
    return NULL;
}

TEST(multi__an_observer_never_sees_a_partial_segment_while_another_process_creates)
{
    const char *name = test_name("obs");
    const uint64_t want = 4096 + 4ull * 1024 * 1024;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        const uint64_t dims[2] = {1024, 1024};
        for (int i = 0; i < 150; i++) {
            shmap_seg *seg = NULL;
            if (shmap_create(&seg, name, SHMAP_F32, 2, dims, NULL) < 0)
                _exit(10);
            ((float *)shmap_data(seg))[0] = (float)i;
            if (shmap_close(seg) < 0)
                _exit(11);
        }
        _exit(0);
    }
    int seen = 0, rounds = 0;
    const char *why = NULL;
    for (;;) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        why = observe(name, want, &seen);
        rounds++;
        if (why || done == pid) {
            if (done != pid) {
                kill(pid, SIGKILL);
                test_wait(pid);
            } else {
                CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
            }
            break;
        }
    }
    if (why)
        test_fail(__FILE__, __LINE__, "after %d observations (%d complete): %s", rounds, seen, why);
    CHECK(!util_shm_exists(name));
}

TEST(multi__a_creator_killed_mid_creation_leaves_no_partial_segment_under_the_name)
{
    const char *name = test_name("kill");
    const uint64_t dims[2] = {1024, 1024}; /* 4 MiB: creation takes a while */
    for (int round = 0; round < 24; round++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            for (;;) {
                shmap_seg *seg = NULL;
                shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
                opts.flags = SHMAP_CREATE_REPLACE;
                if (shmap_create(&seg, name, SHMAP_F32, 2, dims, &opts) == 0)
                    shmap_close(seg);
            }
        }
        util_sleep_ms(1 + round % 8);
        CHECK(kill(pid, SIGKILL) == 0);
        /* Reaped only once its hidden leftover is removed (see util_zombie_pid()). */
        util_wait_zombie(pid);
        /* Under the name: nothing, or a complete segment (killed between rename and close). */
        shmap_info st;
        int rc = shmap_stat(name, &st);
        if (rc == 0) {
            CHECK_EQ_INT(st.dims[0], 1024);
            CHECK_EQ_INT(st.creator_pid, pid);
            CHECK(st.size >= 4096 + 4ull * 1024 * 1024);
            shmap_seg *seg = NULL;
            CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
            CHECK_OK(shmap_close(seg));
            util_shm_remove(name);
        } else if (rc != -ENOENT) {
            test_fail(__FILE__, __LINE__, "round %d: shmap_stat: %s (%s)", round, shmap_errname(rc),
                      shmap_last_error());
        }
        /* The dead creator's hidden leftover, if any, is not listed as a segment. */
        shmap_entry *list = NULL;
        size_t n = 0;
        CHECK_OK(shmap_list(&list, &n, SHMAP_LIST_ALL));
        for (size_t i = 0; i < n; i++)
            CHECK(strstr(list[i].info.name, ".shmap-") == NULL);
        shmap_list_free(list);
        util_remove_hidden_of(pid);
        CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
    }
}

TEST(multi__concurrent_exclusive_creators_in_processes_get_one_winner_each_time)
{
    const char *name = test_name("race");
    enum { N = 3, ROUNDS = 40 };
    int pipes[N][2];
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        CHECK(pipe(pipes[i]) == 0);
        fflush(NULL);
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            close(pipes[i][0]);
            const uint64_t dims[1] = {4096};
            shmap_create_opts keep = SHMAP_CREATE_OPTS_INIT;
            keep.flags = SHMAP_CREATE_KEEP;
            for (int r = 0; r < ROUNDS; r++) {
                char rn[SHMAP_NAME_MAX];
                snprintf(rn, sizeof rn, "%s-%d", name, r);
                shmap_seg *seg = NULL;
                int rc = shmap_create(&seg, rn, SHMAP_U8, 1, dims, &keep);
                char c = rc == 0 ? 'W' : rc == -EEXIST ? 'L' : 'E';
                if (rc == 0)
                    shmap_close(seg);
                if (write(pipes[i][1], &c, 1) != 1)
                    _exit(3);
            }
            _exit(0);
        }
        close(pipes[i][1]);
    }
    int wins[ROUNDS] = {0};
    for (int i = 0; i < N; i++) {
        for (int r = 0; r < ROUNDS; r++) {
            char c = 0;
            CHECK(read(pipes[i][0], &c, 1) == 1);
            CHECK(c == 'W' || c == 'L');
            wins[r] += c == 'W';
        }
        close(pipes[i][0]);
        CHECK_EQ_INT(test_wait(pids[i]), 0);
    }
    for (int r = 0; r < ROUNDS; r++) {
        char rn[SHMAP_NAME_MAX];
        snprintf(rn, sizeof rn, "%s-%d", name, r);
        CHECK_EQ_INT(wins[r], 1);
        CHECK(util_shm_exists(rn));
        CHECK_OK(shmap_unlink(rn));
    }
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(util_count_hidden_of(pids[i]), 0);
}

TEST(multi__an_exec_d_shmap_cat_prints_what_this_process_wrote)
{
    const char *name = test_name("cat");
    const uint64_t dims[1] = {10};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, dims, NULL));
    int32_t *v = shmap_data(seg);
    for (int i = 0; i < 10; i++)
        v[i] = i * 3 - 5;
    char *out = NULL, *err = NULL;
    int rc = test_cli(&out, &err, NULL, "cat", name, NULL);
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "shmap cat exited %d: %s", rc, err ? err : "");
    CHECK_STR(out, "-5 -2 1 4 7 10 13 16 19 22\n");
    free(out);
    free(err);
    /* The command attached without creating: the segment is still ours and still there. */
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(multi__an_exec_d_shmap_fill_writes_into_this_process_mapping)
{
    const char *name = test_name("fill");
    const uint64_t dims[2] = {4, 5};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 2, dims, NULL));
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "fill", name, "2.5", NULL), 0);
    const double *v = shmap_data(seg);
    for (int i = 0; i < 20; i++)
        CHECK(v[i] == 2.5);
    CHECK_EQ_INT(shmap_generation(seg), 1);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "fill", name, "ramp", NULL), 0);
    for (int i = 0; i < 20; i++)
        CHECK(v[i] == i);
    CHECK_EQ_INT(shmap_generation(seg), 2);
    CHECK_EQ_INT(test_cli(NULL, NULL, NULL, "set", name, "3", "4", "-1e300", NULL), 0);
    CHECK(v[19] == (double)-1e300); /* as a double, on x87 too */
    CHECK_EQ_INT(shmap_generation(seg), 3);
    CHECK_OK(shmap_close(seg));
}

TEST(multi__processes_racing_open_or_create_all_get_the_one_segment)
{
    const char *name = test_name("ooc");
    enum { N = 4 };
    int go_pipe[2], res[N][2];
    pid_t pids[N];
    CHECK(pipe(go_pipe) == 0);
    for (int i = 0; i < N; i++) {
        CHECK(pipe(res[i]) == 0);
        fflush(NULL);
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            close(go_pipe[1]);
            close(res[i][0]);
            if (read(go_pipe[0], &c, 1) != 0) /* released when the parent closes it */
                _exit(2);
            const uint64_t dims[2] = {64, 64};
            shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
            opts.flags = SHMAP_CREATE_OPEN | SHMAP_CREATE_KEEP;
            shmap_seg *seg = NULL;
            int rc = shmap_create(&seg, name, SHMAP_I64, 2, dims, &opts);
            int64_t report[2] = {rc, 0};
            if (rc == 0) {
                shmap_info info;
                shmap_info_get(seg, &info);
                report[1] = info.creator_pid;
                shmap_close(seg);
            }
            if (write(res[i][1], report, sizeof report) != (ssize_t)sizeof report)
                _exit(3);
            _exit(0);
        }
        close(res[i][1]);
    }
    close(go_pipe[0]);
    close(go_pipe[1]);
    int64_t creator = 0;
    for (int i = 0; i < N; i++) {
        int64_t report[2] = {-1, -1};
        CHECK(read(res[i][0], report, sizeof report) == (ssize_t)sizeof report);
        close(res[i][0]);
        CHECK_EQ_INT(test_wait(pids[i]), 0);
        if (report[0] != 0)
            test_fail(__FILE__, __LINE__, "process %d: %s", i, shmap_errname((int)report[0]));
        if (i == 0)
            creator = report[1];
        CHECK_EQ_INT(report[1], creator);
    }
    int found = 0;
    for (int i = 0; i < N; i++)
        found += creator == pids[i];
    CHECK_EQ_INT(found, 1);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.creator_pid, creator);
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(util_count_hidden_of(pids[i]), 0);
    CHECK_OK(shmap_unlink(name));
}

TEST(multi__another_user_attaches_a_0644_segment_read_only_but_not_read_write)
{
    if (geteuid() != 0)
        TEST_SKIP("needs root to run a child as another user");
    umask(022);
    const char *shared = test_name("pub"), *private_ = test_name("priv");
    char pub[SHMAP_NAME_MAX], priv[SHMAP_NAME_MAX];
    snprintf(pub, sizeof pub, "%s", shared);
    snprintf(priv, sizeof priv, "%s", private_);
    const uint64_t dims[1] = {8};
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.mode = 0644;
    shmap_seg *a = NULL, *b = NULL;
    CHECK_OK(shmap_create(&a, pub, SHMAP_I32, 1, dims, &opts));
    CHECK_OK(shmap_create(&b, priv, SHMAP_I32, 1, dims, NULL));
    ((int32_t *)shmap_data(a))[7] = 77;
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse("OWNER='root'", &kw));
    CHECK_OK(shmap_keyword_set(a, &kw));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(20);
        shmap_seg *ro = NULL, *rw = NULL;
        if (shmap_open(&ro, pub, SHMAP_RDONLY) != 0)
            _exit(10);
        if (((const int32_t *)shmap_data(ro))[7] != 77)
            _exit(11);
        shmap_keyword got;
        if (shmap_keyword_get(ro, "OWNER", &got) != 0 || strcmp(got.s, "root") != 0)
            _exit(12);
        if (shmap_open(&rw, pub, SHMAP_RDWR) != -EACCES)
            _exit(13);
        if (!strstr(shmap_last_error(), pub))
            _exit(14);
        if (shmap_open(&rw, priv, SHMAP_RDONLY) != -EACCES)
            _exit(15);
        shmap_info st;
        if (shmap_stat(pub, &st) != 0 || st.mode != 0644 || st.dims[0] != 8)
            _exit(16);
        int rc = shmap_unlink(pub); /* /dev/shm is sticky: not ours to remove */
        if (rc != -EACCES && rc != -EPERM)
            _exit(17);
        shmap_close(ro);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(util_shm_exists(pub));
    CHECK_OK(shmap_close(a));
    CHECK_OK(shmap_close(b));
}

TEST(multi__a_forked_child_reports_inherited_mappings_but_will_not_destroy_them)
{
    const char *name = test_name("mp");
    const uint64_t dims[1] = {8};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        shmap_mapping *maps = NULL;
        size_t n = 0;
        if (shmap_mappings(&maps, &n) != 0)
            _exit(10);
        int found = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(maps[i].info.name, name) == 0) {
                found++;
                if (maps[i].destroy != 0 || maps[i].refs != 1 || !maps[i].writable)
                    _exit(11);
            }
        shmap_mappings_free(maps);
        _exit(found == 1 ? 0 : 12);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(multi__a_forked_child_did_not_create_what_it_inherits_or_opens)
{
    const char *name = test_name("fc");
    const uint64_t dims[1] = {8};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    CHECK_EQ_INT(shmap_created(seg), 1);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Open-or-create found the segment there: the child opened it, whatever mapping its
         * handle shares with the one inherited from the creator. */
        shmap_create_opts ooc = SHMAP_CREATE_OPTS_INIT;
        ooc.flags = SHMAP_CREATE_OPEN;
        shmap_seg *opened = NULL, *again = NULL;
        if (shmap_create(&opened, name, SHMAP_U8, 1, dims, &ooc) != 0)
            _exit(10);
        if (shmap_created(opened) != 0)
            _exit(11);
        if (shmap_open(&again, name, SHMAP_RDWR) != 0 || shmap_created(again) != 0)
            _exit(12);
        if (shmap_created(seg) != 0)
            _exit(13);
        shmap_close(again);
        shmap_close(opened);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    /* The creator still says it created the segment, and still destroys it. */
    CHECK_EQ_INT(shmap_created(seg), 1);
    CHECK(util_shm_exists(name));
    CHECK_OK(shmap_close(seg));
    CHECK(!util_shm_exists(name));
}

TEST(multi__keywords_set_in_one_process_are_read_in_another)
{
    const char *name = test_name("kwp");
    const uint64_t dims[1] = {8};
    int gofd;
    pid_t pid = util_spawn_waiting(&gofd);
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, SHMAP_RDWR) != 0)
            _exit(10);
        shmap_keyword kw;
        if (shmap_keyword_get(seg, "FROMPARENT", &kw) != 0 || kw.i != 1)
            _exit(11);
        if (shmap_keyword_parse("FROMCHILD=2.5 / set by the child", &kw) != 0 ||
            shmap_keyword_set(seg, &kw) != 0)
            _exit(12);
        shmap_close(seg);
        _exit(0);
    }
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, NULL));
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_parse("FROMPARENT=1", &kw));
    CHECK_OK(shmap_keyword_set(seg, &kw));
    util_go(gofd);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_OK(shmap_keyword_get(seg, "FROMCHILD", &kw));
    CHECK_EQ_INT(kw.type, SHMAP_KW_FLOAT);
    CHECK(kw.f == 2.5);
    CHECK_STR(kw.comment, "set by the child");
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.nkeywords, 2);
    CHECK_OK(shmap_close(seg));
}
