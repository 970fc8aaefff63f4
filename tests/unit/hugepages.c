/*
 * Huge pages (SHMAP_CREATE_HUGEPAGES) on every store that has them: System V segments
 * (SHM_HUGETLB) and files on a hugetlbfs mount; POSIX names are refused. The error paths
 * run everywhere; the success paths need huge pages reserved (vm.nr_hugepages) and skip,
 * saying so, where there are none. Tests never change system settings: a hugetlbfs mount is
 * made only in a private mount namespace of a child process (root only), so it goes when
 * the child does.
 *
 * Directories are removed by a guard process when the test process ends, however it ends;
 * System V segments left under the test's keys, by the runner.
 */
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "../util.h"

/* A System V key of this test (the runner removes what a failure leaves) and its name. */
static const char *key_name(key_t key)
{
    static char buf[32];
    snprintf(buf, sizeof buf, "sysv://0x%08x", (unsigned)key);
    return buf;
}

TEST(hugepages__posix_names_are_refused_naming_the_stores_that_have_them)
{
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 100;
    shmap_seg *seg = NULL;
    const char *name = test_name("posix");
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, &n, &o), SHMAP_ESTORE);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), "sysv://");
    CHECK_CONTAINS(shmap_last_error(), "hugetlbfs");
    CHECK(seg == NULL);
    CHECK(!util_shm_exists(name));
    CHECK_EQ_INT(util_count_hidden_of(getpid()), 0);
}

TEST(hugepages__a_file_off_hugetlbfs_is_refused_and_leaves_nothing)
{
    const char *d = util_test_dir();
    struct statfs sf;
    CHECK(statfs(d, &sf) == 0);
    if ((unsigned long)sf.f_type == 0x958458f6ul)
        TEST_SKIP("/tmp is itself on hugetlbfs");
    char name[200];
    snprintf(name, sizeof name, "file:%s/seg", d);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 100;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, &n, &o), SHMAP_ESTORE);
    CHECK_CONTAINS(shmap_last_error(), "hugetlbfs");
    CHECK_EQ_INT(util_dir_entries(d), 0);
}

TEST(hugepages__system_v_without_configured_pages_says_how)
{
    if (util_meminfo("HugePages_Total") != 0)
        TEST_SKIP("huge pages are configured here (vm.nr_hugepages is %llu)",
                  util_meminfo("HugePages_Total"));
    key_t key = test_sysv_key();
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 100;
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, key_name(key), SHMAP_U8, 1, &n, &o), SHMAP_ESTORE);
    CHECK_CONTAINS(shmap_last_error(), "nr_hugepages");
    CHECK_CONTAINS(shmap_last_error(), key_name(key));
    CHECK(shmget(key, 0, 0) < 0 && errno == ENOENT);
}

TEST(hugepages__system_v_segment_rounds_up_and_attaches_by_key_id_and_listing)
{
    util_need_free_hugepages(2);
    size_t hp = util_hugepage_size();
    key_t key = test_sysv_key();
    const char *name = key_name(key);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES | SHMAP_CREATE_KEEP;
    uint64_t n = 1000; /* 4000 bytes of data: one huge page in all */
    shmap_seg *seg = NULL, *ro = NULL, *byid = NULL;
    unsigned long long before = util_free_hugepages();
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, &n, &o));
    CHECK_EQ_INT(util_free_hugepages(), before - 1); /* reserved at creation */
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.data_size, 4000);
    struct shmid_ds ds;
    int id = shmget(key, 0, 0);
    CHECK(id >= 0 && shmctl(id, IPC_STAT, &ds) == 0);
    CHECK_EQ_INT(ds.shm_segsz, hp);
    float *f = shmap_data(seg);
    for (int i = 0; i < 1000; i++)
        f[i] = (float)i * 0.5f;
    CHECK_OK(shmap_publish(seg));

    /* Attach by key and by id: the larger object passes the checks. */
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK(((const float *)shmap_data(ro))[999] == 499.5f);
    CHECK_OK(shmap_info_get(ro, &info));
    CHECK_EQ_INT(info.size, hp);
    CHECK_OK(shmap_close(seg));
    char byid_name[64];
    snprintf(byid_name, sizeof byid_name, "sysv://id=%d", id);
    CHECK_OK(shmap_open(&byid, byid_name, SHMAP_RDWR));
    CHECK_OK(shmap_info_get(byid, &info));
    CHECK_EQ_INT(info.size, hp);
    CHECK_EQ_INT(info.generation, 1);
    CHECK_OK(shmap_close(byid));
    CHECK_OK(shmap_close(ro));

    /* Listed, with the rounded size. */
    shmap_entry *list;
    size_t count, found = 0;
    CHECK_OK(shmap_list(&list, &count, 0));
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].info.name, name) == 0) {
            found++;
            CHECK_EQ_INT(list[i].status, 0);
            CHECK_EQ_INT(list[i].info.size, hp);
            CHECK_EQ_INT(list[i].info.dims[0], 1000);
        }
    shmap_list_free(list);
    CHECK_EQ_INT(found, 1);
    CHECK_OK(shmap_delete(name, 1.0, 0));
    CHECK(shmget(key, 0, 0) < 0);

    /* Prefaulted too, and destroyed when closed by default. */
    o.flags = SHMAP_CREATE_HUGEPAGES | SHMAP_CREATE_PREFAULT;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F32, 1, &n, &o));
    CHECK_EQ_INT(((const float *)shmap_data(seg))[999], 0);
    CHECK_OK(shmap_close(seg));
    CHECK(shmget(key, 0, 0) < 0);
}

TEST(hugepages__system_v_beyond_the_free_pool_is_enospc)
{
    /* With none reserved at all, the create says how to configure them (tested above). */
    if (util_meminfo("HugePages_Total") == 0)
        TEST_SKIP("no huge pages reserved here (vm.nr_hugepages is 0)");
    key_t key = test_sysv_key();
    const char *name = key_name(key);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = (util_free_hugepages() + 1) * util_hugepage_size();
    shmap_seg *seg = NULL;
    int rc = shmap_create(&seg, name, SHMAP_U8, 1, &n, &o);
    if (rc == 0) {
        CHECK_OK(shmap_close(seg));
        TEST_SKIP("the pool grew to fit (vm.nr_overcommit_hugepages)");
    }
    CHECK_ERR(rc, -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "not enough free huge pages");
    CHECK_CONTAINS(shmap_last_error(), "nr_hugepages");
    CHECK(shmget(key, 0, 0) < 0);
}

TEST(hugepages__system_v_for_a_user_without_the_right_is_eperm_saying_what_it_needs)
{
    if (geteuid() != 0)
        TEST_SKIP("needs root, to become a user without CAP_IPC_LOCK");
    util_need_free_hugepages(1);
    key_t key = test_sysv_key();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* No capability, no group of vm.hugetlb_shm_group, no locked memory allowed. */
        struct rlimit rl = {0, 0};
        CHECK(setgroups(0, NULL) == 0);
        CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
        CHECK(setgid(65534) == 0 && setuid(65534) == 0);
        shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
        o.flags = SHMAP_CREATE_HUGEPAGES;
        uint64_t n = 100;
        shmap_seg *seg = NULL;
        CHECK_ERR(shmap_create(&seg, key_name(key), SHMAP_U8, 1, &n, &o), -EPERM);
        CHECK_CONTAINS(shmap_last_error(), "CAP_IPC_LOCK");
        CHECK_CONTAINS(shmap_last_error(), "hugetlb_shm_group");
        /* Which recent kernels no longer take instead. */
        CHECK(!strstr(shmap_last_error(), "ulimit -l"));
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(shmget(key, 0, 0) < 0);
}

static void file_beyond_pool(const char *mnt)
{
    char name[200];
    snprintf(name, sizeof name, "file:%s/big", mnt);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    uint64_t n = (util_free_hugepages() + 1) * util_hugepage_size();
    shmap_seg *seg = NULL;
    /* Without the flag too: a file on hugetlbfs is in huge pages either way. */
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, &n, &o), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "not enough free huge pages");
    o.flags = SHMAP_CREATE_HUGEPAGES;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, &n, &o), -ENOSPC);
    CHECK_EQ_INT(util_dir_entries(mnt), 0); /* no hidden leftover either */
}

TEST(hugepages__file_on_hugetlbfs_beyond_the_free_pool_is_enospc_and_leaves_nothing)
{
    util_with_hugetlbfs(file_beyond_pool, 0);
}

/* Another program's file `leaf` of `n` bytes in `mnt`, sparse (nothing reserved yet); its
 * segment name into `name`, its path into `path` (200 bytes each). */
static void make_sparse(const char *mnt, const char *leaf, uint64_t n, char *name, char *path)
{
    snprintf(path, 200, "%s/%s", mnt, leaf);
    snprintf(name, 200, "file:%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)n) == 0);
    close(fd);
}

/* Another program's file on hugetlbfs, larger than the free pool, opened raw: its pages
 * are reserved when it is mapped, and "Cannot allocate memory" said only that. */
static void raw_beyond_pool(const char *mnt)
{
    char path[200], name[200];
    uint64_t pages = util_free_hugepages() + 1, n = pages * util_hugepage_size();
    make_sparse(mnt, "theirs", n, name, path);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, &n, NULL), -ENOMEM);
    char want[320];
    unsigned long long kb = util_hugepage_size() / 1024;
    snprintf(want, sizeof want, "(it needs %llu more huge %s of %llu kB, reserved when it is "
             "mapped, and %llu %s free and unreserved; raise nr_hugepages in "
             "/sys/kernel/mm/hugepages/hugepages-%llukB)", (unsigned long long)pages,
             pages == 1 ? "page" : "pages", kb, (unsigned long long)pages - 1,
             pages == 2 ? "is" : "are", kb);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK(unlink(path) == 0);
}

TEST(hugepages__raw_file_on_hugetlbfs_beyond_the_free_pool_says_so)
{
    util_with_hugetlbfs(raw_beyond_pool, 0);
}

/* The same file in a process without the address space for it: the kernel refuses the
 * address space first, and that is what is said, not the pool. */
static void raw_past_address_space(const char *mnt)
{
    char path[200], name[200];
    uint64_t n = (util_free_hugepages() + 1) * util_hugepage_size();
    make_sparse(mnt, "theirs", n, name, path);
    unsigned long long kb = util_vm_size_kb();
    struct rlimit r = {(kb + 1024) * 1024, (kb + 1024) * 1024};
    CHECK(setrlimit(RLIMIT_AS, &r) == 0);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, &n, NULL), -ENOMEM);
    CHECK_CONTAINS(shmap_last_error(), "(past this process's address space limit, ulimit -v: ");
    CHECK(unlink(path) == 0);
}

TEST(hugepages__raw_file_on_hugetlbfs_past_the_address_space_limit_says_so)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs more address space than a cap would leave");
#endif
    util_with_hugetlbfs(raw_past_address_space, 0);
}

/* With the pool's figures unreadable (sysfs hidden), nothing is claimed of it: 0 free is
 * not what an unreadable file says. */
static void raw_pool_unknown(const char *mnt)
{
    char path[200], name[200];
    uint64_t n = (util_free_hugepages() + 1) * util_hugepage_size();
    make_sparse(mnt, "theirs", n, name, path);
    CHECK(mount("none", "/sys/kernel/mm/hugepages", "tmpfs", 0, "size=4k") == 0);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_U8, 1, &n, NULL), -ENOMEM);
    CHECK(!strstr(shmap_last_error(), "free and unreserved"));
    CHECK(umount("/sys/kernel/mm/hugepages") == 0);
    CHECK(unlink(path) == 0);
}

TEST(hugepages__raw_file_on_hugetlbfs_with_the_pool_unknown_claims_nothing_of_it)
{
    util_with_hugetlbfs(raw_pool_unknown, 0);
}

/* A file whose pages it holds already, opened by a process out of mappings: the mappings
 * are what is said, not the pool (which it has emptied). */
static void raw_out_of_mappings(const char *mnt)
{
    char path[200], name[200];
    uint64_t n = util_hugepage_size() * util_free_hugepages();
    make_sparse(mnt, "held", n, name, path);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    for (uint64_t i = 0; i < n; i += util_hugepage_size())
        p[i] = 1; /* every page of the pool is the file's now */
    munmap(p, n);
    close(fd);
    CHECK_EQ_INT(util_free_hugepages(), 0);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < 1 << 20; i++) /* alternate protections: no two merge into one */
        if (mmap(NULL, page, i % 2 ? PROT_READ : PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            break;
    shmap_seg *seg = NULL;
    int rc = shmap_open_raw(&seg, name, SHMAP_U8, 1, &n, NULL);
    char detail[512];
    snprintf(detail, sizeof detail, "%s", shmap_last_error());
    CHECK_ERR(rc, -ENOMEM);
    CHECK_CONTAINS(detail, " mappings, as many as vm.max_map_count allows)");
    CHECK(!strstr(detail, "free and unreserved"));
    CHECK(unlink(path) == 0);
}

TEST(hugepages__raw_file_holding_its_pages_out_of_mappings_says_so)
{
#ifdef UTIL_ASAN
    TEST_SKIP("AddressSanitizer needs mappings of its own to report");
#endif
    util_with_hugetlbfs(raw_out_of_mappings, 1);
}

/* export into hugetlbfs, which has no write(), said only "Invalid argument". */
static const char *export_src;

static void export_into_hugetlbfs(const char *mnt)
{
    char path[200], *out = NULL, *err = NULL, want[400];
    snprintf(path, sizeof path, "%s/e.npy", mnt);
    RUN(1, "export", export_src, path);
    snprintf(want, sizeof want, "shmap: %s: %s: hugetlbfs takes no write(), only mappings: "
             "export to a file on another file system\n", path, strerror(EINVAL));
    CHECK_STR(err, want);
    CHECK_EQ_INT(util_dir_entries(mnt), 0);
    util_clear(&out, &err);
}

TEST(hugepages__export_into_hugetlbfs_says_it_takes_no_write)
{
    export_src = test_name("exp");
    util_make_kept(export_src, SHMAP_U8, 1, (const uint64_t[]){8});
    util_with_hugetlbfs(export_into_hugetlbfs, 0);
    CHECK_OK(shmap_unlink(export_src));
}

static void file_on_hugetlbfs(const char *mnt)
{
    size_t hp = util_hugepage_size();
    char name[256], plain[256], path[200];
    snprintf(path, sizeof path, "%s/frames", mnt);
    snprintf(name, sizeof name, "file:%s", path);
    snprintf(plain, sizeof plain, "file:%s/plain", mnt);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t dims[2] = {100, 100};
    shmap_seg *seg = NULL, *ro = NULL, *raw = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_F64, 2, dims, &o));
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_EQ_INT(st.st_size % (off_t)hp, 0);
    CHECK((uint64_t)st.st_size >= 4096 + 80000);
    shmap_info info;
    double *d = shmap_data(seg);
    CHECK(d[9999] == 0.0);
    for (int i = 0; i < 10000; i++)
        d[i] = i;
    CHECK_OK(shmap_publish(seg));
    CHECK_OK(shmap_close(seg));
    /* The whole mapping went, though its length was not a multiple of the page size. */
    CHECK(!util_maps_path(path));

    /* Attach; and read it raw past the header, at an offset inside the first huge page. */
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK(((const double *)shmap_data(ro))[1234] == 1234.0);
    CHECK_OK(shmap_info_get(ro, &info));
    CHECK_EQ_INT(info.generation, 1);
    CHECK_EQ_INT(info.size, st.st_size);
    shmap_raw_opts ropts = SHMAP_RAW_OPTS_INIT;
    ropts.offset = 4096 + 8 * 10;
    uint64_t three = 3;
    CHECK_OK(shmap_open_raw(&raw, name, SHMAP_F64, 1, &three, &ropts));
    const double *r = shmap_data(raw);
    CHECK(r[0] == 10.0 && r[2] == 12.0);
    CHECK_OK(shmap_close(raw));
    /* A lock through the read-only handle maps the header on its own, and unmaps it. */
    CHECK_OK(shmap_lock(ro, SHMAP_LOCK_SHARED, 1.0));
    CHECK_OK(shmap_unlock(ro));
    CHECK_OK(shmap_close(ro));
    CHECK(!util_maps_path(path));

    /* Without the flag, on hugetlbfs: huge pages all the same. */
    o.flags = SHMAP_CREATE_KEEP;
    uint64_t n = 10;
    CHECK_OK(shmap_create(&seg, plain, SHMAP_U8, 1, &n, &o));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_stat(plain, &info));
    CHECK_EQ_INT(info.size, hp);
    CHECK_OK(shmap_unlink(plain));
    CHECK_OK(shmap_unlink(name));
    CHECK_EQ_INT(util_dir_entries(mnt), 0);
}

TEST(hugepages__file_on_hugetlbfs_rounds_up_attaches_and_unmaps_whole)
{
    util_with_hugetlbfs(file_on_hugetlbfs, 3);
}

TEST(hugepages__memfd_rounds_up_and_beyond_the_free_pool_is_enospc)
{
    util_need_free_hugepages(1);
    size_t hp = util_hugepage_size();
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 100;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, NULL, SHMAP_U8, 1, &n, &o));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.size, hp);
    CHECK_EQ_INT(info.data_size, 100);
    ((unsigned char *)shmap_data(seg))[99] = 7;
    CHECK_OK(shmap_close(seg));

    n = (util_free_hugepages() + 1) * hp;
    CHECK_ERR(shmap_create(&seg, "memfd:big", SHMAP_U8, 1, &n, &o), -ENOSPC);
    CHECK_CONTAINS(shmap_last_error(), "not enough free huge pages");
    CHECK_CONTAINS(shmap_last_error(), "memfd:big");
}

TEST(hugepages__memfd_read_only_handle_that_locks_unmaps_its_header_whole)
{
    util_need_free_hugepages(1);
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_HUGEPAGES;
    uint64_t n = 100;
    shmap_seg *seg = NULL, *ro = NULL;
    CHECK_OK(shmap_create(&seg, "memfd:hplock", SHMAP_U8, 1, &n, &o));
    int fd = dup(shmap_fd(seg));
    CHECK(fd >= 0);
    CHECK_OK(shmap_close(seg));
    CHECK(util_maps_path("memfd:hplock") == 0);
    /* As a process that received the descriptor: read-only, then a lock, which maps the
     * header read-write on its own (a whole huge page) and unmaps it at close. */
    CHECK_OK(shmap_open_fd(&ro, fd, SHMAP_RDONLY));
    CHECK_OK(shmap_lock(ro, SHMAP_LOCK_SHARED, 1.0));
    CHECK_OK(shmap_unlock(ro));
    CHECK_OK(shmap_close(ro));
    CHECK(close(fd) == 0);
    CHECK(!util_maps_path("memfd:hplock"));
}
