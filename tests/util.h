/*
 * Helpers shared by the tests, beside the harness in test.h: raw POSIX objects made
 * without the library (to feed it foreign or damaged segments), the header checksum
 * recomputed from docs/FORMAT.md independently of the library, and small checks on /dev/shm.
 *
 * Names given to these helpers are as test_name() returns them, without the leading '/'.
 */
#ifndef SHMAP_TEST_UTIL_H
#define SHMAP_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "format.h"
#include "test.h"

/* Built with AddressSanitizer, which needs terabytes of address space: tests that set an
 * address space limit (ulimit -v) skip or cap allocations another way. */
#if defined(__SANITIZE_ADDRESS__)
#define UTIL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UTIL_ASAN 1
#endif
#endif

/* The checksum of a header's fixed part as docs/FORMAT.md defines it: FNV-1a's step over
 * the 31 native 64-bit words at 0..247, written here from the document. */
uint64_t util_header_checksum(const struct shmap__header *h);

/* Recompute the checksum of a header's fixed part (bytes 0..247). */
void util_fix_checksum(struct shmap__header *h);

/* Create a POSIX object exclusively holding `len` bytes of `buf` (mode 0600). CHECKs. */
void util_shm_write(const char *name, const void *buf, size_t len);

/* Size of a POSIX object in bytes, or -1 if there is none under the name. */
long long util_shm_size(const char *name);

/* Whether a POSIX object exists under the name. */
int util_shm_exists(const char *name);

/* Permission bits of a POSIX object, as the kernel reports them (CHECKs it exists). */
unsigned util_shm_mode(const char *name);

/* Remove a POSIX object if it exists. */
void util_shm_remove(const char *name);

/* ftruncate a POSIX object to `size` bytes. CHECKs. */
void util_shm_truncate(const char *name, long long size);

/* Read or write the header page of a POSIX object with pread/pwrite. CHECK. */
void util_header_read(const char *name, struct shmap__header *h);
void util_header_write(const char *name, const struct shmap__header *h);

/* Create a described segment with the library, kept after close, and close it. CHECKs. */
void util_make_kept(const char *name, shmap_dtype dtype, unsigned ndim, const uint64_t *dims);

/* A kept u8 segment of `n` elements under `name`, opened read-write. CHECKs. */
shmap_seg *util_kept_rdwr(const char *name, uint64_t n);

/* Number of hidden ".shmap-" objects in /dev/shm whose name contains `needle` (NULL: all). */
int util_count_hidden(const char *needle);

/* Remove hidden ".shmap-" objects whose name contains `needle`; return how many. */
int util_remove_hidden(const char *needle);

/*
 * Hidden objects of creations by process `pid` (".shmap-tmp-<pid>-..."): other test runs
 * on the machine may be creating segments, so tests count only their own processes'.
 */
int util_count_hidden_of(pid_t pid);
int util_remove_hidden_of(pid_t pid);

/* How many mappings of this process shmap_mappings() reports under a name (and its refs). */
int util_mapping_refs(const char *name, int *pending);

/* Whether /proc/self/maps shows a mapping of /dev/shm/<name>. */
int util_proc_maps_has(const char *name);

/*
 * This test's directory in /tmp ("/tmp/<test prefix>dir-XXXXXX"), made on first use; a
 * guard process outside the test's process group removes it when the test process ends,
 * however it ends.
 */
const char *util_test_dir(void);
/* The path of `leaf` in util_test_dir(), in one of 8 buffers used in turn: copy a path that
 * must outlive 7 more calls. */
const char *util_test_path(const char *leaf);
/* Write `len` bytes to a new (or emptied) file at `path`; CHECKs that all were written. */
void util_write_file(const char *path, const void *data, size_t len);
/* Read `fd` to its end (or until `buf` is full), NUL-terminate, close it; the bytes read. */
size_t util_read_to_end(int fd, char *buf, size_t size);
/* A whole file in a new buffer (NUL-terminated too; free() it); its length in *len. */
unsigned char *util_read_file(const char *path, size_t *len);

/* Whether this process maps anything whose /proc/self/maps line contains `path`. */
int util_maps_path(const char *path);

/* Huge pages: a number from /proc/meminfo ("HugePages_Free"; 0 if absent), the default
 * huge page size in bytes (0: none in this kernel), and those free and not promised. */
unsigned long long util_meminfo(const char *field);
size_t util_hugepage_size(void);
unsigned long long util_free_hugepages(void);

/* This process's address space in use (VmSize), in kB; CHECKs that it could be read. */
unsigned long long util_vm_size_kb(void);

/* Skip the test unless the kernel has huge pages and `n` of them are free (0: none needed). */
void util_need_free_hugepages(unsigned long long n);

/*
 * Run `body` in a child with a private hugetlbfs mount on this test's directory (commands
 * it runs inherit the mount namespace), when `pages` huge pages are free; returns with the
 * child's verdict (a skip is passed on). Root only: others skip. Nothing stays mounted.
 */
void util_with_hugetlbfs(void (*body)(const char *mnt), unsigned long long pages);

/*
 * The same with a private tmpfs of `size` bytes ("1m") on this test's directory: a small
 * file system to fill. Root only: others skip. Nothing stays mounted.
 */
void util_with_tmpfs(void (*body)(const char *mnt), const char *size);
/* Start `body(name)` as pid 1 of a new pid namespace (root), with a /proc of its own so
 * that its pids mean what they say there: the pid of the process that waits for it, which
 * exits 77 when the namespace cannot be made. util_pid_namespace_done() waits for it,
 * skipping the test on 77; util_in_new_pid_namespace() does both. */
pid_t util_spawn_in_new_pid_namespace(void (*body)(const char *), const char *name);
void util_pid_namespace_done(pid_t outer);
void util_in_new_pid_namespace(void (*body)(const char *), const char *name);
/* util_spawn_in_new_pid_namespace(), returning once `body` has called util_ns_ready() (its
 * setup done); a body that ends without it ends the test as util_pid_namespace_done() would,
 * skipped or failed. util_ns_ready(): 0, or -1 when the word could not be sent. */
pid_t util_spawn_ready_in_new_pid_namespace(void (*body)(const char *), const char *name);
int util_ns_ready(void);
/* Write a System V limit, /proc/sys/kernel/`what` (root, in an IPC namespace of the
 * test's own: the machine's are never changed). CHECKs. */
void util_write_kernel_limit(const char *what, unsigned long long v);
/* Whether the shmap command was built with CFITSIO: a FITS file with no image is refused as
 * such ("no image"), not as "FITS support not built". */
int util_fits_built(void);
/* Run body() in a child (root) whose /dev/shm is a tmpfs of its own, mounted with `opts`
 * ("size=1m,nr_inodes=4") in a mount namespace of its own: a full /dev/shm without
 * touching the machine's. The test fails if body does, skips where it cannot be made. */
void util_with_private_dev_shm(const char *opts, void (*body)(void));

/* Sleep `ms` milliseconds, through signals. */
void util_sleep_ms(long ms);

/* CLOCK_MONOTONIC in seconds. */
double util_now_s(void);

/*
 * Fork a child that dies with this test's process (PR_SET_PDEATHSIG), so a failing test
 * leaves no helper running. Returns the pid in the parent and 0 in the child.
 */
pid_t util_spawn(void);

/*
 * Fork a child (as util_spawn) that maps nothing of the parent's yet and waits for the word:
 * returns 0 in the child once util_go(*go) is called, the pid in the parent. A child whose
 * parent ends first exits 99.
 */
pid_t util_spawn_waiting(int *go);
void util_go(int go);

/*
 * Two pipes between a test and a child it forks: the child says a byte up ("locked",
 * "ready") and may wait for one down. The child's side exits the child (97 on send, 96 on
 * receive) when the pipe fails; the parent's side CHECKs.
 */
struct util_chan {
    int up[2];   /* child -> parent */
    int down[2]; /* parent -> child */
};
void util_chan_open(struct util_chan *c);
void util_chan_close(struct util_chan *c);
void util_child_send(struct util_chan *c, char b);
char util_child_recv(struct util_chan *c);
char util_parent_recv(struct util_chan *c);
void util_parent_send(struct util_chan *c, char b);

/*
 * A child that opens `name` with `open_flags` (shmap_open()'s), takes the lock with
 * `lock_flags` (0: none), waiting as long as it must, and sleeps until killed; returns once
 * it holds it (CHECKs that it could). util_spawn_holder() opens read-write.
 */
pid_t util_spawn_opener(const char *name, unsigned open_flags, unsigned lock_flags);
pid_t util_spawn_holder(const char *name, unsigned flags);

/* A child that sends SIGUSR1 to this process every @p every_ms milliseconds until killed
 * (util_kill9()); the caller sets the handler first. Signals that often cut every sleep of
 * a wait short. */
pid_t util_spawn_pest(int every_ms);
/* SIGUSR1 to a handler that does nothing, with @p flags (SA_RESTART or 0); or, with
 * @p on false, back to the default once ignored meanwhile (a pest's last signal may still
 * be on its way). */
void util_usr1_noop(bool on, int flags);

/* A child that, for @p seconds, creates (kept, u8[16]) and force-deletes @p a and @p b (NULL:
 * @p a alone) in turn, as fast as it can: a name that comes and goes under other calls. */
pid_t util_spawn_churn(const char *a, const char *b, double seconds);
/* A child that opens `name` read-write, begins a frame (shmap_write_begin), stores the
 * `elsize` bytes at `value` into the first half of its `n` elements and waits to be killed:
 * a writer caught mid-frame, every time. */
pid_t util_spawn_mid_frame_writer(const char *name, const void *value, size_t elsize,
                                  size_t n);

/* gc events gathered for a test, by util_gc_collect() as shmap_gc()'s callback (ctx: a
 * struct util_gc_events, zeroed first); the first 16 are kept, each with the detail message
 * a failed or kept one left ("" for the others). */
struct util_gc_events {
    int n;
    shmap_gc_event ev[16];
    char detail[16][512];
};
int util_gc_collect(const shmap_gc_event *ev, void *ctx);

/* How many entries a directory holds, "." and ".." aside, hidden names included. */
int util_dir_entries(const char *path);

/* SIGKILL a child of this test and reap it (CHECKs that the kill ended it). */
void util_kill9(pid_t pid);

/* A pid that is not running: a child of this test that has exited and been reaped. */
pid_t util_dead_pid(void);

/*
 * A pid that is not running and cannot be reused meanwhile: a child of this test that has
 * exited and is not reaped yet (test_wait() reaps it). The library counts a zombie dead,
 * while the runner's sweep of hidden objects, which asks kill(), leaves its objects alone:
 * so a leftover made by hand for this pid is neither removed nor reported as left behind
 * by another test run on the machine that ends meanwhile.
 */
pid_t util_zombie_pid(void);

/* The user and group nobody, whom tests that need a second user switch to in children. */
#define UTIL_NOBODY 65534

/* Skip the test unless it runs as root, which switching to another user needs. */
void util_need_root(void);

/* In a child: become nobody, every uid and gid, with no supplementary group. CHECKs. */
void util_become_nobody(void);
/* Run fn(name) as nobody in a child (util_become_nobody()), which fails the test if fn
 * does. */
void util_as_nobody(void (*fn)(const char *), const char *name);

/* A kept u64[16] segment, with create `flags` besides KEEP, made by a child that has exited
 * and been reaped; that child's pid. */
pid_t util_make_by_dead_creator(const char *name, unsigned flags);

/* Whether a System V segment (not yet removed) has `key`. */
int util_sysv_exists(key_t key);

/*
 * Wait (10 s at most) until no process maps segment `name` (a POSIX name, "file:PATH" or
 * "sysv://0xKEY"): the kernel counts no attach of the System V segment, or grants this
 * process a write lease on the object, as gc asks. A child that mapped it and has been
 * reaped may still map it: its memory is let go only when the last reference to it goes,
 * and a process reading its /proc/PID/maps or smaps as it exits (shmap ls or gc, ps) holds
 * one until its read ends. 1 once nothing maps it (or it is gone, or this cannot be
 * asked), else 0. The caller must not have it open itself.
 */
int util_wait_unmapped(const char *name);

/* Wait (10 s at most) until process `pid` is asleep (state S in /proc/PID/stat), as a
 * child blocked in a wait is; 1 once it is, else 0. */
int util_wait_asleep(pid_t pid);

/* Wait (10 s at most) until process `pid` no longer has signal `sig` pending: it has
 * taken it (run its handler, or died of it); 1 once it has, else 0. */
int util_wait_signal_taken(pid_t pid, int sig);

/* Wait until this test's child `pid` has ended, without reaping it: it stays a zombie
 * until test_wait(). CHECKs. */
void util_wait_zombie(pid_t pid);

/*
 * The upper bound, in seconds, on what the library promises to do at once or within a
 * fraction of a second: find a lock holder that was killed, tell a waiter its segment is
 * gone, end a wait on a signal. Those take 10-50 ms here, and a few times that under a
 * sanitizer; the bound is loose so that a loaded machine cannot fail it, and still fails
 * when the mechanism is broken and the wait runs to its timeout, which must then be well
 * above it (10 s in these tests).
 */
#define UTIL_PROMPT_S 3.0

/*
 * A child that leaves a System V segment of `bytes` under `key` as a creator killed while
 * creating it leaves it (the header marked INIT, which sysv_shm.c turns READY last),
 * detached; it writes a byte to `up` and then waits on `down` until killed or told.
 */
pid_t util_spawn_unfinished_sysv(const char *name, key_t key, uint64_t bytes, int up, int down);

/*
 * Run the shmap command with the arguments given into the caller's `out` and `err`
 * (char *, NULL or from an earlier RUN: freed first); fail the test unless it exits `want`.
 */
#define RUN(want, ...)                                                                        \
    do {                                                                                      \
        free(out);                                                                            \
        free(err);                                                                            \
        out = err = NULL;                                                                     \
        int run_rc_ = test_cli(&out, &err, NULL, __VA_ARGS__, NULL);                          \
        if (run_rc_ != (want))                                                                \
            test_fail(__FILE__, __LINE__, "shmap %s exited %d, expected %d\nstderr: %s",      \
                      #__VA_ARGS__, run_rc_, (want), err ? err : "");                         \
    } while (0)

/* A command's stderr is one error line, "shmap: ..." containing `needle`. */
#define CHECK_ERROR_LINE(err, needle)                                                         \
    do {                                                                                      \
        const char *el_ = (err);                                                              \
        CHECK(el_ && strncmp(el_, "shmap: ", 7) == 0);                                        \
        const char *nl_ = strchr(el_, '\n');                                                  \
        if (!nl_ || nl_[1] != '\0')                                                           \
            test_fail(__FILE__, __LINE__, "not one line on stderr: \"%s\"", el_);             \
        CHECK_CONTAINS(el_, needle);                                                          \
    } while (0)

/* A usage error of command `cmd`: one line "shmap: ..." containing `needle` and ending
 * with the pointer to the command's help, "(see shmap help CMD)", and nothing else. */
#define CHECK_USAGE_ERROR(err, cmd, needle)                                                   \
    do {                                                                                      \
        const char *ul_ = (err);                                                              \
        CHECK_ERROR_LINE(ul_, needle);                                                        \
        const char *tail_ = " (see shmap help " cmd ")\n";                                     \
        size_t ulen_ = strlen(ul_), tlen_ = strlen(tail_);                                    \
        if (ulen_ < tlen_ || strcmp(ul_ + ulen_ - tlen_, tail_) != 0)                         \
            test_fail(__FILE__, __LINE__, "not a usage error of %s: \"%s\"", cmd, ul_);      \
    } while (0)

/* Free two captured outputs and reset the pointers. */
void util_clear(char **out, char **err);

/*
 * Check that a failing call left a detail naming the segment: shmap_last_error()
 * contains `name`. A macro so the failure points at the caller's line.
 */
#define CHECK_DETAIL_NAMES(name) CHECK_CONTAINS(shmap_last_error(), (name))

#endif
