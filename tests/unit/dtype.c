/* Element types: spellings, sizes, names, and record field lists. */
#include "../util.h"

static int host_little(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

struct spelling {
    const char *text;
    shmap_dtype dtype;
};

static void check_spellings(const struct spelling *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        shmap_dtype got = SHMAP_DTYPE_NONE;
        int rc = shmap_dtype_parse(s[i].text, &got);
        if (rc != 0 || got != s[i].dtype)
            test_fail(__FILE__, __LINE__,
                      "shmap_dtype_parse(\"%s\") = %s, type %d (%s); "
                      "expected type %d (%s)",
                      s[i].text, shmap_errname(rc), (int)got, shmap_dtype_name(got),
                      (int)s[i].dtype, shmap_dtype_name(s[i].dtype));
    }
}

TEST(dtype_parse__shmap_names_give_their_types)
{
    static const struct spelling s[] = {
        {"u8", SHMAP_U8},     {"i8", SHMAP_I8},     {"u16", SHMAP_U16}, {"i16", SHMAP_I16},
        {"u32", SHMAP_U32},   {"i32", SHMAP_I32},   {"u64", SHMAP_U64}, {"i64", SHMAP_I64},
        {"f16", SHMAP_F16},   {"f32", SHMAP_F32},   {"f64", SHMAP_F64}, {"c64", SHMAP_C64},
        {"c128", SHMAP_C128}, {"bool", SHMAP_BOOL},
    };
    check_spellings(s, sizeof s / sizeof s[0]);
}

TEST(dtype_parse__numpy_spellings_are_accepted)
{
    static const struct spelling s[] = {
        {"uint8", SHMAP_U8},        {"int8", SHMAP_I8},     {"uint16", SHMAP_U16},
        {"int16", SHMAP_I16},       {"uint32", SHMAP_U32},  {"int32", SHMAP_I32},
        {"uint64", SHMAP_U64},      {"int64", SHMAP_I64},   {"float16", SHMAP_F16},
        {"float32", SHMAP_F32},     {"float64", SHMAP_F64}, {"complex64", SHMAP_C64},
        {"complex128", SHMAP_C128}, {"f4", SHMAP_F32},      {"f8", SHMAP_F64},
        {"f2", SHMAP_F16},          {"i1", SHMAP_I8},       {"i2", SHMAP_I16},
        {"i4", SHMAP_I32},          {"i8", SHMAP_I8},       {"u1", SHMAP_U8},
        {"u2", SHMAP_U16},          {"u4", SHMAP_U32},      {"c8", SHMAP_C64},
        {"c16", SHMAP_C128},        {"<f4", SHMAP_F32},     {"<f8", SHMAP_F64},
        {"<i2", SHMAP_I16},         {"<u8", SHMAP_U64},     {"<c16", SHMAP_C128},
        {"=i2", SHMAP_I16},         {"=f4", SHMAP_F32},     {"|u1", SHMAP_U8},
        {"|i1", SHMAP_I8},          {"|b1", SHMAP_BOOL},    {"?", SHMAP_BOOL},
        {"b1", SHMAP_BOOL},         {"e", SHMAP_F16},       {"half", SHMAP_F16},
        {"single", SHMAP_F32},      {"double", SHMAP_F64},
    };
    check_spellings(s, sizeof s / sizeof s[0]);
}

/* "i8" is shmap's 8-bit integer, not numpy's 8-byte one: shmap's own names come first. */
TEST(dtype_parse__i8_is_shmaps_int8_but_lt_i8_is_numpys_int64)
{
    static const struct spelling s[] = {
        {"i8", SHMAP_I8}, {"<i8", SHMAP_I64}, {"u8", SHMAP_U8}, {"<u8", SHMAP_U64}};
    check_spellings(s, sizeof s / sizeof s[0]);
}

TEST(dtype_parse__idl_spellings_are_accepted_and_win_for_int_and_long)
{
    static const struct spelling s[] = {
        {"byte", SHMAP_U8},     {"int", SHMAP_I16},       {"uint", SHMAP_U16},
        {"long", SHMAP_I32},    {"ulong", SHMAP_U32},     {"long64", SHMAP_I64},
        {"ulong64", SHMAP_U64}, {"float", SHMAP_F32},     {"double", SHMAP_F64},
        {"complex", SHMAP_C64}, {"dcomplex", SHMAP_C128},
        /* SHMMAP's type keywords, where they differ from the names */
        {"integer", SHMAP_I16}, {"l64", SHMAP_I64},       {"ul64", SHMAP_U64},
        {"INTEGER", SHMAP_I16},
    };
    check_spellings(s, sizeof s / sizeof s[0]);
}

TEST(dtype_parse__is_case_insensitive)
{
    static const struct spelling s[] = {
        {"F32", SHMAP_F32},       {"Float32", SHMAP_F32}, {"DOUBLE", SHMAP_F64},
        {"DComplex", SHMAP_C128}, {"UINT8", SHMAP_U8},    {"Long64", SHMAP_I64},
        {"BYTE", SHMAP_U8},       {"Bool", SHMAP_BOOL},   {"INT", SHMAP_I16},
        {"<F4", SHMAP_F32},       {"C128", SHMAP_C128},   {"ULong", SHMAP_U32},
    };
    check_spellings(s, sizeof s / sizeof s[0]);
}

TEST(dtype_parse__numpy_letters_keep_their_case_and_its_unicode_is_refused)
{
    static const struct spelling s[] = {
        {"f", SHMAP_F32}, {"F", SHMAP_C64}, {"d", SHMAP_F64},
        {"D", SHMAP_C128}, {"e", SHMAP_F16}, {"u4", SHMAP_U32}, {"<u4", SHMAP_U32},
    };
    check_spellings(s, sizeof s / sizeof s[0]);
    /* numpy's "U4" is a string of 4 characters; "E" is nothing in numpy. */
    static const char *const bad[] = {"U4", "U8", "<U4", "=U16", "|U1", "E"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmap_dtype got = SHMAP_DTYPE_NONE;
        CHECK_ERR(shmap_dtype_parse(bad[i], &got), SHMAP_EDTYPE);
        CHECK_EQ_INT(got, SHMAP_DTYPE_NONE);
    }
}

/* An integer of `size` bytes, as numpy's codes for C types resolve on this platform. */
static shmap_dtype int_of_size(size_t size, int is_signed)
{
    switch (size) {
    case 1: return is_signed ? SHMAP_I8 : SHMAP_U8;
    case 2: return is_signed ? SHMAP_I16 : SHMAP_U16;
    case 4: return is_signed ? SHMAP_I32 : SHMAP_U32;
    case 8: return is_signed ? SHMAP_I64 : SHMAP_U64;
    }
    return SHMAP_DTYPE_NONE;
}

/*
 * Every one-letter code of numpy.typecodes that names a type shmap has, with numpy's meaning:
 * the C type's size on this platform for the integers ('l' is a C long, 8 bytes on 64-bit
 * Linux), case as meaning ('b' int8, 'B' uint8), alone or after a byte-order character.
 */
TEST(dtype_parse__numpy_one_letter_codes_mean_what_numpy_means)
{
    const struct spelling s[] = {
        {"?", SHMAP_BOOL},
        {"b", SHMAP_I8},
        {"B", SHMAP_U8},
        {"h", int_of_size(sizeof(short), 1)},
        {"H", int_of_size(sizeof(unsigned short), 0)},
        {"i", int_of_size(sizeof(int), 1)},
        {"I", int_of_size(sizeof(unsigned int), 0)},
        {"l", int_of_size(sizeof(long), 1)},
        {"L", int_of_size(sizeof(unsigned long), 0)},
        {"q", int_of_size(sizeof(long long), 1)},
        {"Q", int_of_size(sizeof(unsigned long long), 0)},
        {"p", int_of_size(sizeof(intptr_t), 1)},
        {"P", int_of_size(sizeof(uintptr_t), 0)},
        {"e", SHMAP_F16},
        {"f", SHMAP_F32},
        {"d", SHMAP_F64},
        {"F", SHMAP_C64},
        {"D", SHMAP_C128},
    };
    const size_t n = sizeof s / sizeof s[0];
    check_spellings(s, n);
    /* With a native or no-matter byte order in front, as numpy also writes them. */
    const char *const prefixes[] = {"=", "|", host_little() ? "<" : ">"};
    for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++)
        for (size_t i = 0; i < n; i++) {
            char text[8];
            snprintf(text, sizeof text, "%s%s", prefixes[p], s[i].text);
            const struct spelling one = {text, s[i].dtype};
            check_spellings(&one, 1);
        }
    /* On x86-64 and aarch64 Linux, as numpy says there. */
    if (sizeof(long) == 8) {
        const struct spelling lp64[] = {{"h", SHMAP_I16}, {"H", SHMAP_U16}, {"i", SHMAP_I32},
                                        {"I", SHMAP_U32}, {"l", SHMAP_I64}, {"L", SHMAP_U64},
                                        {"q", SHMAP_I64}, {"Q", SHMAP_U64}};
        check_spellings(lp64, sizeof lp64 / sizeof lp64[0]);
    }
    /* The other byte order is refused for codes of more than one byte, not for one byte. */
    const char *other = host_little() ? ">" : "<";
    for (size_t i = 0; i < n; i++) {
        char text[8];
        snprintf(text, sizeof text, "%s%s", other, s[i].text);
        shmap_dtype got = SHMAP_DTYPE_NONE;
        int rc = shmap_dtype_parse(text, &got);
        if (shmap_dtype_size(s[i].dtype) == 1 ? rc != 0 || got != s[i].dtype
                                              : rc != SHMAP_EBYTEORDER)
            test_fail(__FILE__, __LINE__, "shmap_dtype_parse(\"%s\") = %s (type %s)", text,
                      shmap_errname(rc), shmap_dtype_name(got));
    }
}

/* numpy's codes for what shmap cannot hold are refused, saying what numpy means by them. */
TEST(dtype_parse__numpy_codes_shmap_cannot_hold_are_refused_saying_what_they_are)
{
    static const struct {
        const char *text, *says;
    } s[] = {
        {"g", "long double"},      {"G", "complex long double"}, {"<g", "long double"},
        {"S", "byte string"},      {"S10", "byte string"},       {"a5", "byte string"},
        {"c", "S1"},               {"U", "unicode string"},      {"U4", "unicode string"},
        {"<U4", "unicode string"}, {"V", "raw bytes"},           {"V8", "raw bytes"},
        {"O", "Python object"},    {"O8", "Python object"},      {"M", "datetime64"},
        {"M8[ns]", "datetime64"},  {"<M8[us]", "datetime64"},    {"m", "timedelta64"},
        {"m8", "timedelta64"},     {"<f16", "16-byte float"},    {"<c32", "32-byte complex"},
        {"float128", "long double"}, {"longdouble", "long double"},
        {"complex256", "complex long double"}, {"clongdouble", "complex long double"},
        {"str_", "unicode string"}, {"bytes_", "byte string"},  {"object_", "Python object"},
        {"datetime64", "datetime64"}, {"timedelta64", "timedelta64"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        shmap_dtype got = SHMAP_DTYPE_NONE;
        int rc = shmap_dtype_parse(s[i].text, &got);
        if (rc != SHMAP_EDTYPE || got != SHMAP_DTYPE_NONE)
            test_fail(__FILE__, __LINE__, "shmap_dtype_parse(\"%s\") = %s (type %s)",
                      s[i].text, shmap_errname(rc), shmap_dtype_name(got));
        char quoted[32];
        snprintf(quoted, sizeof quoted, "'%s'", s[i].text);
        CHECK_CONTAINS(shmap_last_error(), quoted);
        CHECK_CONTAINS(shmap_last_error(), s[i].says);
        CHECK_CONTAINS(shmap_last_error(), "shmap cannot hold");
    }
    /* Nothing numpy knows: the usual message. */
    shmap_dtype got;
    CHECK_ERR(shmap_dtype_parse("E", &got), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "unknown type 'E'");
}

/* A record's fields take the same codes. */
TEST(record_parse__fields_take_numpy_one_letter_codes)
{
    size_t elsize = 0;
    CHECK_OK(shmap_record_parse("a:b,b:B,c:h,d:H,e:i,f:I,g:q,h:Q,i:e,j:f,k:d,l:F,m:D,n:?",
                                &elsize));
    CHECK_EQ_INT(elsize, 1 + 1 + 2 + 2 + 4 + 4 + 8 + 8 + 2 + 4 + 8 + 8 + 16 + 1);
    CHECK_OK(shmap_record_parse("x:l", &elsize));
    CHECK_EQ_INT(elsize, sizeof(long));
    CHECK_ERR(shmap_record_parse("x:g", NULL), SHMAP_EDTYPE);
}

TEST(dtype_parse__other_byte_order_is_ebyteorder)
{
    static const char *const big[] = {">f4", ">f8", ">i2", ">u4", ">i8", ">c8", ">c16", ">f2"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        shmap_dtype got = SHMAP_DTYPE_NONE;
        CHECK_ERR(shmap_dtype_parse(big[i], &got), SHMAP_EBYTEORDER);
        CHECK_CONTAINS(shmap_last_error(), big[i]);
    }
}

TEST(dtype_parse__garbage_is_edtype)
{
    static const char *const bad[] = {
        "",     "f3",        "float33", "x",    "record", "f4 ",       " f4",    "int 16",
        "<",    "u",         "<u",      "<x4",  "<f4x",   "i16i",      "int128", "float128",
        "<f16", "complex32", "c32",     "u128", "f4,f4",  "long long", "struct", "0",
        "E",    "ff",        "<ff",     "w",    "n",      "N",         "bb",     "<?4",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        shmap_dtype got = SHMAP_DTYPE_NONE;
        int rc = shmap_dtype_parse(bad[i], &got);
        if (rc != SHMAP_EDTYPE)
            test_fail(__FILE__, __LINE__,
                      "shmap_dtype_parse(\"%s\") = %s (type %s), expected "
                      "SHMAP_EDTYPE",
                      bad[i], shmap_errname(rc), shmap_dtype_name(got));
    }
}

TEST(dtype_parse__null_arguments_are_refused_not_crashed)
{
    shmap_dtype got;
    CHECK_ERR(shmap_dtype_parse(NULL, &got), SHMAP_EINVAL);
    CHECK_ERR(shmap_dtype_parse("f4", NULL), SHMAP_EINVAL);
}

TEST(dtype_size__every_fixed_type_has_its_size)
{
    static const struct {
        shmap_dtype dtype;
        size_t size;
    } s[] = {
        {SHMAP_U8, 1},  {SHMAP_I8, 1},  {SHMAP_U16, 2},   {SHMAP_I16, 2},  {SHMAP_U32, 4},
        {SHMAP_I32, 4}, {SHMAP_U64, 8}, {SHMAP_I64, 8},   {SHMAP_F16, 2},  {SHMAP_F32, 4},
        {SHMAP_F64, 8}, {SHMAP_C64, 8}, {SHMAP_C128, 16}, {SHMAP_BOOL, 1},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        CHECK_EQ_INT(shmap_dtype_size(s[i].dtype), s[i].size);
    CHECK_EQ_INT(shmap_dtype_size(SHMAP_RECORD), 0);
    CHECK_EQ_INT(shmap_dtype_size(SHMAP_DTYPE_NONE), 0);
    CHECK_EQ_INT(shmap_dtype_size((shmap_dtype)15), 0);
    CHECK_EQ_INT(shmap_dtype_size((shmap_dtype)999), 0);
}

TEST(dtype_name__canonical_names_parse_back_to_the_same_type)
{
    static const shmap_dtype all[] = {SHMAP_U8,  SHMAP_I8,  SHMAP_U16,  SHMAP_I16, SHMAP_U32,
                                      SHMAP_I32, SHMAP_U64, SHMAP_I64,  SHMAP_F16, SHMAP_F32,
                                      SHMAP_F64, SHMAP_C64, SHMAP_C128, SHMAP_BOOL};
    static const char *const names[] = {"u8",  "i8",  "u16", "i16", "u32", "i32",  "u64",
                                        "i64", "f16", "f32", "f64", "c64", "c128", "bool"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK_STR(shmap_dtype_name(all[i]), names[i]);
        shmap_dtype back = SHMAP_DTYPE_NONE;
        CHECK_OK(shmap_dtype_parse(shmap_dtype_name(all[i]), &back));
        CHECK_EQ_INT(back, all[i]);
    }
    CHECK_STR(shmap_dtype_name(SHMAP_RECORD), "record");
    CHECK_STR(shmap_dtype_name(SHMAP_DTYPE_NONE), "?");
    CHECK_STR(shmap_dtype_name((shmap_dtype)99), "?");
}

TEST(dtype_numpy__names_are_numpys_and_parse_back)
{
    static const struct {
        shmap_dtype dtype;
        const char *numpy;
    } s[] = {
        {SHMAP_U16, "<u2"}, {SHMAP_I16, "<i2"},  {SHMAP_U32, "<u4"},   {SHMAP_I32, "<i4"},
        {SHMAP_U64, "<u8"}, {SHMAP_I64, "<i8"},  {SHMAP_F16, "<f2"},   {SHMAP_F32, "<f4"},
        {SHMAP_F64, "<f8"}, {SHMAP_C64, "<c8"},  {SHMAP_C128, "<c16"}, {SHMAP_U8, "|u1"},
        {SHMAP_I8, "|i1"},  {SHMAP_BOOL, "|b1"},
    };
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1)
        TEST_SKIP("numpy names checked on little-endian hosts only");
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        CHECK_STR(shmap_dtype_numpy(s[i].dtype), s[i].numpy);
        shmap_dtype back = SHMAP_DTYPE_NONE;
        CHECK_OK(shmap_dtype_parse(s[i].numpy, &back));
        CHECK_EQ_INT(back, s[i].dtype);
    }
    CHECK(shmap_dtype_numpy(SHMAP_RECORD) == NULL);
    CHECK(shmap_dtype_numpy((shmap_dtype)77) == NULL);
}

TEST(record_parse__packed_sizes_of_field_lists)
{
    static const struct {
        const char *fields;
        size_t size;
    } s[] = {
        {"x:f4,y:f4,flag:u1", 9},
        {"pos:f4[3]", 12},
        {"v:u1", 1},
        {"a:c128,b:u8", 17},
        {"a:float64[2],b:int", 18}, /* IDL's int is 2 bytes */
        {"t:i64,vals:f2[4],ok:bool", 17},
        {"_x1:long,Y:dcomplex", 20},
        {"z:<f8,w:=i2", 10},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        size_t elsize = 0;
        int rc = shmap_record_parse(s[i].fields, &elsize);
        if (rc != 0 || elsize != s[i].size)
            test_fail(__FILE__, __LINE__,
                      "shmap_record_parse(\"%s\") = %s, size %zu; expected "
                      "size %zu (%s)",
                      s[i].fields, shmap_errname(rc), elsize, s[i].size, shmap_last_error());
    }
    CHECK_OK(shmap_record_parse("x:f4", NULL));
}

TEST(record_parse__bad_fields_are_edtype_naming_the_field)
{
    static const struct {
        const char *fields, *named;
    } s[] = {
        {"x", "x"},
        {"x:", "x"},
        {":f4", ""},
        {"x:f3", "f3"},
        {"1x:f4", "1x"},
        {"x y:f4", "x y"},
        {"x:f4,", ","},
        {"x:f4[0]", "x"},
        {"x:f4[", "x"},
        {"x:f4[-1]", "x"},
        {"x:f4[3", "x"},
        {"x:f4[3]y", "x"},
        {"x:record", "record"},
        {"a:f4,b-c:u1", "b-c"},
        {"x:>f4", "x"},
        {"a:f4,,b:f4", ""},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        size_t elsize = 12345;
        int rc = shmap_record_parse(s[i].fields, &elsize);
        if (rc != SHMAP_EDTYPE)
            test_fail(__FILE__, __LINE__,
                      "shmap_record_parse(\"%s\") = %s, expected "
                      "SHMAP_EDTYPE",
                      s[i].fields, shmap_errname(rc));
        CHECK_CONTAINS(shmap_last_error(), s[i].named);
        CHECK_EQ_INT(elsize, 12345); /* untouched on failure */
    }
    CHECK_ERR(shmap_record_parse("", NULL), SHMAP_EDTYPE);
    CHECK(shmap_record_parse(NULL, NULL) < 0);
    /* A count past the limit says the limit. */
    CHECK_OK(shmap_record_parse("p:u1[1048576]", NULL));
    CHECK_ERR(shmap_record_parse("p:u1[1048577]", NULL), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "a count is 1 to 1048576");
}

TEST(record_parse__duplicate_field_names_are_edtype)
{
    CHECK_ERR(shmap_record_parse("x:f4,x:f8", NULL), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "'x'");
    CHECK_ERR(shmap_record_parse("a:u1,bb:u2,c:u4,bb:f4", NULL), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "bb");
    /* A name that is a prefix of another is not a duplicate. */
    size_t elsize = 0;
    CHECK_OK(shmap_record_parse("x:f4,xx:f4,x1:u1", &elsize));
    CHECK_EQ_INT(elsize, 9);
}

TEST(record_parse__too_long_a_field_list_is_edtype)
{
    char fields[SHMAP_RECORD_FIELDS_MAX + 64];
    size_t len = 0;
    for (int i = 0; len < SHMAP_RECORD_FIELDS_MAX + 10; i++)
        len += (size_t)snprintf(fields + len, sizeof fields - len, "%sf%03d:u1", i ? "," : "", i);
    CHECK_ERR(shmap_record_parse(fields, NULL), SHMAP_EDTYPE);
}

TEST(create__record_segment_keeps_its_field_list_and_size)
{
    const char *name = test_name("rec");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = "x:f4,y:f4,flag:u1";
    uint64_t dims[] = {10};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    CHECK_EQ_INT(info.dtype, SHMAP_RECORD);
    CHECK_EQ_INT(info.elsize, 9);
    CHECK_EQ_INT(info.data_size, 90);
    CHECK_STR(info.record_fields, "x:f4,y:f4,flag:u1");
    /* Another process sees the same description. */
    CHECK_OK(shmap_set_destroy(seg, 0));
    CHECK_OK(shmap_close(seg));
    shmap_info st;
    CHECK_OK(shmap_stat(name, &st));
    CHECK_EQ_INT(st.dtype, SHMAP_RECORD);
    CHECK_EQ_INT(st.elsize, 9);
    CHECK_STR(st.record_fields, "x:f4,y:f4,flag:u1");
    CHECK_OK(shmap_unlink(name));
}

/* numpy's one-letter codes follow the platform that reads them, and readers before they
 * were accepted do not know them: a segment stores shmap's names for them. */
TEST(create__record_stores_one_letter_codes_as_shmap_names)
{
    const char *name = test_name("letters");
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = "x:l,y:<h,z:?,w:f4[2],v:B,d:d[3]";
    uint64_t dims[] = {2};
    shmap_seg *seg = NULL;
    CHECK_OK(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts));
    shmap_info info;
    CHECK_OK(shmap_info_get(seg, &info));
    char want[96];
    snprintf(want, sizeof want, "x:%s,y:i16,z:bool,w:f4[2],v:u8,d:f64[3]",
             sizeof(long) == 8 ? "i64" : "i32");
    CHECK_STR(info.record_fields, want);
    CHECK_EQ_INT(info.elsize, sizeof(long) + 2 + 1 + 8 + 1 + 24);
    /* Open-or-create with the letters finds it the same record. */
    opts.flags = SHMAP_CREATE_OPEN;
    shmap_seg *again = NULL;
    CHECK_OK(shmap_create(&again, name, SHMAP_RECORD, 1, dims, &opts));
    CHECK_OK(shmap_close(again));
    CHECK_OK(shmap_close(seg));
}

TEST(create__record_without_or_with_bad_fields_is_edtype)
{
    const char *name = test_name("rec");
    uint64_t dims[] = {4};
    shmap_seg *seg = NULL;
    char want[SHMAP_NAME_MAX + 64];
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, NULL), SHMAP_EDTYPE);
    /* The detail names the segment, as every other create error does. */
    snprintf(want, sizeof want, "%s: record: empty field list", name);
    CHECK_STR(shmap_last_error(), want);
    shmap_create_opts opts = SHMAP_CREATE_OPTS_INIT;
    opts.record_fields = "x:f4,x:f4";
    CHECK_ERR(shmap_create(&seg, name, SHMAP_RECORD, 1, dims, &opts), SHMAP_EDTYPE);
    snprintf(want, sizeof want, "%s: record: field name 'x' appears twice", name);
    CHECK_STR(shmap_last_error(), want);
    CHECK(!util_shm_exists(name));
    /* The same for a raw mapping, which parses its field list before it opens anything. */
    shmap_raw_opts ro = SHMAP_RAW_OPTS_INIT;
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_RECORD, 1, dims, &ro), SHMAP_EDTYPE);
    snprintf(want, sizeof want, "%s: record: empty field list", name);
    CHECK_STR(shmap_last_error(), want);
    ro.record_fields = "x:f4,y:nope";
    CHECK_ERR(shmap_open_raw(&seg, name, SHMAP_RECORD, 1, dims, &ro), SHMAP_EDTYPE);
    snprintf(want, sizeof want, "%s: record: field 'y' has an unknown type 'nope'", name);
    CHECK_STR(shmap_last_error(), want);
    /* The parser alone has no segment to name. */
    CHECK_ERR(shmap_record_parse("", NULL), SHMAP_EDTYPE);
    CHECK_STR(shmap_last_error(), "record: empty field list");
    /* A field of the other byte order is said so, as a type alone is. */
    const uint16_t one = 1;
    const char *other = *(const unsigned char *)&one ? "x:>f4" : "x:<f4";
    CHECK_ERR(shmap_record_parse(other, NULL), SHMAP_EDTYPE);
    CHECK_CONTAINS(shmap_last_error(), "whose byte order differs from this");
}
