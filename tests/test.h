/*
 * The test harness: each TEST runs in its own forked process with a timeout (see runner.c).
 * A test fails by exiting non-zero; CHECK and friends print where and why, then exit.
 *
 * Every test makes its segment names with test_name(), which prefixes them with the
 * runner's pid and the test's index, and its System V keys with test_sysv_key(). After
 * each test the runner removes whatever still carries that prefix or one of those keys,
 * and fails a passing test that left something behind.
 */
#ifndef SHMAP_TEST_H
#define SHMAP_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "shmap.h"

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn, const char *file);

#define TEST(name)                                                                            \
    static void test_##name(void);                                                            \
    __attribute__((constructor)) static void test_reg_##name(void)                            \
    {                                                                                         \
        test_register(#name, test_##name, __FILE__);                                          \
    }                                                                                         \
    static void test_##name(void)

__attribute__((noreturn, format(printf, 3, 4))) void test_fail(const char *file, int line,
                                                                 const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void test_skip(const char *fmt, ...);

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond))                                                                          \
            test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                         \
    } while (0)

/* A library call that must succeed; prints the code and detail otherwise. */
#define CHECK_OK(expr)                                                                        \
    do {                                                                                      \
        int test_rc_ = (expr);                                                                \
        if (test_rc_ < 0)                                                                     \
            test_fail(__FILE__, __LINE__, "%s returned %s (%s): %s", #expr,                   \
                      shmap_errname(test_rc_), shmap_strerror(test_rc_), shmap_last_error()); \
    } while (0)

/* A library call that must fail with exactly this code. */
#define CHECK_ERR(expr, code)                                                                 \
    do {                                                                                      \
        int test_rc_ = (expr);                                                                \
        if (test_rc_ != (code))                                                               \
            test_fail(__FILE__, __LINE__, "%s returned %s, expected %s (detail: %s)", #expr,  \
                      shmap_errname(test_rc_), shmap_errname(code), shmap_last_error());      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                    \
    do {                                                                                      \
        long long test_a_ = (long long)(a), test_b_ = (long long)(b);                         \
        if (test_a_ != test_b_)                                                               \
            test_fail(__FILE__, __LINE__, "%s == %s failed: %lld != %lld", #a, #b, test_a_,   \
                      test_b_);                                                               \
    } while (0)

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *test_a_ = (a), *test_b_ = (b);                                            \
        if (!test_a_ || !test_b_ || strcmp(test_a_, test_b_) != 0)                            \
            test_fail(__FILE__, __LINE__, "%s == %s failed: \"%s\" != \"%s\"", #a, #b,        \
                      test_a_ ? test_a_ : "(null)", test_b_ ? test_b_ : "(null)");            \
    } while (0)

/* Does haystack contain needle? */
#define CHECK_CONTAINS(hay, needle)                                                           \
    do {                                                                                      \
        const char *test_h_ = (hay), *test_n_ = (needle);                                     \
        if (!test_h_ || !strstr(test_h_, test_n_))                                            \
            test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",                   \
                      test_h_ ? test_h_ : "(null)", test_n_);                                 \
    } while (0)

#define TEST_SKIP(...) test_skip(__VA_ARGS__)

/* A segment name unique to this test: "shmapt-<runner pid>-<test index>-<suffix>". */
const char *test_name(const char *suffix);
/* The prefix every name of this test starts with. */
const char *test_prefix(void);
/*
 * A System V key unique to this test: a new one at each call, up to 255 per test. Call it
 * in the test's own process (not in a child it forks): the keys derive from its pid.
 */
key_t test_sysv_key(void);

/*
 * Run the shmap command (SHMAP_BIN, else build/shmap) with the given arguments, which
 * end with NULL. stdin is /dev/null unless `input` is non-NULL. Captures stdout and stderr
 * (each up to 1 MiB, NUL-terminated, to be freed by the caller; either pointer may be NULL
 * to discard). Returns the exit status, or 128+signal if it died of a signal.
 */
int test_cli(char **out, char **err, const char *input, ...) __attribute__((sentinel));

/* Run a shell command line (sh -c) the same way. */
int test_sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Path of the shmap command. */
const char *test_shmap_bin(void);

/* Wait for a child; return its exit status, or 128+signal. */
int test_wait(pid_t pid);

#endif
