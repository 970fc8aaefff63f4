/*
 * Messages that say what is really wrong: an O_PATH descriptor handed to shmap_open_fd()
 * (it duplicates and fstats like any other, then cannot be read); a record field list in a
 * segment that does not parse (the parser's own reason, not a size mismatch); a private
 * open asked to hold the lock, and a lock then taken through the private handle, which
 * the refusal must not contradict.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "../util.h"

TEST(messages__an_o_path_descriptor_is_named_as_such)
{
    const char *name = test_name("opath");
    char path[SHMAP_NAME_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    util_make_kept(name, SHMAP_U8, 1, (const uint64_t[]){8});
    int fd = open(path, O_PATH | O_CLOEXEC);
    CHECK(fd >= 0);
    shmap_seg *seg = NULL;
    const unsigned flags[] = {SHMAP_RDONLY, SHMAP_RDWR, SHMAP_PRIVATE};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        CHECK_ERR(shmap_open_fd(&seg, fd, flags[i]), -EBADF);
        char want[64];
        snprintf(want, sizeof want, "descriptor %d is an O_PATH descriptor", fd);
        CHECK_CONTAINS(shmap_last_error(), want);
        CHECK_CONTAINS(shmap_last_error(), "cannot be read or mapped");
    }
    close(fd);
    CHECK_OK(shmap_unlink(name));
}

/* A record segment whose field list is rewritten in place to `fields` (as long as the
 * original, so that every offset and size still checks): opening it says `want`. */
static void record_list_refused(const char *fields, const char *want)
{
    const char *name = test_name("rec");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    opts.record_fields = "xx:f4,yy:u1";
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, (const uint64_t[]){3}, &opts));
    CHECK_OK(shmap_close(seg));
    struct shmap__header h;
    util_header_read(name, &h);
    char path[SHMAP_NAME_MAX + 16], was[32] = {0};
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(pread(fd, was, h.rec_len, (off_t)h.rec_offset) == (ssize_t)h.rec_len);
    CHECK_EQ_INT(strlen(fields) + 1, h.rec_len);
    CHECK(pwrite(fd, fields, h.rec_len, (off_t)h.rec_offset) == (ssize_t)h.rec_len);
    close(fd);
    CHECK_ERR(shmap_open(&seg, name, SHMAP_RDONLY), SHMAP_ECORRUPT);
    CHECK_DETAIL_NAMES(name);
    CHECK_CONTAINS(shmap_last_error(), want);
    CHECK_OK(shmap_delete(name, 0, SHMAP_DELETE_FORCE));
}

TEST(messages__a_record_field_list_that_does_not_parse_says_why)
{
    record_list_refused("xx:f4,xx:u1", "record field list 'xx:f4,xx:u1' is not valid: field "
                                       "name 'xx' appears twice");
    record_list_refused("xx:q4,yy:u1", "is not valid: field 'xx' has an unknown type 'q4'");
    record_list_refused("xx:f4,y[:u1", "is not valid: field 2 has a bad name 'y['");
    /* One that parses, of another size, says so. */
    record_list_refused("xx:f4,yy:u2", "record field list 'xx:f4,yy:u2' describes 6-byte "
                                       "elements, not the segment's 5-byte ones");
}

TEST(messages__a_private_open_refuses_to_hold_but_its_handle_may_lock)
{
    const char *dir = util_test_dir(); /* removed by its guard should a CHECK fail */
    char name[160];
    snprintf(name, sizeof name, "file:%s/seg", dir);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){8}, &opts));
    CHECK_OK(shmap_close(seg));
    CHECK_ERR(shmap_open(&seg, name, SHMAP_PRIVATE | SHMAP_HOLD), SHMAP_EINVAL);
    CHECK_CONTAINS(shmap_last_error(), "SHMAP_HOLD is refused with SHMAP_PRIVATE: holding the "
                                       "segment's lock while open needs write access, which a "
                                       "private open does not ask for (take it with "
                                       "shmap_lock() if this user may write the segment)");
    /* As it says: the private handle takes the segment's own lock (root may write). */
    CHECK_OK(shmap_open(&seg, name, SHMAP_PRIVATE));
    CHECK_OK(shmap_lock(seg, SHMAP_LOCK_SHARED, 1.0));
    shmap_lockinfo li;
    CHECK_OK(shmap_lock_info(seg, &li));
    CHECK_EQ_INT(li.shared, 1);
    CHECK_OK(shmap_unlock(seg));
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
    CHECK(rmdir(dir) == 0);
}

/*
 * A message longer than the detail's buffer (a path of kilobytes) keeps its start and its
 * end, which says what went wrong, and loses the middle, cut between UTF-8 characters.
 */
TEST(messages__a_long_message_keeps_its_reason)
{
    char dir[256], name[2048];
    memset(dir, 0, sizeof dir);
    for (int i = 0; i < 100; i++)
        memcpy(dir + 2 * i, "\xc3\xa9", 2); /* U+00E9, two bytes */
    snprintf(name, sizeof name, "file:/nonexistent-%d/%s/%s/%s/%s/x", (int)getpid(), dir, dir,
             dir, dir);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_create(&seg, name, SHMAP_U8, 1, (const uint64_t[]){4}, NULL), -ENOENT);
    const char *msg = shmap_last_error();
    size_t len = strlen(msg);
    CHECK(len < 512);
    CHECK_CONTAINS(msg, "file:/nonexistent-");
    CHECK_CONTAINS(msg, "...");
    const char *reason = "No such file or directory";
    CHECK(len > strlen(reason) && strcmp(msg + len - strlen(reason), reason) == 0);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == 0xc3)
            CHECK_EQ_INT((unsigned char)msg[i + 1], 0xa9);
        if (c == 0xa9)
            CHECK(i > 0 && (unsigned char)msg[i - 1] == 0xc3);
    }
}

/* A creation that succeeds after inner steps failed (an open that finds nothing, for
 * SHMAP_CREATE_OPEN; a replace with nothing to replace) leaves the detail as it was. */
TEST(messages__a_successful_create_leaves_the_detail_as_it_was)
{
    shmap_seg *seg = NULL;
    char missing[300];
    snprintf(missing, sizeof missing, "%s", test_name("nothere"));
    CHECK_ERR(shmap_open(&seg, missing, SHMAP_RDONLY), -ENOENT);
    char before[512];
    snprintf(before, sizeof before, "%s", shmap_last_error());
    const unsigned flags[] = {SHMAP_CREATE_OPEN, SHMAP_CREATE_REPLACE};
    for (size_t i = 0; i < 2; i++) {
        char sysv[64];
        snprintf(sysv, sizeof sysv, "sysv://0x%08x", (unsigned)test_sysv_key());
        const char *names[] = {test_name("leave"), sysv};
        for (size_t k = 0; k < 2; k++) {
            shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
            opts.flags = flags[i];
            CHECK_OK(shmap_create(&seg, names[k], SHMAP_U8, 1, (const uint64_t[]){4}, &opts));
            CHECK_STR(shmap_last_error(), before);
            CHECK_OK(shmap_close(seg));
        }
    }
}

/* A listing that meets an object that is not a segment says why in its entry, and leaves
 * the caller's detail as it was. */
TEST(messages__a_successful_listing_leaves_the_detail_as_it_was)
{
    const char *foreign = test_name("foreign");
    char junk[100];
    memset(junk, 'j', sizeof junk);
    util_shm_write(foreign, junk, sizeof junk);
    shmap_seg *seg = NULL;
    CHECK_ERR(shmap_open(&seg, test_name("nothere"), SHMAP_RDONLY), -ENOENT);
    char before[512];
    snprintf(before, sizeof before, "%s", shmap_last_error());
    shmap_entry *list = NULL;
    size_t count = 0;
    CHECK_OK(shmap_list(&list, &count, SHMAP_LIST_ALL));
    int seen = 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i].info.name, foreign) == 0) {
            seen = 1;
            CHECK_CONTAINS(list[i].error, "not a shmap segment");
        }
    shmap_list_free(list);
    CHECK(seen);
    CHECK_STR(shmap_last_error(), before);
    CHECK_OK(shmap_unlink(foreign));
}
