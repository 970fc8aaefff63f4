/* Error codes, their names and messages (from the one table in shmap.h), and the
 * thread-local detail message. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[SHMAP__ERR_SIZE];

void shmap__err_keep(char saved[SHMAP__ERR_SIZE])
{
    memcpy(saved, last_error, strlen(last_error) + 1);
}

void shmap__err_put_back(const char saved[SHMAP__ERR_SIZE])
{
    memcpy(last_error, saved, strlen(saved) + 1);
}

/* Is byte `c` inside a UTF-8 sequence (not where a character starts)? */
static int continues(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/*
 * A message longer than the buffer (names may be paths of 4 KiB) keeps its start and its
 * end, where the reason is, and loses the middle, written "...", cut between characters.
 */
int shmap__err(int code, const char *fmt, ...)
{
    char full[2 * SHMAP_NAME_MAX + sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(full, sizeof full, fmt, ap);
    va_end(ap);
    if (n < 0)
        full[0] = '\0';
    size_t len = n < 0 ? 0 : (size_t)n < sizeof full ? (size_t)n : sizeof full - 1;
    if (len < sizeof last_error) {
        memcpy(last_error, full, len + 1);
        return code;
    }
    size_t head = sizeof last_error / 2 - 2, tail = len - (sizeof last_error - head - 4);
    while (head > 0 && continues(full[head]))
        head--;
    while (tail < len && continues(full[tail]))
        tail++;
    memcpy(last_error, full, head);
    memcpy(last_error + head, "...", 3);
    memcpy(last_error + head + 3, full + tail, len - tail + 1);
    return code;
}

const char *shmap_version(void)
{
    return SHMAP_VERSION_STRING;
}

const char *shmap_last_error(void)
{
    return last_error;
}

const char *shmap_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define SHMAP__ERR_MSG(name, value, msg) \
    case SHMAP_##name:                   \
        return msg;
        SHMAP_ERRNO_MAP(SHMAP__ERR_MSG)
#undef SHMAP__ERR_MSG
    }
    if (err < 0 && err > -4096) {
        const char *name = strerrorname_np(-err);
        if (name)
            return strerror(-err);
    }
    return "unknown error";
}

const char *shmap_errname(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define SHMAP__ERR_NAME(name, value, msg) \
    case SHMAP_##name:                    \
        return "SHMAP_" #name;
        SHMAP_ERRNO_MAP(SHMAP__ERR_NAME)
#undef SHMAP__ERR_NAME
    }
    if (err < 0 && err > -4096) {
        const char *name = strerrorname_np(-err);
        if (name)
            return name;
    }
    return "UNKNOWN";
}
