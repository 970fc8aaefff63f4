/*
 * Backing stores across processes: a System V segment and a file attached by name from a
 * process that did not map them, a memfd shared with a child after fork, and a memfd
 * passed to an unrelated process over a Unix socket (SCM_RIGHTS).
 */
#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "../util.h"

/* In the child: attach by name, check the value the parent wrote, write another. */
static void child_sees_and_writes(const char *name)
{
    shmap_seg *seg;
    if (shmap_open(&seg, name, SHMAP_RDWR) < 0)
        _exit(1);
    int32_t *d = shmap_data(seg);
    if (d[1] != 111)
        _exit(2);
    d[2] = 222;
    shmap_close(seg);
    _exit(0);
}

TEST(stores__sysv_segment_seen_by_another_process_then_removed)
{
    key_t key = test_sysv_key();
    char name[64];
    snprintf(name, sizeof name, "sysv://0x%x", (unsigned)key);
    int gofd;
    pid_t pid = util_spawn_waiting(&gofd);
    if (pid == 0)
        child_sees_and_writes(name);
    uint64_t n = 10;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, &n, NULL));
    ((int32_t *)shmap_data(seg))[1] = 111;
    util_go(gofd);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[2], 222);
    CHECK_OK(shmap_close(seg));
    CHECK(shmget(key, 0, 0) < 0);
}

TEST(stores__file_segment_seen_by_another_process)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160], path[128];
    snprintf(path, sizeof path, "%s/seg.dat", dir);
    snprintf(name, sizeof name, "file://%s", path);
    int gofd;
    pid_t pid = util_spawn_waiting(&gofd);
    if (pid == 0)
        child_sees_and_writes(name);
    uint64_t n = 10;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, name, SHMAP_I32, 1, &n, NULL));
    ((int32_t *)shmap_data(seg))[1] = 111;
    util_go(gofd);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[2], 222);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
    CHECK(rmdir(dir) == 0);
}

TEST(stores__memfd_shared_with_a_child_after_fork)
{
    uint64_t n = 10;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, "memfd:frames", SHMAP_I32, 1, &n, NULL));
    ((int32_t *)shmap_data(seg))[1] = 111;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int32_t *d = shmap_data(seg);
        if (d[1] != 111)
            _exit(2);
        d[2] = 222;
        shmap_close(seg);
        _exit(0);
    }
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[2], 222);
    CHECK_OK(shmap_close(seg));
}

static int send_fd(int sock, int fd)
{
    char byte = 'f';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    if (recvmsg(sock, &msg, 0) != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

TEST(stores__memfd_passed_over_a_unix_socket_to_an_unrelated_process)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fflush(NULL);
    pid_t pid = fork(); /* before the segment exists: the child inherits no mapping */
    CHECK(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        int fd = recv_fd(sv[1]);
        if (fd < 0)
            _exit(1);
        shmap_seg *seg;
        if (shmap_open_fd(&seg, fd, SHMAP_RDWR) < 0)
            _exit(2);
        close(fd);
        shmap_info info;
        if (shmap_info_get(seg, &info) < 0 || info.store != SHMAP_STORE_MEMFD ||
            info.dims[0] != 10)
            _exit(3);
        int32_t *d = shmap_data(seg);
        if (d[1] != 111)
            _exit(4);
        d[2] = 222;
        shmap_keyword kw;
        if (shmap_keyword_parse("FROM=child", &kw) < 0 || shmap_keyword_set(seg, &kw) < 0)
            _exit(5);
        shmap_close(seg);
        _exit(write(sv[1], "d", 1) == 1 ? 0 : 6);
    }
    close(sv[1]);
    uint64_t n = 10;
    shmap_seg *seg;
    CHECK_OK(shmap_create(&seg, NULL, SHMAP_I32, 1, &n, NULL));
    ((int32_t *)shmap_data(seg))[1] = 111;
    CHECK_OK(send_fd(sv[0], shmap_fd(seg)));
    char c;
    CHECK(read(sv[0], &c, 1) == 1);
    CHECK_EQ_INT(test_wait(pid), 0);
    CHECK_EQ_INT(((int32_t *)shmap_data(seg))[2], 222);
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_get(seg, "FROM", &kw));
    CHECK_STR(kw.s, "child");
    CHECK_OK(shmap_close(seg));
    close(sv[0]);
}
