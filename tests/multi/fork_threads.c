/*
 * fork() while another thread is inside the library: the child starts with none of the
 * library's mutexes held (a thread that held one does not exist in the child), so it can
 * open, lock and close as the docs promise, instead of waiting for ever.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util.h"

struct churn {
    const char *name;
    volatile int stop;
    int id;
};

/* Open, lock and close, read-write and read-only by turns, until told to stop: the thread
 * is inside the registry's and the attach table's critical sections much of the time. */
static void *churn(void *arg)
{
    struct churn *c = arg;
    for (long i = 0; !c->stop; i++) {
        shmap_seg *s = NULL;
        if (shmap_open(&s, c->name, ((i + c->id) & 1) ? SHMAP_RDWR : SHMAP_RDONLY) == 0) {
            if (shmap_lock(s, i % 3 ? SHMAP_LOCK_SHARED : SHMAP_LOCK_EXCLUSIVE, 5) >= 0)
                shmap_unlock(s);
            shmap_close(s);
        }
    }
    return NULL;
}

TEST(multi__a_child_forked_while_other_threads_are_in_the_library_is_not_stuck)
{
    const char *name = test_name("forkthr");
    const uint64_t dims[1] = {1024};
    util_make_kept(name, SHMAP_U8, 1, dims);
    struct churn c[2] = {{name, 0, 0}, {name, 0, 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, churn, &c[i]) == 0);
    int stuck = 0, failed = 0;
    for (int round = 0; round < 40; round++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            alarm(10); /* a child that waits for ever ends here, counted as stuck */
            shmap_seg *s = NULL;
            int ok = shmap_open(&s, name, SHMAP_RDWR) == 0 &&
                     shmap_lock(s, SHMAP_LOCK_EXCLUSIVE, 5) >= 0 && shmap_unlock(s) == 0 &&
                     shmap_close(s) == 0;
            _exit(ok ? 0 : 1);
        }
        int rc = test_wait(pid);
        stuck += rc == 128 + SIGALRM;
        failed += rc != 0 && rc != 128 + SIGALRM;
        util_sleep_ms(2);
    }
    for (int i = 0; i < 2; i++) {
        c[i].stop = 1;
        pthread_join(t[i], NULL);
    }
    CHECK_OK(shmap_delete(name, 5, 0));
    if (stuck || failed)
        test_fail(__FILE__, __LINE__, "of 40 children forked, %d stuck and %d failed", stuck,
                  failed);
}
