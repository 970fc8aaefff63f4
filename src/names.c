/* Segment names: which store a name picks, validation with precise errors, fresh names. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "store.h"

const char *shmap_store_name(shmap_store store)
{
    switch (store) {
    case SHMAP_STORE_POSIX: return "posix";
    case SHMAP_STORE_SYSV: return "sysv";
    case SHMAP_STORE_FILE: return "file";
    case SHMAP_STORE_MEMFD: return "memfd";
    }
    return "?";
}

static int check_posix(const char *text, const char *base, struct shmap__name *out)
{
    /* One pass finds the length, a '/' and control characters (attach runs this). */
    const unsigned char *c = (const unsigned char *)base;
    const unsigned char *slash = NULL, *ctrl = NULL;
    for (; *c; c++) {
        if (*c == '/' && !slash)
            slash = c;
        else if ((*c < 0x20 || *c == 0x7f) && !ctrl)
            ctrl = c;
    }
    size_t len = (size_t)(c - (const unsigned char *)base);
    if (len == 0)
        return shmap__err(SHMAP_EBADNAME, "'%s': empty segment name", text);
    if (len > NAME_MAX)
        return shmap__err(SHMAP_EBADNAME, "'%.40s...': name is %zu bytes, at most %d", text, len,
                          NAME_MAX);
    if (slash)
        return shmap__err(SHMAP_EBADNAME, "'%s': '/' is allowed only at the start of a name",
                          text);
    if (base[0] == '.' && (len == 1 || (len == 2 && base[1] == '.')))
        return shmap__err(SHMAP_EBADNAME, "'%s': not a valid segment name", text);
    if (base[0] == '.' && strncmp(base, ".shmap-", 7) == 0)
        return shmap__err(SHMAP_EBADNAME,
                          "'%s': names starting with '.shmap-' are reserved for segments "
                          "being created", text);
    if (ctrl)
        return shmap__err(SHMAP_EBADNAME, "'%s': control character 0x%02x in name", text, *ctrl);
    if (out) {
        out->store = SHMAP_STORE_POSIX;
        memcpy(out->name, base, len + 1);
        out->os_handle[0] = '/';
        memcpy(out->os_handle + 1, base, len + 1);
    }
    return 0;
}

int shmap__name_parse(const char *text, struct shmap__name *out)
{
    if (!text || !*text)
        return shmap__err(SHMAP_EBADNAME, "empty segment name");
    /* Only a name with a colon can name a store; the common plain name skips the prefixes. */
    if (!strchr(text, ':'))
        return check_posix(text, text[0] == '/' ? text + 1 : text, out);
    if (strncmp(text, "shm://", 6) == 0 || strncmp(text, "shmem://", 8) == 0) {
        const char *base = strchr(text, ':') + 3;
        return check_posix(text, base[0] == '/' ? base + 1 : base, out);
    }
    if (strncmp(text, "sysv://", 7) == 0)
        return shmap__sysv_parse(text, text + 7, out);
    if (strncmp(text, "file://", 7) == 0)
        return shmap__file_parse(text, text + 7, out);
    if (strncmp(text, "file:", 5) == 0)
        return shmap__file_parse(text, text + 5, out);
    if (strncmp(text, "memfd:", 6) == 0) {
        /* A label for /proc/PID/fd and /proc/PID/maps, not a name anyone can open. */
        size_t len = strlen(text + 6);
        if (len > 200 || strchr(text + 6, '/'))
            return shmap__err(SHMAP_EBADNAME, "'%.40s%s': a memfd label is at most 200 bytes "
                                              "with no '/'", text,
                              strlen(text) > 40 ? "..." : "");
        if (out) {
            out->store = SHMAP_STORE_MEMFD;
            snprintf(out->name, sizeof out->name, "memfd:%s", len ? text + 6 : "shmap");
            out->os_handle[0] = '\0';
        }
        return 0;
    }
    const char *colon = strstr(text, "://");
    if (colon) {
        return shmap__err(SHMAP_EBADNAME, "'%s': unknown store '%.*s://' (use shm://, "
                                          "shmem://, sysv://, file://)",
                          text, (int)(colon - text), text);
    }
    return check_posix(text, text[0] == '/' ? text + 1 : text, out);
}

int shmap_name_check(const char *name, shmap_store *store)
{
    struct shmap__name n;
    int rc = shmap__name_parse(name, &n);
    if (rc == 0 && store)
        *store = n.store;
    return rc;
}

int shmap_name_unique(char *buf, size_t size, const char *prefix)
{
    static atomic_uint counter;
    if (!buf)
        return shmap__err(SHMAP_EINVAL, "shmap_name_unique: NULL buffer");
    if (!prefix)
        prefix = "shmap";
    struct shmap__name n;
    int rc = shmap__name_parse(prefix, &n);
    if (rc < 0)
        return rc;
    if (n.store != SHMAP_STORE_POSIX)
        return shmap__err(SHMAP_EBADNAME, "prefix '%s' names a %s object: unique names are "
                                          "POSIX segment names (a plain prefix)",
                          prefix, shmap_store_name(n.store));
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t r;
        if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
            r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)atomic_load(&counter);
        /* Made whole first: a prefix too long for any name is the fault to report, not a
         * buffer that no size would make big enough. */
        char made[NAME_MAX + 32];
        int len = snprintf(made, sizeof made, "%s-%08x-%u", n.name, r,
                           atomic_fetch_add(&counter, 1) + 1);
        if (len < 0 || len > NAME_MAX)
            return shmap__err(SHMAP_EBADNAME, "prefix '%s' is too long for a unique name",
                              prefix);
        if ((size_t)len >= size)
            return shmap__err(-ERANGE, "unique name from prefix '%s' needs %d bytes, buffer "
                                       "has %zu", prefix, len + 1, size);
        memcpy(buf, made, (size_t)len + 1);
        char handle[SHMAP_NAME_MAX + 1];
        snprintf(handle, sizeof handle, "/%s", buf);
        /* O_NONBLOCK: a FIFO there must not hang, and an object under a lease (shmap gc
         * asks for one a moment) fails with EWOULDBLOCK: either way the name is taken. */
        int fd = shm_open(handle, O_RDONLY | O_NONBLOCK, 0);
        if (fd >= 0 || errno == EWOULDBLOCK) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (errno == ENOENT)
            return 0;
        int e = errno;
        if (e != EACCES)
            return shmap__err(-e, "unique name: checking '%s': %s%s", buf, strerror(e),
                              shmap__fd_hint(e));
    }
    return shmap__err(-EEXIST, "no unique name found with prefix '%s'", prefix);
}
