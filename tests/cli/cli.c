/*
 * The shmap command: what it does, its exit status (0 success, 1 failure, 2 bad usage) and
 * its errors (one line on stderr, "shmap: ...", naming the segment).
 */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "../util.h"

/* stderr is exactly one line, starting "shmap: " and containing `needle` (the name). */
static void check_one_line_error(const char *err, const char *needle)
{
    CHECK(err != NULL);
    CHECK(strncmp(err, "shmap: ", 7) == 0);
    size_t len = strlen(err);
    CHECK(len > 8 && err[len - 1] == '\n');
    if (memchr(err, '\n', len - 1))
        test_fail(__FILE__, __LINE__, "more than one line on stderr: \"%s\"", err);
    CHECK_CONTAINS(err, needle);
}

/*
 * The raw JSON text of member `key` in one object (the first occurrence), with the spaces
 * outside strings removed, in buf: "\"f32\"", "[4,3]", "4096". CHECKs that it is there.
 */
static const char *json_member(const char *obj, const char *key, char *buf, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(obj, pat);
    if (!p)
        test_fail(__FILE__, __LINE__, "no member %s in %s", pat, obj);
    p += strlen(pat);
    while (isspace((unsigned char)*p))
        p++;
    CHECK(*p == ':');
    p++;
    int depth = 0, in_str = 0;
    size_t n = 0;
    for (; *p; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\' && p[1]) {
                if (n + 2 < size) {
                    buf[n++] = c;
                    buf[n++] = p[1];
                }
                p++;
                continue;
            }
            if (c == '"')
                in_str = 0;
        } else {
            if (c == '"')
                in_str = 1;
            else if (c == '[' || c == '{')
                depth++;
            else if (c == ']' || c == '}') {
                if (depth == 0)
                    break;
                depth--;
            } else if (c == ',' && depth == 0)
                break;
            else if (isspace((unsigned char)c))
                continue;
        }
        if (n + 1 < size)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return buf;
}

/* The line of `text` holding the JSON object of segment `name` (one object per line). */
static char *json_object_line(const char *text, const char *name, char *buf, size_t size)
{
    char pat[SHMAP_NAME_MAX + 16];
    snprintf(pat, sizeof pat, "\"name\": \"%s\"", name);
    const char *p = strstr(text, pat);
    if (!p) {
        snprintf(pat, sizeof pat, "\"name\":\"%s\"", name);
        p = strstr(text, pat);
    }
    if (!p)
        test_fail(__FILE__, __LINE__, "no object named %s in: %s", name, text);
    const char *start = p, *end = strchr(p, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    if (!end)
        end = p + strlen(p);
    size_t len = (size_t)(end - start);
    if (len >= size)
        len = size - 1;
    memcpy(buf, start, len);
    buf[len] = '\0';
    return buf;
}

/* The members SPEC and the issue require of every segment object, with their values. */
static void check_segment_json(const char *obj, const char *name)
{
    char v[512], want[SHMAP_NAME_MAX + 8];
    snprintf(want, sizeof want, "\"%s\"", name);
    CHECK_STR(json_member(obj, "name", v, sizeof v), want);
    CHECK_STR(json_member(obj, "store", v, sizeof v), "\"posix\"");
    CHECK_STR(json_member(obj, "dtype", v, sizeof v), "\"f32\"");
    CHECK_STR(json_member(obj, "shape", v, sizeof v), "[4,3]");
    CHECK_STR(json_member(obj, "bytes", v, sizeof v), "48");
    CHECK_STR(json_member(obj, "mode", v, sizeof v), "\"0600\"");
    char num[32];
    snprintf(num, sizeof num, "%u", (unsigned)geteuid());
    CHECK_STR(json_member(obj, "uid", v, sizeof v), num);
    snprintf(num, sizeof num, "%u", (unsigned)getegid());
    CHECK_STR(json_member(obj, "gid", v, sizeof v), num);
    json_member(obj, "creator_pid", v, sizeof v);
    CHECK(atoll(v) > 0);
    CHECK(v[0] == '[' || isdigit((unsigned char)v[0]));
    json_member(obj, "attached", v, sizeof v);
    CHECK(v[0] == '[' || isdigit((unsigned char)v[0]));
    CHECK_STR(json_member(obj, "generation", v, sizeof v), "0");
    json_member(obj, "created", v, sizeof v);
    CHECK(v[0] == '"' || isdigit((unsigned char)v[0]));
    CHECK_STR(json_member(obj, "data_offset", v, sizeof v), "4096");
}

static void create_f32_4x3(const char *name)
{
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "3");
    util_clear(&out, &err);
}

TEST(cli__create_keeps_a_segment_of_the_type_and_shape_after_it_exits)
{
    umask(022);
    const char *name = test_name("c");
    create_f32_4x3(name);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_F32);
    CHECK_EQ_INT(st.ndim, 2);
    CHECK_EQ_INT(st.dims[0], 4);
    CHECK_EQ_INT(st.dims[1], 3);
    CHECK_EQ_INT(st.mode, 0600);
    CHECK_EQ_INT(st.data_offset, 4096);
    CHECK(st.creator_pid != getpid());
    /* Zero-filled. */
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const float *f = shmap_data(seg);
    for (int i = 0; i < 12; i++)
        CHECK(f[i] == 0.0f);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__create_accepts_numpy_idl_and_record_types)
{
    static const struct {
        const char *spelling;
        shmap_dtype dtype;
    } s[] = {{"float32", SHMAP_F32},   {"<f8", SHMAP_F64}, {"long", SHMAP_I32}, {"int", SHMAP_I16},
             {"dcomplex", SHMAP_C128}, {"byte", SHMAP_U8}, {"BOOL", SHMAP_BOOL}};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        const char *name = test_name("t");
        char *out = NULL, *err = NULL;
        RUN(0, "create", name, s[i].spelling, "5");
        util_clear(&out, &err);
        shmap_info st;
        CHECK_OK(shmap_stat(name, &st));
        CHECK_EQ_INT(st.dtype, s[i].dtype);
        CHECK_OK(shmap_unlink(name));
    }
    const char *name = test_name("rec");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "record:x:f4,y:f4,flag:u1", "7");
    util_clear(&out, &err);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_RECORD);
    CHECK_EQ_INT(st.elsize, 9);
    CHECK_STR(st.record_fields, "x:f4,y:f4,flag:u1");
    CHECK_OK(shmap_unlink(name));
    /* The field list alone, as SPEC writes it, in create and as a raw --dtype. */
    RUN(0, "create", name, "x:f4,y:f4,flag:u1", "7");
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_RECORD);
    CHECK_EQ_INT(st.elsize, 9);
    CHECK_STR(st.record_fields, "x:f4,y:f4,flag:u1");
    RUN(0, "set", name, "1", "(x=1.5,flag=2)");
    RUN(0, "cat", name, "--dtype", "x:f4,y:f4,flag:u1", "--shape", "2", "--offset", "4096");
    CHECK_STR(out, "(x=0, y=0, flag=0) (x=1.5, y=0, flag=2)\n");
    CHECK_OK(shmap_unlink(name));
    /* An unknown word tells of the record form too. */
    RUN(2, "create", name, "blah", "7");
    CHECK_CONTAINS(err, "unknown type 'blah' (try u8 ");
    CHECK_USAGE_ERROR(err, "create", "), or a record field list such as x:f4,y:f4,flag:u1 (");
    /* A bad field is named, as with the prefix. */
    RUN(2, "create", name, "x:q4", "7");
    CHECK_CONTAINS(err, "field 'x' has an unknown type 'q4'");
    CHECK(!util_shm_exists(name));
    util_clear(&out, &err);
}

TEST(cli__create_with_mode_keyword_and_transient)
{
    umask(0);
    const char *name = test_name("opt");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u16", "8", "--mode", "0640", "--transient", "--keyword", "EXPTIME=1.5",
        "--keyword", "OBJECT='M31' / target");
    util_clear(&out, &err);
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.mode, 0640);
    CHECK_EQ_INT(util_shm_mode(name), 0640);
    CHECK_EQ_INT(st.flags & SHMAP_SEG_TRANSIENT, SHMAP_SEG_TRANSIENT);
    CHECK_EQ_INT(st.nkeywords, 2);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    shmap_keyword kw;
    CHECK_OK(shmap_keyword_get(seg, "EXPTIME", &kw));
    CHECK_EQ_INT(kw.type, SHMAP_KW_FLOAT);
    CHECK(kw.f == 1.5);
    CHECK_OK(shmap_keyword_get(seg, "OBJECT", &kw));
    CHECK_STR(kw.s, "M31");
    CHECK_STR(kw.comment, "target");
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__create_of_an_existing_name_fails_with_one_line_naming_it)
{
    const char *name = test_name("ex");
    create_f32_4x3(name);
    char *out = NULL, *err = NULL;
    RUN(1, "create", name, "u8", "10");
    check_one_line_error(err, name);
    util_clear(&out, &err);
    /* The existing segment is untouched. */
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_F32);
    /* --replace replaces it. */
    RUN(0, "create", name, "u8", "10", "--replace");
    util_clear(&out, &err);
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_U8);
    CHECK_OK(shmap_unlink(name));

    /* A file that is not a segment (a mistyped file: name) is not replaced. */
    const char *path = util_test_path("notes.txt");
    util_write_file(path, "my notes\n", 9);
    char fname[SHMAP_NAME_MAX], line[SHMAP_NAME_MAX + 128];
    snprintf(fname, sizeof fname, "file:%s", path);
    RUN(1, "create", fname, "u8", "10", "--replace");
    snprintf(line, sizeof line, "shmap: %s: not a shmap segment: refusing to replace it", fname);
    CHECK_CONTAINS(err, line);
    /* The way out as the command line takes it, not as the library's flag; a name that
     * holds the library's words keeps them. */
    CHECK_CONTAINS(err, "(remove it with `shmap rm --force` first)");
    check_one_line_error(err, fname);
    const char *odd = util_test_path("a forced delete");
    util_write_file(odd, "my notes\n", 9);
    char oname[SHMAP_NAME_MAX];
    snprintf(oname, sizeof oname, "file:%s", odd);
    RUN(1, "create", oname, "u8", "10", "--replace");
    snprintf(line, sizeof line, "shmap: %s: not a shmap segment: refusing to replace it (remove "
             "it with `shmap rm --force` first)\n", oname);
    CHECK_STR(err, line);
    util_clear(&out, &err);
    /* Without --replace the name is said to be taken by something else than a segment. */
    RUN(1, "create", fname, "u8", "10");
    snprintf(line, sizeof line,
             "shmap: %s: the name is taken by an object that is not a shmap segment\n", fname);
    CHECK_STR(err, line);
    util_clear(&out, &err);
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    util_read_to_end(fd, buf, sizeof buf);
    CHECK_STR(buf, "my notes\n");
}

TEST(cli__create_bad_usage_exits_2_and_creates_nothing)
{
    const char *name = test_name("u");
    static const char *const cases[][6] = {
        {"create", NULL},
        {"create", "NAME", NULL},
        {"create", "NAME", "f32", NULL},
        {"create", "NAME", "f3", "4", NULL},
        {"create", "NAME", "f32", "0", NULL},
        {"create", "NAME", "f32", "-4", NULL},
        {"create", "NAME", "f32", "4x", NULL},
        {"create", "NAME", "f32", "4", "--mode", "0999"},
        {"create", "NAME", "f32", "4", "--bogus", NULL},
        {"create", "NAME", ">f4", "4", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *a[6];
        for (int j = 0; j < 6; j++)
            a[j] = cases[i][j] && strcmp(cases[i][j], "NAME") == 0 ? name : cases[i][j];
        char *out = NULL, *err = NULL;
        int rc = test_cli(&out, &err, NULL, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
        if (rc != 2)
            test_fail(__FILE__, __LINE__,
                      "case %zu (shmap %s %s %s %s) exited %d, expected 2: "
                      "%s",
                      i, a[0], a[1] ? a[1] : "", a[2] ? a[2] : "", a[3] ? a[3] : "", rc,
                      err ? err : "");
        CHECK(strncmp(err, "shmap: ", 7) == 0);
        util_clear(&out, &err);
        CHECK(!util_shm_exists(name));
    }
    char *out = NULL, *err = NULL;
    RUN(2, "create", name, "u8", "1", "1", "1", "1", "1", "1", "1", "1", "1");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

TEST(cli__bad_usage_of_the_command_exits_2)
{
    char *out = NULL, *err = NULL;
    RUN(2, "frobnicate");
    CHECK(strncmp(err, "shmap: ", 7) == 0);
    CHECK_CONTAINS(err, "frobnicate");
    util_clear(&out, &err);
    int rc = test_cli(&out, &err, NULL, NULL);
    CHECK_EQ_INT(rc, 2);
    util_clear(&out, &err);
    RUN(2, "info");
    util_clear(&out, &err);
    RUN(2, "cat");
    util_clear(&out, &err);
    RUN(2, "fill", test_name("x"));
    util_clear(&out, &err);
    RUN(2, "rm");
    util_clear(&out, &err);
    RUN(2, "ls", "--bogus");
    util_clear(&out, &err);
    RUN(2, "info", test_name("x"), "--bogus");
    util_clear(&out, &err);
    RUN(0, "--help");
    CHECK_CONTAINS(out, "create");
    util_clear(&out, &err);
    RUN(0, "--version");
    CHECK_CONTAINS(out, SHMAP_VERSION_STRING);
    util_clear(&out, &err);
    /* help takes --help as every command does; --help and --version take nothing more. */
    RUN(0, "help", "--help");
    CHECK_CONTAINS(out, "usage: shmap COMMAND");
    util_clear(&out, &err);
    RUN(0, "help", "-h");
    CHECK_CONTAINS(out, "usage: shmap COMMAND");
    util_clear(&out, &err);
    /* help is a command the overview lists, and describes like any other. */
    RUN(0, "help", "help");
    CHECK_CONTAINS(out, "usage: shmap COMMAND");
    CHECK_CONTAINS(out, "\n  help    describe a command");
    util_clear(&out, &err);
    RUN(2, "--version", "extra");
    CHECK_STR(err, "shmap: --version takes no arguments ('extra' given) (see shmap --help)\n");
    CHECK_STR(out, "");
    util_clear(&out, &err);
    RUN(2, "--help", "extra");
    CHECK_STR(err, "shmap: --help takes no arguments ('extra' given) (see shmap --help)\n");
    util_clear(&out, &err);
}

TEST(cli__ls_lists_our_segment)
{
    const char *name = test_name("ls");
    create_f32_4x3(name);
    char *out = NULL, *err = NULL;
    RUN(0, "ls");
    char line[2048];
    const char *p = strstr(out, name);
    CHECK(p != NULL);
    const char *start = p, *end = strchr(p, '\n');
    while (start > out && start[-1] != '\n')
        start--;
    snprintf(line, sizeof line, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
    CHECK_CONTAINS(line, "f32");
    CHECK_CONTAINS(line, "4x3");
    CHECK_CONTAINS(line, "0600");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "ls");
    CHECK(strstr(out, name) == NULL);
    util_clear(&out, &err);
}

TEST(cli__ls_json_has_the_required_fields)
{
    umask(022);
    const char *name = test_name("lsj");
    create_f32_4x3(name);
    char *out = NULL, *err = NULL;
    RUN(0, "ls", "--json");
    /* An array of objects. */
    const char *p = out;
    while (isspace((unsigned char)*p))
        p++;
    CHECK(*p == '[');
    char obj[8192];
    json_object_line(out, name, obj, sizeof obj);
    check_segment_json(obj, name);
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__ls_all_json_reports_a_foreign_object_as_not_shmap)
{
    const char *name = test_name("fgn");
    util_shm_write(name, "not a segment", 13);
    char *out = NULL, *err = NULL;
    RUN(0, "ls", "--json");
    CHECK(strstr(out, name) == NULL);
    util_clear(&out, &err);
    RUN(0, "ls", "--all", "--json");
    char obj[4096], v[256];
    json_object_line(out, name, obj, sizeof obj);
    CHECK_STR(json_member(obj, "shmap", v, sizeof v), "false");
    CHECK_STR(json_member(obj, "size", v, sizeof v), "13");
    CHECK_STR(json_member(obj, "error_code", v, sizeof v), "\"SHMAP_EFORMAT\"");
    CHECK(strstr(obj, ", \"error_code\": \"SHMAP_EFORMAT\", \"deleted\": false}"));
    util_clear(&out, &err);
    util_shm_remove(name);
}

TEST(cli__info_json_has_the_required_fields)
{
    umask(022);
    const char *name = test_name("ij");
    create_f32_4x3(name);
    char *out = NULL, *err = NULL;
    RUN(0, "info", name, "--json");
    const char *p = out;
    while (isspace((unsigned char)*p))
        p++;
    CHECK(*p == '{');
    check_segment_json(out, name);
    char v[256];
    CHECK_STR(json_member(out, "ndim", v, sizeof v), "2");
    CHECK_STR(json_member(out, "nelem", v, sizeof v), "12");
    CHECK_STR(json_member(out, "elsize", v, sizeof v), "4");
    util_clear(&out, &err);
    /* Publishing shows in the generation. */
    RUN(0, "fill", name, "1");
    util_clear(&out, &err);
    RUN(0, "info", name, "--json");
    CHECK_STR(json_member(out, "generation", v, sizeof v), "1");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__info_describes_the_segment)
{
    const char *name = test_name("i");
    create_f32_4x3(name);
    char *out = NULL, *err = NULL;
    RUN(0, "info", name);
    CHECK_CONTAINS(out, name);
    CHECK_CONTAINS(out, "f32");
    CHECK_CONTAINS(out, "4096");
    CHECK_CONTAINS(out, "0600");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

/* The member names of `info --json` (one member per line), in order, comma-separated. */
static void info_member_names(const char *json, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const char *p = json; (p = strstr(p, "\n  \"")); p++) {
        const char *key = p + 4, *end = strchr(key, '"');
        CHECK(end && n + (size_t)(end - key) + 2 < size);
        n += (size_t)snprintf(buf + n, size - n, "%s%.*s", n ? "," : "", (int)(end - key), key);
    }
}

TEST(cli__info_shows_a_ring_its_frames_and_the_last_publish)
{
    const char *ring = test_name("ring"), *plain = test_name("plain");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_RING;
    const uint64_t d[2] = {8, 1024};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, ring, SHMAP_F32, 2, d, &opts));
    create_f32_4x3(plain);
    char *out = NULL, *err = NULL, v[256], names[1024];

    /* Every member of before, in the same order, and the new ones after them. */
    RUN(0, "info", plain, "--json");
    info_member_names(out, names, sizeof names);
    CHECK_STR(names, "name,shmap,store,os_handle,size,mode,uid,gid,owner,group,version,dtype,"
                     "numpy,record_fields,elsize,ndim,shape,nelem,bytes,data_offset,"
                     "creator_pid,creator_uid,attached,lock,generation,created,created_ns,"
                     "transient,flags,keyword_capacity,keywords,keyword_comments,ring,"
                     "ring_length,frame_size,published,published_ns,write,deleted,mapped_by,"
                     "mapped_by_unseen");
    CHECK_STR(json_member(out, "deleted", v, sizeof v), "false");
    CHECK_STR(json_member(out, "ring", v, sizeof v), "false");
    CHECK_STR(json_member(out, "ring_length", v, sizeof v), "null");
    CHECK_STR(json_member(out, "frame_size", v, sizeof v), "null");
    CHECK_STR(json_member(out, "published", v, sizeof v), "null");
    CHECK_STR(json_member(out, "published_ns", v, sizeof v), "null");
    RUN(0, "info", plain);
    CHECK_CONTAINS(out, "\nring:            no\n");
    CHECK_CONTAINS(out, "\npublished:       never\n");
    CHECK(!strstr(out, "ring_length"));

    /* A ring, never published: its frames, and no publish time. */
    RUN(0, "info", ring);
    CHECK_CONTAINS(out, "\nflags:           0x2\n");
    CHECK_CONTAINS(out, "\nring:            yes\nring_length:     8 frames\n"
                        "frame_size:      4096 bytes\n");
    CHECK_CONTAINS(out, "\npublished:       never\n");
    RUN(0, "info", ring, "--json");
    CHECK_STR(json_member(out, "ring", v, sizeof v), "true");
    CHECK_STR(json_member(out, "ring_length", v, sizeof v), "8");
    CHECK_STR(json_member(out, "frame_size", v, sizeof v), "4096");
    CHECK_STR(json_member(out, "published", v, sizeof v), "null");

    /* Published: the time the header records, in both forms. */
    CHECK_OK(shmap_write_begin(seg, NULL));
    CHECK_OK(shmap_publish(seg));
    shmap_info info;
    CHECK_OK(shmap_stat(ring, &info));
    CHECK(info.published_ns > 0);
    RUN(0, "info", ring, "--json");
    char want[64];
    snprintf(want, sizeof want, "%lld", (long long)info.published_ns);
    CHECK_STR(json_member(out, "published_ns", v, sizeof v), want);
    json_member(out, "published", v, sizeof v);
    CHECK(strlen(v) == 26 && v[0] == '"' && v[24] == 'Z');
    char text[64];
    snprintf(text, sizeof text, "\npublished:       %.24s (", v + 1);
    RUN(0, "info", ring);
    CHECK_CONTAINS(out, text);
    /* ls --json prints the same members. */
    RUN(0, "ls", "--json");
    char obj[8192];
    json_object_line(out, ring, obj, sizeof obj);
    CHECK_STR(json_member(obj, "ring", v, sizeof v), "true");
    CHECK_STR(json_member(obj, "ring_length", v, sizeof v), "8");
    CHECK_STR(json_member(obj, "frame_size", v, sizeof v), "4096");
    CHECK_STR(json_member(obj, "published_ns", v, sizeof v), want);
    util_clear(&out, &err);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(ring));
    CHECK_OK(shmap_unlink(plain));
}

TEST(cli__info_of_a_missing_segment_is_one_line_naming_it)
{
    const char *name = test_name("missing");
    char *out = NULL, *err = NULL;
    RUN(1, "info", name);
    check_one_line_error(err, name);
    CHECK_STR(out, "");
    util_clear(&out, &err);
    RUN(1, "info", name, "--json");
    check_one_line_error(err, name);
    util_clear(&out, &err);
    RUN(1, "cat", name);
    check_one_line_error(err, name);
    util_clear(&out, &err);
    RUN(1, "fill", name, "1");
    check_one_line_error(err, name);
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
}

TEST(cli__a_foreign_or_damaged_object_is_one_line_naming_it)
{
    const char *name = test_name("bad");
    util_shm_write(name, "0123456789", 10);
    char *out = NULL, *err = NULL;
    RUN(1, "info", name);
    check_one_line_error(err, name);
    util_clear(&out, &err);
    RUN(1, "cat", name);
    check_one_line_error(err, name);
    util_clear(&out, &err);
    util_shm_remove(name);
    const uint64_t d[1] = {1000};
    util_make_kept(name, SHMAP_F64, 1, d);
    util_shm_truncate(name, 4096);
    RUN(1, "cat", name);
    check_one_line_error(err, name);
    util_clear(&out, &err);
    CHECK_EQ_INT(util_shm_size(name), 4096); /* not "repaired", not removed */
    util_shm_remove(name);
}

TEST(cli__rm_removes_segments_and_a_missing_name_exits_1)
{
    const char *a = test_name("a");
    char na[SHMAP_NAME_MAX], nb[SHMAP_NAME_MAX], nm[SHMAP_NAME_MAX];
    snprintf(na, sizeof na, "%s", a);
    snprintf(nb, sizeof nb, "%s", test_name("b"));
    snprintf(nm, sizeof nm, "%s", test_name("missing"));
    create_f32_4x3(na);
    create_f32_4x3(nb);
    char *out = NULL, *err = NULL;
    RUN(0, "rm", na, nb);
    CHECK_STR(err, "");
    util_clear(&out, &err);
    CHECK(!util_shm_exists(na));
    CHECK(!util_shm_exists(nb));
    RUN(1, "rm", nm);
    check_one_line_error(err, nm);
    util_clear(&out, &err);
    /* A missing name among others: the others are removed, the status is 1. */
    create_f32_4x3(na);
    RUN(1, "rm", nm, na);
    check_one_line_error(err, nm);
    util_clear(&out, &err);
    CHECK(!util_shm_exists(na));
    /* --missing-ok: a cleanup that finds nothing under a name is no failure, with or
     * without --force; other failures still are (a malformed name, here). */
    create_f32_4x3(na);
    RUN(0, "rm", nm, na, "--missing-ok");
    CHECK_STR(err, "");
    CHECK(!util_shm_exists(na));
    RUN(0, "rm", "--force", "--missing-ok", nm);
    CHECK_STR(err, "");
    RUN(2, "rm", "--missing-ok", "bad/name");
    util_clear(&out, &err);
}

TEST(cli__fill_ramp_then_cat_prints_0_to_n_minus_1)
{
    const char *name = test_name("ramp");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i32", "12");
    util_clear(&out, &err);
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "0 1 2 3 4 5 6 7 8 9 10 11\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
    /* Two dimensions: one row per line. */
    RUN(0, "create", name, "f64", "3", "4");
    util_clear(&out, &err);
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "0 1 2 3\n4 5 6 7\n8 9 10 11\n");
    util_clear(&out, &err);
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const double *v = shmap_data(seg);
    for (int i = 0; i < 12; i++)
        CHECK(v[i] == i);
    CHECK_EQ_INT(shmap_generation(seg), 1);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
    /* f16 past its largest finite value (65504): rounded as a conversion rounds, to
     * infinity from 65520 on, in a plain array and in a record's field alike. */
    RUN(0, "create", name, "f16", "70000");
    util_clear(&out, &err);
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    RUN(0, "cat", name, "--slice", "65518:65522");
    CHECK_STR(out, "65500 65500 inf inf\n");
    util_clear(&out, &err);
    RUN(0, "cat", name, "--slice", "-1");
    CHECK_STR(out, "inf\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "create", name, "h:f16,n:u32", "65530");
    util_clear(&out, &err);
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    const unsigned char *rec = shmap_data(seg);
    uint16_t h;
    memcpy(&h, rec + 65525 * 6, 2);
    CHECK_EQ_INT(h, 0x7c00);
    memcpy(&h, rec + 65519 * 6, 2);
    CHECK_EQ_INT(h, 0x7bff);
    CHECK_OK(shmap_close(seg));
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__fill_a_value_then_cat_prints_it_everywhere)
{
    const char *name = test_name("fv");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "5");
    util_clear(&out, &err);
    RUN(0, "fill", name, "1.5");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "1.5 1.5 1.5 1.5 1.5\n");
    util_clear(&out, &err);
    RUN(0, "fill", name, "-2");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "-2 -2 -2 -2 -2\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__set_then_cat_shows_the_one_element_changed)
{
    const char *name = test_name("set");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i16", "5");
    util_clear(&out, &err);
    RUN(0, "set", name, "2", "-7");
    util_clear(&out, &err);
    RUN(0, "set", name, "-1", "32767");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "0 0 -7 0 32767\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
    RUN(0, "create", name, "u8", "2", "3");
    util_clear(&out, &err);
    RUN(0, "set", name, "1", "2", "9");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "0 0 0\n0 0 9\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__set_an_out_of_range_index_is_bad_usage_naming_the_segment)
{
    const char *name = test_name("oor");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i32", "4", "3");
    util_clear(&out, &err);
    static const char *const idx[][2] = {{"4", "0"}, {"0", "3"}, {"-5", "0"}, {"0", "99999999"}};
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        int rc = test_cli(&out, &err, NULL, "set", name, idx[i][0], idx[i][1], "1", NULL);
        if (rc != 2)
            test_fail(__FILE__, __LINE__, "set [%s,%s] exited %d, expected 2: %s", idx[i][0],
                      idx[i][1], rc, err ? err : "");
        CHECK_USAGE_ERROR(err, "set", name);
        CHECK_CONTAINS(err, "out of range");
        util_clear(&out, &err);
    }
    RUN(0, "cat", name);
    CHECK_STR(out, "0 0 0\n0 0 0\n0 0 0\n0 0 0\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__set_or_fill_with_a_value_the_type_cannot_hold_is_bad_usage)
{
    const char *name = test_name("oov");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "u8", "3");
    util_clear(&out, &err);
    static const char *const bad[] = {"256", "-1", "1.5", "abc", "1e3", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = test_cli(&out, &err, NULL, "set", name, "0", bad[i], NULL);
        if (rc != 2)
            test_fail(__FILE__, __LINE__, "set u8 to \"%s\" exited %d, expected 2: %s", bad[i], rc,
                      err ? err : "");
        CHECK_USAGE_ERROR(err, "set", name);
        util_clear(&out, &err);
        rc = test_cli(&out, &err, NULL, "fill", name, bad[i], NULL);
        if (rc != 2)
            test_fail(__FILE__, __LINE__, "fill u8 with \"%s\" exited %d, expected 2: %s", bad[i],
                      rc, err ? err : "");
        CHECK_USAGE_ERROR(err, "fill", name);
        util_clear(&out, &err);
    }
    RUN(0, "set", name, "0", "255");
    util_clear(&out, &err);
    RUN(0, "cat", name);
    CHECK_STR(out, "255 0 0\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(name));
}

TEST(cli__name_forms_work_in_every_command)
{
    const char *name = test_name("nf");
    char shm[SHMAP_NAME_MAX + 8], slash[SHMAP_NAME_MAX + 8], shmem[SHMAP_NAME_MAX + 16];
    snprintf(shm, sizeof shm, "shm://%s", name);
    snprintf(slash, sizeof slash, "/%s", name);
    snprintf(shmem, sizeof shmem, "shmem://%s", name);
    char *out = NULL, *err = NULL;
    RUN(0, "create", shm, "u16", "3");
    util_clear(&out, &err);
    CHECK(util_shm_exists(name));
    RUN(0, "set", slash, "1", "5");
    util_clear(&out, &err);
    RUN(0, "cat", shmem);
    CHECK_STR(out, "0 5 0\n");
    util_clear(&out, &err);
    RUN(0, "rm", slash);
    util_clear(&out, &err);
    CHECK(!util_shm_exists(name));
    RUN(2, "info", "a/b");
    CHECK_USAGE_ERROR(err, "info", "a/b");
    util_clear(&out, &err);
}

TEST(cli__cat_slice_selects_elements)
{
    const char *name = test_name("sl");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "i32", "10");
    util_clear(&out, &err);
    RUN(0, "fill", name, "ramp");
    util_clear(&out, &err);
    RUN(0, "cat", name, "--slice", "2:5");
    CHECK_STR(out, "2 3 4\n");
    util_clear(&out, &err);
    RUN(0, "cat", name, "--slice", "::-3");
    CHECK_STR(out, "9 6 3 0\n");
    util_clear(&out, &err);
    /* Steps of any size, as numpy takes them: one element (overflowing nothing, which the
     * sanitizer build would report). */
    RUN(0, "cat", name, "--slice", "::-9223372036854775808");
    CHECK_STR(out, "9\n");
    RUN(0, "cat", name, "--slice", "3::4611686018427387904");
    CHECK_STR(out, "3\n");
    util_clear(&out, &err);
    const char *grid = test_name("sl2");
    RUN(0, "create", grid, "i32", "2", "3");
    RUN(0, "fill", grid, "ramp");
    RUN(0, "cat", grid, "--slice", ":,::4611686018427387904");
    CHECK_STR(out, "0\n3\n");
    util_clear(&out, &err);
    CHECK_OK(shmap_unlink(grid));
    CHECK_OK(shmap_unlink(name));
}

/* One of a thing is not "1 things": a ring of one one-byte frame, one keyword slot. */
TEST(cli__info_says_one_frame_one_byte_one_slot)
{
    const char *name = test_name("one");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.flags = SHMAP_CREATE_KEEP | SHMAP_CREATE_RING;
    opts.keyword_capacity = 1;
    const uint64_t d[1] = {1};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_U8, 1, d, &opts));
    CHECK_OK(shmap_close(seg));
    char *out = NULL, *err = NULL;
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "\nring_length:     1 frame\nframe_size:      1 byte\n");
    CHECK_CONTAINS(out, "\nkeywords:        0 of 1 slot\n");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}

TEST(cli__create_ring_makes_a_ring_and_exist_ok_asks_for_one_or_not)
{
    const char *name = test_name("ring");
    char *out = NULL, *err = NULL;
    RUN(0, "create", name, "f32", "4", "16", "--ring");
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_open(&seg, name, SHMAP_RDONLY));
    CHECK_EQ_INT(shmap_ring_length(seg), 4);
    CHECK_EQ_INT(shmap_frame_size(seg), 64);
    CHECK_OK(shmap_close(seg));
    RUN(0, "info", name);
    CHECK_CONTAINS(out, "ring_length:     4 frames\n");
    /* Open-or-create: a ring is part of the shape, both ways. */
    RUN(0, "create", name, "f32", "4", "16", "--ring", "--exist-ok");
    RUN(1, "create", name, "f32", "4", "16", "--exist-ok");
    CHECK_ERROR_LINE(err, "(a ring of 4 frames), asked for f32[4,16] (not a ring)");
    RUN(0, "rm", name);
    RUN(0, "create", name, "f32", "4", "16", "--exist-ok");
    RUN(1, "create", name, "f32", "4", "16", "--ring", "--exist-ok");
    CHECK_ERROR_LINE(err, "(not a ring), asked for f32[4,16] (a ring of 4 frames)");
    RUN(0, "rm", name);
    util_clear(&out, &err);
}
