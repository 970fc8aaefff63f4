/* Helpers shared by the tests: see util.h. */
#include "util.h"

#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static void handle_of(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "/%s", name);
}

uint64_t util_header_checksum(const struct shmap__header *h)
{
    const unsigned char *p = (const unsigned char *)h;
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < SHMAP__FIXED_SIZE; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        x = (x ^ w) * 0x100000001b3ull;
    }
    return x;
}

void util_fix_checksum(struct shmap__header *h)
{
    h->checksum = util_header_checksum(h);
}

void util_shm_write(const char *name, const void *buf, size_t len)
{
    char handle[SHMAP_NAME_MAX + 1];
    handle_of(name, handle, sizeof handle);
    int fd = shm_open(handle, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        test_fail(__FILE__, __LINE__, "shm_open(%s): %s", handle, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0)
            test_fail(__FILE__, __LINE__, "write(%s): %s", handle, strerror(errno));
        done += (size_t)n;
    }
    close(fd);
}

long long util_shm_size(const char *name)
{
    char path[SHMAP_NAME_MAX + 16];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    if (stat(path, &st) < 0)
        return -1;
    return (long long)st.st_size;
}

int util_shm_exists(const char *name)
{
    return util_shm_size(name) >= 0;
}

unsigned util_shm_mode(const char *name)
{
    char path[SHMAP_NAME_MAX + 16];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    if (stat(path, &st) < 0)
        test_fail(__FILE__, __LINE__, "stat(%s): %s", path, strerror(errno));
    return (unsigned)(st.st_mode & 07777);
}

void util_shm_remove(const char *name)
{
    char handle[SHMAP_NAME_MAX + 1];
    handle_of(name, handle, sizeof handle);
    shm_unlink(handle);
}

void util_shm_truncate(const char *name, long long size)
{
    char handle[SHMAP_NAME_MAX + 1];
    handle_of(name, handle, sizeof handle);
    int fd = shm_open(handle, O_RDWR, 0);
    if (fd < 0)
        test_fail(__FILE__, __LINE__, "shm_open(%s): %s", handle, strerror(errno));
    if (ftruncate(fd, (off_t)size) < 0)
        test_fail(__FILE__, __LINE__, "ftruncate(%s): %s", handle, strerror(errno));
    close(fd);
}

void util_header_read(const char *name, struct shmap__header *h)
{
    char handle[SHMAP_NAME_MAX + 1];
    handle_of(name, handle, sizeof handle);
    int fd = shm_open(handle, O_RDONLY, 0);
    if (fd < 0)
        test_fail(__FILE__, __LINE__, "shm_open(%s): %s", handle, strerror(errno));
    ssize_t n = pread(fd, h, sizeof *h, 0);
    if (n != (ssize_t)sizeof *h)
        test_fail(__FILE__, __LINE__, "pread(%s) read %zd bytes", handle, n);
    close(fd);
}

void util_header_write(const char *name, const struct shmap__header *h)
{
    char handle[SHMAP_NAME_MAX + 1];
    handle_of(name, handle, sizeof handle);
    int fd = shm_open(handle, O_RDWR, 0);
    if (fd < 0)
        test_fail(__FILE__, __LINE__, "shm_open(%s): %s", handle, strerror(errno));
    ssize_t n = pwrite(fd, h, sizeof *h, 0);
    if (n != (ssize_t)sizeof *h)
        test_fail(__FILE__, __LINE__, "pwrite(%s) wrote %zd bytes", handle, n);
    close(fd);
}

void util_make_kept(const char *name, shmap_dtype dtype, unsigned ndim, const uint64_t *dims)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, dtype, ndim, dims, &opts));
    CHECK_OK(shmap_close(seg));
    CHECK(util_shm_exists(name));
}

shmap_seg *util_kept_rdwr(const char *name, uint64_t n)
{
    util_make_kept(name, SHMAP_U8, 1, &n);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDWR));
    return seg;
}

static int scan_hidden(const char *needle, int remove)
{
    DIR *d = opendir("/dev/shm");
    int found = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, ".shmap-", 7) != 0)
            continue;
        if (needle && !strstr(e->d_name, needle))
            continue;
        found++;
        if (remove) {
            char path[SHMAP_NAME_MAX + 16];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    return found;
}

int util_count_hidden(const char *needle)
{
    return scan_hidden(needle, 0);
}

int util_remove_hidden(const char *needle)
{
    return scan_hidden(needle, 1);
}

int util_mapping_refs(const char *name, int *pending)
{
    shmap_mapping *maps = NULL;
    size_t n = 0;
    int refs = 0;
    CHECK_OK(shmap_mappings(&maps, &n));
    if (pending)
        *pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(maps[i].info.name, name) != 0)
            continue;
        refs += (int)maps[i].refs;
        if (pending && maps[i].pending)
            *pending = 1;
    }
    shmap_mappings_free(maps);
    return refs;
}

int util_proc_maps_has(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024], want[SHMAP_NAME_MAX + 16];
    int found = 0;
    if (!f)
        test_fail(__FILE__, __LINE__, "/proc/self/maps: %s", strerror(errno));
    snprintf(want, sizeof want, "/dev/shm/%s", name);
    size_t wlen = strlen(want);
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, want);
        /* The path ends the line, possibly followed by " (deleted)". */
        if (p && (p[wlen] == '\n' || p[wlen] == ' ' || p[wlen] == '\0'))
            found = 1;
    }
    fclose(f);
    return found;
}

static void pid_needle(pid_t pid, char *buf, size_t size)
{
    snprintf(buf, size, ".shmap-tmp-%d-", (int)pid);
}

int util_count_hidden_of(pid_t pid)
{
    char needle[64];
    pid_needle(pid, needle, sizeof needle);
    return scan_hidden(needle, 0);
}

int util_remove_hidden_of(pid_t pid)
{
    char needle[64];
    pid_needle(pid, needle, sizeof needle);
    return scan_hidden(needle, 1);
}

pid_t util_spawn_churn(const char *a, const char *b, double seconds)
{
    pid_t pid = util_spawn();
    if (pid != 0)
        return pid;
    const uint64_t dims[1] = {16};
    double t0 = util_now_s();
    for (int i = 0; util_now_s() - t0 < seconds; i++) {
        const char *name = b && i % 2 ? b : a;
        shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
        o.flags |= SHMAP_CREATE_KEEP;
        shmap_seg *seg = NULL;
        if (shmap_create(&seg, name, SHMAP_U8, 1, dims, &o) == 0)
            shmap_close(seg);
        shmap_delete(name, 0, SHMAP_DELETE_FORCE);
    }
    _exit(0);
}

pid_t util_spawn_holder(const char *name, unsigned flags)
{
    return util_spawn_opener(name, SHMAP_RDWR, flags);
}

pid_t util_spawn_pest(int every_ms)
{
    pid_t target = getpid();
    pid_t pid = util_spawn();
    if (pid == 0) {
        for (;;) {
            util_sleep_ms(every_ms);
            if (kill(target, SIGUSR1) < 0)
                _exit(0);
        }
    }
    return pid;
}

static void on_usr1_noop(int sig)
{
    (void)sig;
}

void util_usr1_noop(bool on, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_usr1_noop : SIG_IGN;
    sa.sa_flags = on ? flags : 0;
    sigaction(SIGUSR1, &sa, NULL);
    if (!on)
        signal(SIGUSR1, SIG_DFL);
}

pid_t util_spawn_opener(const char *name, unsigned open_flags, unsigned lock_flags)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *seg = NULL;
        if (shmap_open(&seg, name, open_flags) < 0 ||
            (lock_flags && shmap_lock(seg, lock_flags, -1))) {
            util_child_send(&c, 'E');
            _exit(1);
        }
        util_child_send(&c, 'L');
        for (;;)
            pause();
    }
    char said = util_parent_recv(&c);
    util_chan_close(&c);
    CHECK_EQ_INT(said, 'L');
    return pid;
}

pid_t util_spawn_mid_frame_writer(const char *name, const void *value, size_t elsize,
                                  size_t n)
{
    struct util_chan c;
    util_chan_open(&c);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_seg *w = NULL;
        void *frame;
        if (shmap_open(&w, name, SHMAP_RDWR) < 0 || shmap_write_begin(w, &frame) < 0)
            _exit(20);
        for (size_t i = 0; i < n / 2; i++)
            memcpy((char *)frame + i * elsize, value, elsize);
        util_child_send(&c, 'w');
        for (;;)
            pause();
    }
    CHECK_EQ_INT(util_parent_recv(&c), 'w');
    util_chan_close(&c);
    return pid;
}

int util_gc_collect(const shmap_gc_event *ev, void *ctx)
{
    struct util_gc_events *e = ctx;
    if (e->n < (int)(sizeof e->ev / sizeof e->ev[0])) {
        e->ev[e->n] = *ev;
        snprintf(e->detail[e->n], sizeof e->detail[0], "%s", ev->status ? shmap_last_error() : "");
        e->n++;
    }
    return 0;
}

int util_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

void util_kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    CHECK_EQ_INT(test_wait(pid), 128 + SIGKILL);
}

void util_need_root(void)
{
    if (geteuid() != 0)
        TEST_SKIP("switching to another user (nobody) needs root");
}

void util_become_nobody(void)
{
    gid_t g = UTIL_NOBODY;
    uid_t u = UTIL_NOBODY;
    if (setgroups(0, NULL) < 0 || setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0)
        test_fail(__FILE__, __LINE__, "cannot become nobody: %s", strerror(errno));
}

pid_t util_make_by_dead_creator(const char *name, unsigned flags)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP | flags;
        shmap_seg *seg = NULL;
        const uint64_t dims[1] = {16};
        _exit(shmap_create(&seg, name, SHMAP_U64, 1, dims, &opts) == 0 ? 0 : 1);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK(util_wait_unmapped(name)); /* dead, but its mapping may outlive it a moment */
    return pid;
}

void util_as_nobody(void (*fn)(const char *), const char *name)
{
    pid_t pid = util_spawn();
    if (pid == 0) {
        util_become_nobody();
        fn(name);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
}

pid_t util_dead_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(0);
    CHECK_EQ_INT(test_wait(pid), 0);
    return pid;
}

pid_t util_zombie_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(0);
    util_wait_zombie(pid);
    return pid;
}

pid_t util_spawn_waiting(int *go)
{
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = util_spawn();
    if (pid == 0) {
        char c;
        close(p[1]);
        if (read(p[0], &c, 1) != 1)
            _exit(99);
        close(p[0]);
        *go = -1;
        return 0;
    }
    close(p[0]);
    *go = p[1];
    return pid;
}

void util_go(int go)
{
    CHECK(write(go, "g", 1) == 1);
    close(go);
}

void util_chan_open(struct util_chan *c)
{
    CHECK(pipe(c->up) == 0 && pipe(c->down) == 0);
}

void util_chan_close(struct util_chan *c)
{
    close(c->up[0]);
    close(c->up[1]);
    close(c->down[0]);
    close(c->down[1]);
}

/* One byte through a pipe end, again after a signal's handler (a test may have signals
 * come every few milliseconds, without SA_RESTART): 1, or what read/write said. */
static ssize_t byte_io(int fd, char *b, bool out)
{
    ssize_t n;
    do
        n = out ? write(fd, b, 1) : read(fd, b, 1);
    while (n < 0 && errno == EINTR);
    return n;
}

void util_child_send(struct util_chan *c, char b)
{
    if (byte_io(c->up[1], &b, true) != 1)
        _exit(97);
}

char util_child_recv(struct util_chan *c)
{
    char b = 0;
    if (byte_io(c->down[0], &b, false) != 1)
        _exit(96);
    return b;
}

char util_parent_recv(struct util_chan *c)
{
    char b = 0;
    CHECK(byte_io(c->up[0], &b, false) == 1);
    return b;
}

void util_parent_send(struct util_chan *c, char b)
{
    CHECK(byte_io(c->down[1], &b, true) == 1);
}

int util_wait_asleep(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 1000; i++) {
        char buf[512];
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        const char *end = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
        if (end && end[1] == ' ' && end[2] == 'S')
            return 1;
        util_sleep_ms(10);
    }
    return 0;
}

int util_wait_signal_taken(pid_t pid, int sig)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    const unsigned long long bit = 1ull << (sig - 1);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        if (!f)
            return 1; /* gone: it died of it, or of something else */
        /* Pending for the thread (SigPnd) or for the whole process (ShdPnd, where kill()
         * puts it). */
        unsigned long long pending = 0, mask;
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "SigPnd: %llx", &mask) == 1 ||
                sscanf(line, "ShdPnd: %llx", &mask) == 1)
                pending |= mask;
        }
        fclose(f);
        if (!(pending & bit))
            return 1;
        util_sleep_ms(10);
    }
    return 0;
}

void util_wait_zombie(pid_t pid)
{
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
        CHECK(errno == EINTR);
}

int util_sysv_exists(key_t key)
{
    return shmget(key, 0, 0) >= 0;
}

int util_wait_unmapped(const char *name)
{
    if (strncmp(name, "sysv://0x", 9) == 0) {
        int id = shmget((key_t)strtoul(name + 9, NULL, 16), 0, 0);
        struct shmid_ds ds;
        for (int i = 0; i < 1000; i++) {
            if (id < 0 || shmctl(id, IPC_STAT, &ds) < 0 || ds.shm_nattch == 0)
                return 1;
            util_sleep_ms(10);
        }
        return 0;
    }
    char path[SHMAP_NAME_MAX + 16];
    if (strncmp(name, "file://", 7) == 0 || strncmp(name, "file:", 5) == 0)
        snprintf(path, sizeof path, "%s", name + (name[5] == '/' && name[6] == '/' ? 7 : 5));
    else
        snprintf(path, sizeof path, "/dev/shm/%s", name + (name[0] == '/'));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 1;
    int done = 0;
    for (int i = 0; i < 1000 && !done; i++) {
        if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
            fcntl(fd, F_SETLEASE, F_UNLCK);
            done = 1;
        } else if (errno != EAGAIN) {
            done = 1; /* no lease here (another user's object, a file system without) */
        } else {
            util_sleep_ms(10);
        }
    }
    close(fd);
    return done;
}

pid_t util_spawn_unfinished_sysv(const char *name, key_t key, uint64_t bytes, int up, int down)
{
    fflush(NULL);
    pid_t pid = util_spawn();
    if (pid == 0) {
        shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
        opts.flags = SHMAP_CREATE_KEEP;
        shmap_seg *seg = NULL;
        if (shmap_create(&seg, name, SHMAP_U8, 1, &bytes, &opts) != 0 || shmap_close(seg))
            _exit(1);
        int id = shmget(key, 0, 0);
        struct shmap__header *h = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
        if (h == (void *)-1)
            _exit(1);
        __atomic_store_n(&h->state, SHMAP__STATE_INIT, __ATOMIC_RELEASE);
        shmdt(h);
        char b = 'L';
        if (write(up, &b, 1) != 1 || read(down, &b, 1) < 0)
            _exit(1);
        _exit(0);
    }
    return pid;
}

static char test_dir_path[96];

const char *util_test_dir(void)
{
    if (test_dir_path[0])
        return test_dir_path;
    snprintf(test_dir_path, sizeof test_dir_path, "/tmp/%sdir-XXXXXX", test_prefix());
    CHECK(mkdtemp(test_dir_path) != NULL);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Out of the test's process group, which the runner kills as the test ends. */
        setpgid(0, 0);
        close(p[1]);
        char c;
        while (read(p[0], &c, 1) > 0)
            ;
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir_path);
        _exit(system(cmd) == 0 ? 0 : 1);
    }
    setpgid(pid, pid); /* as the child does: whichever runs first */
    close(p[0]);       /* the write end stays open until this process ends */
    return test_dir_path;
}

const char *util_test_path(const char *leaf)
{
    static char buf[8][512];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", util_test_dir(), leaf);
    return b;
}

void util_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

unsigned char *util_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        test_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    CHECK(buf != NULL);
    CHECK(read(fd, buf, (size_t)st.st_size) == st.st_size);
    buf[st.st_size] = '\0';
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

size_t util_read_to_end(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t got;
    while (n < size - 1 && (got = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd);
    return n;
}

int util_maps_path(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, path) != NULL;
    fclose(f);
    return found;
}

unsigned long long util_meminfo(const char *field)
{
    unsigned long long v = 0;
    size_t len = strlen(field);
    char line[128];
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            v = strtoull(line + len + 1, NULL, 10);
    fclose(f);
    return v;
}

size_t util_hugepage_size(void)
{
    return (size_t)util_meminfo("Hugepagesize") * 1024;
}

unsigned long long util_free_hugepages(void)
{
    unsigned long long nfree = util_meminfo("HugePages_Free");
    unsigned long long rsvd = util_meminfo("HugePages_Rsvd");
    return nfree > rsvd ? nfree - rsvd : 0;
}

void util_need_free_hugepages(unsigned long long n)
{
    if (util_hugepage_size() == 0)
        TEST_SKIP("this kernel has no huge pages");
    if (n > 0 && util_meminfo("HugePages_Total") == 0)
        TEST_SKIP("no huge pages reserved here (vm.nr_hugepages is 0)");
    if (util_free_hugepages() < n)
        TEST_SKIP("only %llu huge pages free, this test needs %llu", util_free_hugepages(), n);
}

/*
 * Run `body` in a child with a private mount of `fstype` on this test's directory, as a
 * container gets its own /dev/shm: the mount lives in the child's own mount namespace, so it
 * is gone when the child ends, however it ends, and no other process ever sees it.
 */
static void with_private_mount(const char *fstype, const char *opts, void (*body)(const char *))
{
    const char *mnt = util_test_dir();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0)
            TEST_SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
        /* Private, so the mount below is seen by no other namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            TEST_SKIP("making mounts private: %s", strerror(errno));
        if (mount("none", mnt, fstype, MS_NOSUID | MS_NODEV, opts) < 0)
            TEST_SKIP("mount -t %s: %s", fstype, strerror(errno));
        body(mnt);
        umount2(mnt, MNT_DETACH);
        _exit(0);
    }
    int rc = test_wait(pid);
    if (rc == 77)
        TEST_SKIP("(the line above says why)");
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "the child with the %s mount failed (%d)", fstype, rc);
}

pid_t util_spawn_in_new_pid_namespace(void (*body)(const char *), const char *name)
{
    util_need_root();
    pid_t outer = util_spawn();
    if (outer != 0)
        return outer;
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) < 0)
        _exit(77);
    pid_t init = fork();
    if (init < 0)
        _exit(1);
    if (init > 0)
        _exit(test_wait(init));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        _exit(77);
    body(name);
    _exit(0);
}

void util_pid_namespace_done(pid_t outer)
{
    int rc = test_wait(outer);
    if (rc == 77)
        TEST_SKIP("cannot make a pid namespace here (unshare(CLONE_NEWPID) needs root)");
    CHECK_EQ_INT(rc, 0);
}

void util_in_new_pid_namespace(void (*body)(const char *), const char *name)
{
    util_pid_namespace_done(util_spawn_in_new_pid_namespace(body, name));
}

static int ns_ready_pipe[2] = {-1, -1};

int util_ns_ready(void)
{
    return write(ns_ready_pipe[1], "r", 1) == 1 ? 0 : -1;
}

pid_t util_spawn_ready_in_new_pid_namespace(void (*body)(const char *), const char *name)
{
    CHECK(pipe(ns_ready_pipe) == 0);
    pid_t outer = util_spawn_in_new_pid_namespace(body, name);
    close(ns_ready_pipe[1]); /* the body's: an end of file when it ends without a word */
    char x;
    ssize_t n = read(ns_ready_pipe[0], &x, 1);
    close(ns_ready_pipe[0]);
    if (n != 1) {
        util_pid_namespace_done(outer); /* skips, or fails on its status */
        test_fail(__FILE__, __LINE__, "the process in the new pid namespace ended unready");
    }
    return outer;
}

void util_write_kernel_limit(const char *what, unsigned long long v)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", what);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fprintf(f, "%llu\n", v) > 0);
    CHECK(fclose(f) == 0);
}

int util_fits_built(void)
{
    char block[2880];
    memset(block, ' ', sizeof block);
    const char *cards[] = {"SIMPLE  =                    T", "BITPIX  =                    8",
                           "NAXIS   =                    0", "END"};
    for (int i = 0; i < 4; i++)
        memcpy(block + 80 * i, cards[i], strlen(cards[i]));
    const char *path = util_test_path("probe.fits");
    util_write_file(path, block, sizeof block);
    char *out = NULL, *err = NULL;
    RUN(1, "import", path, test_name("probe"));
    int built = strstr(err, "FITS support not built") == NULL;
    if (built)
        CHECK_ERROR_LINE(err, "no image");
    util_clear(&out, &err);
    unlink(path);
    return built;
}

void util_with_private_dev_shm(const char *opts, void (*body)(void))
{
    util_need_root();
    fflush(NULL);
    pid_t pid = util_spawn();
    if (pid == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            TEST_SKIP("a mount namespace of its own: %s", strerror(errno));
        if (mount("none", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
            TEST_SKIP("mount -t tmpfs -o %s on /dev/shm: %s", opts, strerror(errno));
        body();
        _exit(0);
    }
    int rc = test_wait(pid);
    if (rc == 77)
        TEST_SKIP("(the line above says why)");
    if (rc != 0)
        test_fail(__FILE__, __LINE__, "the child with its own /dev/shm failed (%d)", rc);
}

unsigned long long util_vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    CHECK(f != NULL);
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    CHECK(kb > 0);
    return kb;
}

void util_with_hugetlbfs(void (*body)(const char *mnt), unsigned long long pages)
{
    if (geteuid() != 0)
        TEST_SKIP("mounting a private hugetlbfs needs root");
    util_need_free_hugepages(pages);
    with_private_mount("hugetlbfs", "mode=0700", body);
}

void util_with_tmpfs(void (*body)(const char *mnt), const char *size)
{
    if (geteuid() != 0)
        TEST_SKIP("mounting a private tmpfs needs root");
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
    with_private_mount("tmpfs", opts, body);
}

void util_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

double util_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

pid_t util_spawn(void)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(98); /* the test ended before the request took */
    }
    return pid;
}

void util_clear(char **out, char **err)
{
    free(*out);
    free(*err);
    *out = *err = NULL;
}
