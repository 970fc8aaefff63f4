/* Element types: their spellings in shmap, numpy and IDL, sizes, and record field lists. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The longest record field name, in bytes: what every reader of a field list takes (the
 * command's and the Python module's buffers hold 64 with the NUL). */
#define SHMAP__FIELD_NAME_MAX 63

static const struct {
    shmap_dtype dtype;
    const char *name, *numpy;
    size_t size;
} types[] = {
    {SHMAP_U8, "u8", "|u1", 1},      {SHMAP_I8, "i8", "|i1", 1},
    {SHMAP_U16, "u16", "<u2", 2},    {SHMAP_I16, "i16", "<i2", 2},
    {SHMAP_U32, "u32", "<u4", 4},    {SHMAP_I32, "i32", "<i4", 4},
    {SHMAP_U64, "u64", "<u8", 8},    {SHMAP_I64, "i64", "<i8", 8},
    {SHMAP_F16, "f16", "<f2", 2},    {SHMAP_F32, "f32", "<f4", 4},
    {SHMAP_F64, "f64", "<f8", 8},    {SHMAP_C64, "c64", "<c8", 8},
    {SHMAP_C128, "c128", "<c16", 16}, {SHMAP_BOOL, "bool", "|b1", 1},
};

/*
 * Whole-word spellings, compared case-insensitively (numpy's one-letter codes, whose case is
 * their meaning, are in `letters` below). Where numpy and IDL disagree (int, long, float,
 * complex), IDL's meaning is taken: the SPEC promises IDL's names, and numpy users have
 * unambiguous ones (int64, float64, complex128, or the codes 'l' and 'd'). IDL's type
 * names and SHMMAP's type keywords (integer, l64, ul64) are both taken.
 */
static const struct {
    const char *word;
    shmap_dtype dtype;
} words[] = {
    {"u8", SHMAP_U8},         {"uint8", SHMAP_U8},     {"u1", SHMAP_U8},
    {"byte", SHMAP_U8},       {"ubyte", SHMAP_U8},     {"i8", SHMAP_I8},
    {"int8", SHMAP_I8},       {"i1", SHMAP_I8},        {"sbyte", SHMAP_I8},
    {"u16", SHMAP_U16},       {"uint16", SHMAP_U16},   {"u2", SHMAP_U16},
    {"uint", SHMAP_U16},      {"ushort", SHMAP_U16},   {"i16", SHMAP_I16},
    {"int16", SHMAP_I16},     {"i2", SHMAP_I16},       {"int", SHMAP_I16},
    {"integer", SHMAP_I16},   {"l64", SHMAP_I64},      {"ul64", SHMAP_U64},
    {"short", SHMAP_I16},     {"u32", SHMAP_U32},      {"uint32", SHMAP_U32},
    {"u4", SHMAP_U32},        {"ulong", SHMAP_U32},    {"uintc", SHMAP_U32},
    {"i32", SHMAP_I32},       {"int32", SHMAP_I32},    {"i4", SHMAP_I32},
    {"long", SHMAP_I32},      {"intc", SHMAP_I32},     {"u64", SHMAP_U64},
    {"uint64", SHMAP_U64},    {"ulong64", SHMAP_U64},  {"ulonglong", SHMAP_U64},
    {"i64", SHMAP_I64},       {"int64", SHMAP_I64},    {"long64", SHMAP_I64},
    {"longlong", SHMAP_I64},  {"f16", SHMAP_F16},      {"float16", SHMAP_F16},
    {"f2", SHMAP_F16},        {"half", SHMAP_F16},     {"f32", SHMAP_F32},
    {"float32", SHMAP_F32},   {"f4", SHMAP_F32},       {"float", SHMAP_F32},
    {"single", SHMAP_F32},    {"f64", SHMAP_F64},      {"float64", SHMAP_F64},
    {"f8", SHMAP_F64},        {"double", SHMAP_F64},   {"c64", SHMAP_C64},
    {"complex64", SHMAP_C64}, {"c8", SHMAP_C64},       {"complex", SHMAP_C64},
    {"csingle", SHMAP_C64},   {"c128", SHMAP_C128},    {"complex128", SHMAP_C128},
    {"c16", SHMAP_C128},      {"dcomplex", SHMAP_C128}, {"cdouble", SHMAP_C128},
    {"bool", SHMAP_BOOL},     {"b1", SHMAP_BOOL},      {"bool_", SHMAP_BOOL},
    {"bool8", SHMAP_BOOL},    {"boolean", SHMAP_BOOL},
};

/*
 * numpy's one-letter codes (numpy.typecodes), whose case is their meaning: 'b' is int8 and
 * 'B' uint8, 'f' float32 and 'F' complex64. The integer codes name C types, so their sizes
 * are this platform's, as numpy takes them: 'l' is a C long, 8 bytes on 64-bit Linux and 4
 * on Windows or a 32-bit system. Each code gives numpy's kind letter and a size, resolved
 * through `types` as "<i8" is.
 */
static const struct {
    char code, kind;
    size_t size;
} letters[] = {
    {'?', 'b', 1},
    {'b', 'i', sizeof(signed char)},
    {'B', 'u', sizeof(unsigned char)},
    {'h', 'i', sizeof(short)},
    {'H', 'u', sizeof(unsigned short)},
    {'i', 'i', sizeof(int)},
    {'I', 'u', sizeof(unsigned int)},
    {'l', 'i', sizeof(long)},
    {'L', 'u', sizeof(unsigned long)},
    {'q', 'i', sizeof(long long)},
    {'Q', 'u', sizeof(unsigned long long)},
    {'p', 'i', sizeof(intptr_t)},
    {'P', 'u', sizeof(uintptr_t)},
    {'e', 'f', 2},
    {'f', 'f', sizeof(float)},
    {'d', 'f', sizeof(double)},
    {'F', 'c', 2 * sizeof(float)},
    {'D', 'c', 2 * sizeof(double)},
};

/*
 * numpy's codes for what shmap cannot hold, so that a refusal says what was asked for
 * rather than "unknown type". With `sized`, numpy also takes a count after the letter
 * ("U4", "S10", "V8", "O8", "M8[ns]").
 */
static const struct {
    char code;
    bool sized;
    const char *what;
} unheld[] = {
    {'g', false, "numpy's long double"},
    {'G', false, "numpy's complex long double"},
    {'S', true, "numpy's byte string"},
    {'a', true, "numpy's byte string"},
    {'c', false, "numpy's one-character byte string (S1)"},
    {'U', true, "numpy's unicode string"},
    {'V', true, "numpy's raw bytes (void)"},
    {'O', true, "numpy's Python object"},
    {'M', true, "numpy's datetime64"},
    {'m', true, "numpy's timedelta64"},
};

/* numpy's "U4" is a unicode string of 4 characters, not shmap's u4: never take it for one. */
static bool numpy_unicode(const char *s)
{
    return s[0] == 'U' && isdigit((unsigned char)s[1]);
}

/* The type of numpy's kind letter ('i', 'u', 'f', 'c', 'b') and byte count, if shmap has it. */
static int type_of_kind(char kind, unsigned long size, shmap_dtype *out)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *np = types[i].numpy + 1;
        if (kind == np[0] && strtoul(np + 1, NULL, 10) == size) {
            *out = types[i].dtype;
            return 0;
        }
    }
    return -1;
}

/* numpy's kind letter and byte count, after a byte-order character: "<u8" is uint64. */
static int parse_numpy_code(const char *code, shmap_dtype *out)
{
    static const char *const kinds = "iufcb";
    if (!code[0] || !strchr(kinds, tolower((unsigned char)code[0])))
        return -1;
    char *end;
    errno = 0;
    unsigned long n = strtoul(code + 1, &end, 10);
    if (*end || end == code + 1 || errno)
        return -1;
    return type_of_kind((char)tolower((unsigned char)code[0]), n, out);
}

/* numpy's one-letter code, exactly (case counts); -1 if it is none that shmap holds. */
static int parse_numpy_letter(const char *code, shmap_dtype *out)
{
    if (!code[0] || code[1])
        return -1;
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        if (letters[i].code == code[0])
            return type_of_kind(letters[i].kind, letters[i].size, out);
    return -1;
}

/*
 * What numpy means by a code that shmap cannot hold ("U4", "g", "<M8[ns]", "<f16"), in
 * `buf`; false if it is not such a code. Only a code after a byte-order character is read
 * as numpy's kind and size: a bare "f16" is shmap's half float.
 */
static bool numpy_unheld(const char *s, char *buf, size_t size)
{
    /* numpy's names of the same (np.float128, np.longdouble, np.str_, ...). */
    static const struct {
        const char *name, *what;
    } unheld_words[] = {
        {"longdouble", "numpy's long double"},    {"longfloat", "numpy's long double"},
        {"float96", "numpy's long double"},       {"float128", "numpy's long double"},
        {"clongdouble", "numpy's complex long double"},
        {"clongfloat", "numpy's complex long double"},
        {"complex192", "numpy's complex long double"},
        {"complex256", "numpy's complex long double"},
        {"str_", "numpy's unicode string"},       {"unicode_", "numpy's unicode string"},
        {"bytes_", "numpy's byte string"},        {"string_", "numpy's byte string"},
        {"void", "numpy's raw bytes (void)"},     {"object_", "numpy's Python object"},
        {"datetime64", "numpy's datetime64"},     {"timedelta64", "numpy's timedelta64"},
    };
    for (size_t i = 0; i < sizeof unheld_words / sizeof unheld_words[0]; i++) {
        if (strcmp(s, unheld_words[i].name) == 0) {
            snprintf(buf, size, "%s", unheld_words[i].what);
            return true;
        }
    }
    bool ordered = s[0] == '<' || s[0] == '>' || s[0] == '=' || s[0] == '|';
    if (ordered)
        s++;
    for (size_t i = 0; i < sizeof unheld / sizeof unheld[0]; i++) {
        if (unheld[i].code != s[0])
            continue;
        const char *p = s + 1;
        if (unheld[i].sized) {
            while (isdigit((unsigned char)*p))
                p++;
            /* A time unit: "M8[ns]". */
            size_t rest = strlen(p);
            if ((s[0] == 'M' || s[0] == 'm') && *p == '[' && rest > 2 && p[rest - 1] == ']')
                p += rest;
        }
        if (!*p) {
            snprintf(buf, size, "%s", unheld[i].what);
            return true;
        }
    }
    static const char kinds[] = "iufcb";
    static const char *const kind_names[] = {"signed integer", "unsigned integer", "float",
                                             "complex", "bool"};
    const char *k = s[0] ? strchr(kinds, s[0]) : NULL;
    char *end;
    unsigned long n = k ? strtoul(s + 1, &end, 10) : 0;
    if (!ordered || !k || end == s + 1 || *end || n == 0 || n > 64)
        return false;
    snprintf(buf, size, "a %lu-byte %s", n, kind_names[k - kinds]);
    return true;
}

static bool host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

int shmap__dtype_parse_quiet(const char *s, shmap_dtype *out)
{
    if (!s || !*s)
        return SHMAP_EDTYPE;
    char order = s[0];
    if (order == '<' || order == '>' || order == '=' || order == '|' || order == '!') {
        bool big = order == '>' || order == '!';
        bool little = order == '<';
        shmap_dtype dt;
        if (numpy_unicode(s + 1))
            return SHMAP_EDTYPE;
        if (parse_numpy_code(s + 1, &dt) < 0 && parse_numpy_letter(s + 1, &dt) < 0) {
            /* "<float32" is not numpy, but "=f4" is; allow words after '=' and '|', and
             * one such character only ("|<f4", "=<f4", "|||b" are no type). */
            if ((order != '=' && order != '|') || strchr("<>=|!", s[1]))
                return SHMAP_EDTYPE;
            return shmap__dtype_parse_quiet(s + 1, out);
        }
        if (shmap_dtype_size(dt) > 1 && ((big && host_little_endian()) ||
                                         (little && !host_little_endian())))
            return SHMAP_EBYTEORDER;
        *out = dt;
        return 0;
    }
    if (numpy_unicode(s))
        return SHMAP_EDTYPE;
    if (!s[1])
        return parse_numpy_letter(s, out) < 0 ? SHMAP_EDTYPE : 0;
    /* Words are lower-case: the first letter rules most of them out without a call. */
    char first = (char)tolower((unsigned char)s[0]);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (words[i].word[0] == first && strcasecmp(s, words[i].word) == 0) {
            *out = words[i].dtype;
            return 0;
        }
    }
    return SHMAP_EDTYPE;
}

int shmap_dtype_parse(const char *spelling, shmap_dtype *out)
{
    if (!out || !spelling)
        return shmap__err(SHMAP_EINVAL, "shmap_dtype_parse: NULL argument");
    int rc = shmap__dtype_parse_quiet(spelling, out);
    if (rc == SHMAP_EBYTEORDER)
        return shmap__err(rc, "type '%s': byte order differs from this %s-endian host", spelling,
                          host_little_endian() ? "little" : "big");
    char what[64];
    if (rc < 0 && spelling && numpy_unheld(spelling, what, sizeof what))
        return shmap__err(rc, "type '%s' is %s, which shmap cannot hold (its types: u8 i8 u16 "
                              "i16 u32 i32 u64 i64 f16 f32 f64 c64 c128 bool, and records)",
                          spelling, what);
    if (rc < 0)
        return shmap__err(rc, "unknown type '%s' (try u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 "
                              "f64 c64 c128 bool, numpy's names such as float32, or IDL's "
                              "such as byte, int, long, float, double)", spelling);
    return 0;
}

const char *shmap_dtype_name(shmap_dtype dtype)
{
    if (dtype == SHMAP_RECORD)
        return "record";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].dtype == dtype)
            return types[i].name;
    return "?";
}

const char *shmap_dtype_numpy(shmap_dtype dtype)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].dtype == dtype) {
            /* On a big-endian host the native spelling uses '>'. */
            if (!host_little_endian() && types[i].numpy[0] == '<') {
                static const char *const big[] = {"", "", "", ">u2", ">i2", ">u4", ">i4",
                                                  ">u8", ">i8", ">f2", ">f4", ">f8", ">c8",
                                                  ">c16"};
                return big[dtype];
            }
            return types[i].numpy;
        }
    return NULL;
}

size_t shmap_dtype_size(shmap_dtype dtype)
{
    /* The table is in code order, so the code indexes it (every attach asks). */
    size_t i = (size_t)dtype - 1;
    return i < sizeof types / sizeof types[0] && types[i].dtype == dtype ? types[i].size : 0;
}

/* One field of a checked field list, as next_field() reads it. */
struct field {
    const char *name, *type; /* its name and its type's text, count left out */
    size_t nlen, tlen;
    shmap_dtype dt;
    unsigned long long count;
    bool bracket; /* a count was written */
};

/* The next field of a checked field list into `f`; the text after it, or NULL at the end
 * (or on a field that does not parse). */
static const char *next_field(const char *p, struct field *f)
{
    const char *colon = strchr(p, ':'), *comma = strchr(p, ',');
    size_t flen = comma ? (size_t)(comma - p) : strlen(p);
    if (!colon || (size_t)(colon - p) >= flen || flen >= SHMAP_RECORD_FIELDS_MAX)
        return NULL;
    char type[SHMAP_RECORD_FIELDS_MAX];
    size_t tlen = flen - (size_t)(colon + 1 - p);
    memcpy(type, colon + 1, tlen);
    type[tlen] = '\0';
    f->count = 1;
    char *bracket = strchr(type, '[');
    f->bracket = bracket != NULL;
    if (bracket) {
        f->count = strtoull(bracket + 1, NULL, 10);
        *bracket = '\0';
    }
    if (shmap__dtype_parse_quiet(type, &f->dt) < 0)
        return NULL;
    f->name = p;
    f->nlen = (size_t)(colon - p);
    f->type = colon + 1;
    f->tlen = strlen(type);
    return comma ? comma + 1 : p + flen;
}

bool shmap__record_same(const char *a, const char *b)
{
    while (*a && *b) {
        struct field fa, fb;
        a = next_field(a, &fa);
        b = next_field(b, &fb);
        if (!a || !b || fa.nlen != fb.nlen || memcmp(fa.name, fb.name, fa.nlen) != 0 ||
            fa.dt != fb.dt || fa.count != fb.count)
            return false;
    }
    return !*a && !*b;
}

/*
 * A checked field list as a segment stores it: numpy's one-letter codes (`l`, `<h`, `?`)
 * written out as shmap's names, since their sizes follow the platform that reads them and
 * readers before they were accepted do not know them; each count in plain digits ("[03]",
 * "[ 3]", "[+3]" are stored as "[3]", the form FORMAT.md gives). Other spellings are kept:
 * with one byte-order character at most, none is longer than readers take.
 */
int shmap__record_canon(const char *fields, char *out, size_t size)
{
    size_t len = 0;
    for (const char *p = fields; p && *p;) {
        struct field f;
        const char *next = next_field(p, &f);
        if (!next)
            return shmap__err(SHMAP_EDTYPE, "record: field list '%s' does not parse", fields);
        bool letter = f.tlen == 1 || (f.tlen == 2 && strchr("<>=|", f.type[0]));
        char count[32] = "";
        if (f.bracket)
            snprintf(count, sizeof count, "[%llu]", f.count);
        len += (size_t)snprintf(out + len, len < size ? size - len : 0, "%.*s:%.*s%s%s",
                                (int)f.nlen, f.name, letter ? (int)strlen(shmap_dtype_name(f.dt))
                                : (int)f.tlen, letter ? shmap_dtype_name(f.dt) : f.type,
                                count, *next ? "," : "");
        p = next;
    }
    if (len >= size)
        return shmap__err(SHMAP_EDTYPE, "record: field list longer than %zu bytes once its "
                                        "one-letter types are written out", size - 1);
    if (!*fields && size)
        out[0] = '\0';
    return 0;
}

/*
 * A field list: name:type[count],... packed. Each field is checked; the detail names the
 * field at fault. Records of records are not supported (a flat list describes any IDL
 * structure without pointers once nested structures are flattened).
 */
/* `stored`: a list read from a segment, which a version before 0.4.3 may have written with
 * a longer field name: it is read, as its data must stay reachable, but none is made so. */
static int record_parse(const char *fields, size_t *elsize, bool stored)
{
    if (!fields || !*fields)
        return shmap__err(SHMAP_EDTYPE, "record: empty field list");
    size_t len = strlen(fields);
    if (len >= SHMAP_RECORD_FIELDS_MAX)
        return shmap__err(SHMAP_EDTYPE, "record: field list is %zu bytes, at most %d", len,
                          SHMAP_RECORD_FIELDS_MAX - 1);
    uint64_t total = 0;
    const char *p = fields;
    int nfield = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t flen = comma ? (size_t)(comma - p) : strlen(p);
        char field[SHMAP_RECORD_FIELDS_MAX];
        memcpy(field, p, flen);
        field[flen] = '\0';
        nfield++;
        char *colon = strchr(field, ':');
        if (!colon)
            return shmap__err(SHMAP_EDTYPE, "record: field %d '%s' has no ':type'", nfield,
                              field);
        *colon = '\0';
        const char *fname = field, *ftype = colon + 1;
        if (!stored && strlen(fname) > SHMAP__FIELD_NAME_MAX)
            return shmap__err(SHMAP_EDTYPE, "record: field %d's name '%s' is %zu bytes, at "
                                            "most %d", nfield, fname, strlen(fname),
                              SHMAP__FIELD_NAME_MAX);
        if (!*fname || !(isalpha((unsigned char)fname[0]) || fname[0] == '_'))
            return shmap__err(SHMAP_EDTYPE, "record: field %d has a bad name '%s'", nfield,
                              fname);
        for (const char *c = fname; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_')
                return shmap__err(SHMAP_EDTYPE, "record: field %d has a bad name '%s'", nfield,
                                  fname);
        /* Duplicate names: search the text before this field. */
        for (const char *q = fields; q < p;) {
            const char *qc = strchr(q, ':');
            if ((size_t)(qc - q) == strlen(fname) && strncmp(q, fname, strlen(fname)) == 0)
                return shmap__err(SHMAP_EDTYPE, "record: field name '%s' appears twice", fname);
            q = strchr(q, ',') + 1;
        }
        uint64_t count = 1;
        char *bracket = strchr(ftype, '[');
        if (bracket) {
            char *end;
            errno = 0;
            count = strtoull(bracket + 1, &end, 10);
            /* strtoull's reading ("[ 3]", "[+3]", "[03]" are 3): a segment stores the
             * count as "[3]" (shmap__record_canon), and reads back what it stored before. */
            if (errno || end == bracket + 1 || *end != ']' || end[1] || count == 0 ||
                count > (1u << 20))
                return shmap__err(SHMAP_EDTYPE, "record: field '%s' has a bad count '%s' (a "
                                                "count is 1 to %u)", fname, bracket, 1u << 20);
            *bracket = '\0';
        }
        shmap_dtype dt;
        int rc = shmap__dtype_parse_quiet(ftype, &dt);
        if (rc == SHMAP_EBYTEORDER)
            return shmap__err(SHMAP_EDTYPE, "record: field '%s' has type '%s', whose byte order "
                                            "differs from this %s-endian host", fname, ftype,
                              host_little_endian() ? "little" : "big");
        if (rc < 0)
            return shmap__err(SHMAP_EDTYPE, "record: field '%s' has an unknown type '%s'", fname,
                              ftype);
        total += shmap_dtype_size(dt) * count;
        if (total > UINT32_MAX / 2)
            return shmap__err(SHMAP_EDTYPE, "record: larger than %u bytes", UINT32_MAX / 2);
        if (!comma)
            break;
        p = comma + 1;
        if (!*p)
            return shmap__err(SHMAP_EDTYPE, "record: field list ends with ','");
    }
    if (elsize)
        *elsize = (size_t)total;
    return 0;
}

int shmap_record_parse(const char *fields, size_t *elsize)
{
    return record_parse(fields, elsize, false);
}

int shmap__record_parse_stored(const char *fields, size_t *elsize)
{
    return record_parse(fields, elsize, true);
}
