/* Error codes, their names and messages (from the one table in shmap.h), and the
 * thread-local detail message. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_error[512];

int shmap__err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
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
