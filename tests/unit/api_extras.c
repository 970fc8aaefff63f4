/* Keyword readers facing abandoned or stuck changes, and small API facts. */
#include <ctype.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util.h"

static void make_segment_with_keyword(const char *name)
{
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP;
    const uint64_t dims[1] = {4};
    shmap_seg *seg = NULL;
    shmap_keyword kw;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, dims, &opts));
    CHECK_OK(shmap_keyword_parse("GAIN=2", &kw));
    CHECK_OK(shmap_keyword_set(seg, &kw));
    CHECK_OK(shmap_close(seg));
}

TEST(keyword__an_odd_sequence_with_no_writer_does_not_hang_readers)
{
    const char *name = test_name("kwnolock");
    make_segment_with_keyword(name);
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock = 0;
    h.kw_seq |= 1;
    util_header_write(name, &h);
    shmap_seg *seg = NULL;
    shmap_keyword kw;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    CHECK_OK(shmap_keyword_get(seg, "gain", &kw));
    CHECK_EQ_INT(kw.i, 2);
    CHECK_EQ_INT(shmap_keyword_list(seg, NULL, 0), 1);
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(keyword__a_live_writer_that_never_finishes_is_reported_busy)
{
    const char *name = test_name("kwstuck");
    make_segment_with_keyword(name);
    pid_t stuck = fork();
    if (stuck == 0) {
        pause();
        _exit(0);
    }
    struct shmap__header h;
    util_header_read(name, &h);
    h.kw_lock = (uint32_t)stuck;
    h.kw_seq |= 1;
    util_header_write(name, &h);
    shmap_seg *seg = NULL;
    shmap_keyword kw;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    int rc = shmap_keyword_get(seg, "GAIN", &kw);
    kill(stuck, SIGKILL);
    test_wait(stuck);
    CHECK_ERR(rc, -EBUSY);
    CHECK_CONTAINS(shmap_last_error(), "being changed by pid");
    CHECK_OK(shmap_close(seg));
    util_shm_remove(name);
}

TEST(keyword__parse_refuses_control_characters_that_set_would_refuse)
{
    shmap_keyword kw;
    CHECK_ERR(shmap_keyword_parse("OBJECT=a\tb", &kw), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("OBJECT='a\tb'", &kw), SHMAP_EKEYWORD);
    CHECK_ERR(shmap_keyword_parse("GAIN=2 / a\x01", &kw), SHMAP_EKEYWORD);
    CHECK_OK(shmap_keyword_parse("OBJECT='M 31' / the target", &kw));
    CHECK_STR(kw.s, "M 31");
    CHECK_STR(kw.comment, "the target");
}

TEST(create__open_or_create_tells_created_from_opened)
{
    const char *name = test_name("created");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_OPEN;
    const uint64_t dims[1] = {8};
    shmap_seg *first = NULL, *second = NULL, *opened = NULL;
    CHECK_OK(shmap_create(&first, name, SHMAP_F64, 1, dims, &opts));
    CHECK_EQ_INT(shmap_created(first), 1);
    CHECK_OK(shmap_open(&opened, name, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_created(opened), 0);
    CHECK_OK(shmap_close(opened));
    /* A second open-or-create gets a reference to the mapping this process created. */
    CHECK_OK(shmap_create(&second, name, SHMAP_F64, 1, dims, &opts));
    CHECK_EQ_INT(shmap_created(second), 1);
    CHECK_EQ_INT(shmap_created(NULL), 0);
    CHECK_OK(shmap_close(second));
    CHECK_OK(shmap_close(first));
    CHECK(!util_shm_exists(name));
}

TEST(version__the_library_reports_the_version_of_its_header)
{
    CHECK_STR(shmap_version(), SHMAP_VERSION_STRING);
    CHECK_EQ_INT(SHMAP_KEYWORD_CAPACITY_DEFAULT, 32);
}

/* The manual pages give the version of the header they describe (run from the source tree,
 * as make check does). */
TEST(version__the_manual_pages_give_the_header_version)
{
    char want[128];
    size_t len = 0;
    unsigned char *page = NULL;
    if (access("docs/shmap.3", R_OK) != 0)
        TEST_SKIP("docs/shmap.3 not found: run from the source tree");
    page = util_read_file("docs/shmap.3", &len);
    snprintf(want, sizeof want, "\"shmap %s\"", SHMAP_VERSION_STRING);
    CHECK_CONTAINS((char *)page, want);
    snprintf(want, sizeof want,
             ".B SHMAP_VERSION_MAJOR\n(%d),\n.B SHMAP_VERSION_MINOR\n(%d),\n"
             ".B SHMAP_VERSION_PATCH\n(%d) and\n.B SHMAP_VERSION_STRING\n(\"%s\")",
             SHMAP_VERSION_MAJOR, SHMAP_VERSION_MINOR, SHMAP_VERSION_PATCH, SHMAP_VERSION_STRING);
    CHECK_CONTAINS((char *)page, want);
    free(page);
    page = util_read_file("docs/shmap.1", &len);
    snprintf(want, sizeof want, "\"shmap %s\"", SHMAP_VERSION_STRING);
    CHECK_CONTAINS((char *)page, want);
    free(page);
}

/* Resident kilobytes of this process's mapping of /dev/shm/<name> (/proc/self/smaps). */
static long mapping_rss_kb(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    FILE *f = fopen("/proc/self/smaps", "r");
    CHECK(f != NULL);
    char line[1024];
    long rss = -1;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        /* A mapping's first line starts "START-END perms ..."; its fields "Name: ...". */
        const char *dash = strchr(line, '-'), *space = strchr(line, ' ');
        if (isxdigit((unsigned char)line[0]) && dash && space && dash < space)
            in = strstr(line, path) != NULL;
        else if (in && strncmp(line, "Rss:", 4) == 0)
            rss = strtol(line + 4, NULL, 10);
    }
    fclose(f);
    return rss;
}

TEST(info__at_open_reads_nothing_of_the_segment_and_keeps_the_generation_then)
{
    const char *name = test_name("atopen");
    const uint64_t dims[2] = {3, 5};
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_KEEP;
    o.record_fields = NULL;
    shmap_seg *w = NULL, *r = NULL;
    CHECK_OK(shmap_create(&w, name, SHMAP_I16, 2, dims, &o));
    CHECK_OK(shmap_publish(w));
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_open(&r, name, SHMAP_RDONLY));
    shmap_info a, b;
    CHECK_OK(shmap_info_at_open(r, &a));
    CHECK_EQ_INT(mapping_rss_kb(name), 0); /* no page of it faulted in */
    CHECK_OK(shmap_info_get(r, &b));
    CHECK(mapping_rss_kb(name) > 0);
    CHECK_STR(a.name, b.name);
    CHECK_STR(a.os_handle, b.os_handle);
    CHECK(a.store == b.store && a.dtype == b.dtype && a.elsize == b.elsize &&
          a.ndim == b.ndim && a.dims[0] == 3 && a.dims[1] == 5 && a.nelem == b.nelem &&
          a.data_offset == b.data_offset && a.data_size == b.data_size && a.size == b.size &&
          a.creator_pid == b.creator_pid && a.created_ns == b.created_ns &&
          a.flags == b.flags && a.keyword_capacity == b.keyword_capacity &&
          a.version == b.version);
    CHECK_EQ_INT(a.generation, 1);
    /* A publish since: the live description moves on, the one at open does not. */
    CHECK_OK(shmap_open(&w, name, SHMAP_RDWR));
    CHECK_OK(shmap_publish(w));
    CHECK_OK(shmap_info_get(r, &b));
    CHECK_EQ_INT(b.generation, 2);
    CHECK_OK(shmap_info_at_open(r, &a));
    CHECK_EQ_INT(a.generation, 1);
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_close(r));
    /* Records keep their field list, from create and from open. */
    const char *rec = test_name("atopenrec");
    uint64_t n = 4;
    o.record_fields = "x:f4,y:i2[3]";
    CHECK_OK(shmap_create(&w, rec, SHMAP_RECORD, 1, &n, &o));
    CHECK_OK(shmap_info_at_open(w, &a));
    CHECK_STR(a.record_fields, "x:f4,y:i2[3]");
    CHECK_OK(shmap_open(&r, rec, SHMAP_RDONLY));
    CHECK_OK(shmap_info_at_open(r, &a));
    CHECK_STR(a.record_fields, "x:f4,y:i2[3]");
    CHECK_EQ_INT(a.dtype, SHMAP_RECORD);
    CHECK_OK(shmap_close(r));
    CHECK_OK(shmap_close(w));
    CHECK_ERR(shmap_info_at_open(NULL, &a), SHMAP_EINVAL);
    CHECK_OK(shmap_unlink(rec));
    CHECK_OK(shmap_unlink(name));
}

TEST(info__at_open_of_an_open_that_shares_a_mapping_is_its_own)
{
    /* A second open with the same access shares the first one's mapping; what it reports
     * is as at its own open, not as the mapping's first open found the segment: a reader
     * starting from it must not take earlier frames as new. A dup reports as its source,
     * and neither dup nor report faults a page in. */
    const char *name = test_name("atopen2");
    const uint64_t dims[1] = {8};
    shmap_create_opts o = SHMAP_CREATE_OPTS_INIT;
    o.flags = SHMAP_CREATE_KEEP;
    shmap_seg *w = NULL, *first = NULL, *later = NULL, *d1 = NULL, *d2 = NULL;
    CHECK_OK(shmap_create(&w, name, SHMAP_U8, 1, dims, &o));
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_open(&first, name, SHMAP_RDONLY));
    CHECK_OK(shmap_dup(&d1, first));
    shmap_info a;
    CHECK_OK(shmap_info_at_open(d1, &a));
    CHECK_EQ_INT(mapping_rss_kb(name), 0);
    CHECK_EQ_INT(a.generation, 0);
    CHECK_OK(shmap_open(&w, name, SHMAP_RDWR));
    CHECK_OK(shmap_publish(w));
    CHECK_OK(shmap_publish(w));
    shmap_info live;
    CHECK_OK(shmap_info_get(w, &live));
    CHECK_OK(shmap_open(&later, name, SHMAP_RDONLY));
    CHECK(shmap_data(later) == shmap_data(first)); /* one mapping */
    CHECK_OK(shmap_info_at_open(later, &a));
    CHECK_EQ_INT(a.generation, 2);
    CHECK(a.published_ns == live.published_ns && a.published_ns != 0);
    CHECK_OK(shmap_info_at_open(first, &a));
    CHECK_EQ_INT(a.generation, 0);
    CHECK_EQ_INT(a.published_ns, 0);
    CHECK_OK(shmap_dup(&d2, later));
    CHECK_OK(shmap_info_at_open(d2, &a));
    CHECK_EQ_INT(a.generation, 2);
    CHECK_OK(shmap_info_at_open(d1, &a));
    CHECK_EQ_INT(a.generation, 0);
    /* create with OPEN of a segment this process maps read-write shares that mapping too. */
    shmap_seg *again = NULL;
    o.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_OPEN;
    CHECK_OK(shmap_publish(w));
    CHECK_OK(shmap_create(&again, name, SHMAP_U8, 1, dims, &o));
    CHECK(shmap_data(again) == shmap_data(w));
    CHECK_OK(shmap_info_at_open(again, &a));
    CHECK_EQ_INT(a.generation, 3);
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(d2));
    CHECK_OK(shmap_close(d1));
    CHECK_OK(shmap_close(later));
    CHECK_OK(shmap_close(first));
    CHECK_OK(shmap_close(w));
    CHECK_OK(shmap_unlink(name));
}

TEST(attached_alloc__matches_attached_and_is_null_when_none)
{
    const char *name = test_name("attalloc");
    make_segment_with_keyword(name);
    shmap_seg *ro = NULL, *rw = NULL;
    shmap_attacher *att = (shmap_attacher *)&att; /* must be overwritten */
    CHECK_OK(shmap_open(&ro, name, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_attached_alloc(ro, &att), 0);
    CHECK(att == NULL);
    CHECK_ERR(shmap_attached_alloc(ro, NULL), SHMAP_EINVAL);
    CHECK_OK(shmap_open(&rw, name, SHMAP_RDWR));
    shmap_attacher want[4];
    CHECK_EQ_INT(shmap_attached(ro, want, 4), 1);
    CHECK_EQ_INT(shmap_attached_alloc(ro, &att), 1);
    CHECK(att != NULL && att[0].pid == getpid() && att[0].pid == want[0].pid);
    CHECK(att[0].alive && att[0].writable && att[0].start == want[0].start);
    free(att);
    CHECK_OK(shmap_close(rw));
    CHECK_OK(shmap_close(ro));
    util_shm_remove(name);
}
