/*
 * npy.c: numpy's .npy files, as `import` reads them and `export` writes them.
 *
 * The format (numpy's NEP 1, numpy/lib/format.py): the magic "\x93NUMPY", a major and a
 * minor version byte, the header's length (2 bytes little-endian in version 1.0, 4 in 2.0
 * and 3.0), then the header: a Python dict literal such as
 *
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (512, 512), }
 *
 * padded with spaces and a newline so that the data that follows starts at a multiple of
 * 64 bytes. Version 3.0 only allows UTF-8 in the header (field names). The data is the
 * array's bytes, in C order unless fortran_order is True.
 *
 * The header is parsed as the small part of Python's literal syntax numpy writes (strings,
 * integers, True/False, tuples, lists, dicts) into a tree, and never evaluated: a file is
 * data from anywhere. descr is a type string ('<f4', '|u1', '>i2') or, for a structured
 * type, a list of (name, type[, shape]) tuples, which becomes a shmap record. Types shmap
 * has no element for (strings, objects, datetimes, raw bytes, long doubles, nested
 * records) are refused by name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* A header longer than this is not one numpy would write for any array shmap can hold. */
#define NPY_HEADER_MAX (16u << 20)

static int host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int cli_errf(char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* The header's literal syntax */

enum { LIT_STR, LIT_INT, LIT_BOOL, LIT_NONE, LIT_TUPLE, LIT_LIST, LIT_DICT };

typedef struct lit {
    int kind;
    const char *s; /* LIT_STR: decoded, NUL-terminated, in the parser's pool */
    int64_t i;     /* LIT_INT, LIT_BOOL */
    int child;     /* first child (LIT_TUPLE, LIT_LIST; LIT_DICT: key, value, key...), -1 */
    int next;      /* next sibling, -1 */
    int nchild;
} lit;

typedef struct parser {
    const char *p, *end;
    lit *nodes;
    int nnodes, cap;
    char *pool; /* decoded strings */
    size_t used;
    int depth;
    char *err;
    size_t errsize;
} parser;

static void skip_space(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
                               *ps->p == '\r'))
        ps->p++;
}

static int new_node(parser *ps, int kind)
{
    /* Grown as items are found, so a header costs memory for what it holds, not for the
     * length it announces. */
    if (ps->nnodes == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        lit *nodes = realloc(ps->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return cli_errf(ps->err, ps->errsize, "out of memory");
        ps->nodes = nodes;
        ps->cap = cap;
    }
    lit *n = &ps->nodes[ps->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->child = n->next = -1;
    return ps->nnodes++;
}

static int parse_value(parser *ps);

static int parse_string(parser *ps)
{
    char quote = *ps->p++;
    char *out = ps->pool + ps->used;
    size_t n = 0;
    for (;;) {
        if (ps->p == ps->end)
            return cli_errf(ps->err, ps->errsize, "header has an unterminated string");
        char c = *ps->p++;
        if (c == quote)
            break;
        if (c == '\\' && ps->p < ps->end)
            c = *ps->p++; /* \' \" \\: the escapes a dtype's repr may hold */
        out[n++] = c;
    }
    out[n] = '\0';
    ps->used += n + 1;
    int id = new_node(ps, LIT_STR);
    if (id >= 0)
        ps->nodes[id].s = out;
    return id;
}

static int parse_int(parser *ps)
{
    int neg = *ps->p == '-';
    if (neg || *ps->p == '+')
        ps->p++;
    uint64_t v = 0;
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        unsigned d = (unsigned)(*ps->p++ - '0');
        if (v > (UINT64_C(1) << 62) / 10)
            return cli_errf(ps->err, ps->errsize, "header has a number too large");
        v = v * 10 + d;
    }
    if (ps->p == start)
        return cli_errf(ps->err, ps->errsize, "header is not a Python literal near '%.10s'",
                        start);
    if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l'))
        ps->p++; /* Python 2 wrote longs as 3L */
    int id = new_node(ps, LIT_INT);
    if (id >= 0)
        ps->nodes[id].i = neg ? -(int64_t)v : (int64_t)v;
    return id;
}

/* Items up to @p close, separated by commas (a trailing one allowed); a dict's as k: v. */
static int parse_items(parser *ps, int kind, char close)
{
    int id = new_node(ps, kind), last = -1;
    if (id < 0)
        return -1;
    if (++ps->depth > 32)
        return cli_errf(ps->err, ps->errsize, "header nests too deep");
    ps->p++;
    for (;;) {
        skip_space(ps);
        if (ps->p == ps->end)
            return cli_errf(ps->err, ps->errsize, "header ends inside a '%c'", close);
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        for (int part = 0; part < (kind == LIT_DICT ? 2 : 1); part++) {
            if (part == 1) {
                skip_space(ps);
                if (ps->p == ps->end || *ps->p != ':')
                    return cli_errf(ps->err, ps->errsize, "header has a dict item without ':'");
                ps->p++;
            }
            int c = parse_value(ps);
            if (c < 0)
                return -1;
            if (last < 0)
                ps->nodes[id].child = c;
            else
                ps->nodes[last].next = c;
            last = c;
            ps->nodes[id].nchild++;
        }
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',')
            ps->p++;
        else if (ps->p < ps->end && *ps->p != close)
            return cli_errf(ps->err, ps->errsize, "header is not a Python literal near '%.10s'",
                            ps->p);
    }
    ps->depth--;
    return id;
}

static int word(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return 0;
    ps->p += n;
    return 1;
}

static int parse_value(parser *ps)
{
    skip_space(ps);
    if (ps->p == ps->end)
        return cli_errf(ps->err, ps->errsize, "header ends where a value should be");
    char c = *ps->p;
    if (c == '\'' || c == '"')
        return parse_string(ps);
    if (c == '(')
        return parse_items(ps, LIT_TUPLE, ')');
    if (c == '[')
        return parse_items(ps, LIT_LIST, ']');
    if (c == '{')
        return parse_items(ps, LIT_DICT, '}');
    if ((c >= '0' && c <= '9') || c == '-' || c == '+')
        return parse_int(ps);
    int kind = LIT_BOOL;
    int64_t v = 0;
    if (word(ps, "True"))
        v = 1;
    else if (word(ps, "False"))
        v = 0;
    else if (word(ps, "None"))
        kind = LIT_NONE;
    else
        return cli_errf(ps->err, ps->errsize, "header is not a Python literal near '%.10s'",
                        ps->p);
    int id = new_node(ps, kind);
    if (id >= 0)
        ps->nodes[id].i = v;
    return id;
}

/* ---------------------------------------------------------------------------------------- */
/* From the header to an array */

/*
 * A numpy type string ('<f4', '|b1', '>i2', 'u1') to a shmap type. @p order gets its byte
 * order: 'L' little, 'B' big, '|' none (one byte). 0, or -1 with err.
 *
 * The type is the library's reading of numpy's kind letter and size (shmap_dtype_parse),
 * given this machine's byte order, since a swap is ours to make and not a reason to refuse.
 * Only that form goes to the library, which also reads words and IDL's names: 'int' is
 * i16 there but int64 to numpy, and 'f16' shmap's half float where '<f16' is numpy's long
 * double. The refusals keep their own words, which say what numpy meant.
 */
static int parse_typestr(const char *t, shmap_dtype *dtype, char *order, char *err,
                         size_t errsize)
{
    const char *s = t;
    char o = '=';
    if (*s == '<' || *s == '>' || *s == '|' || *s == '=')
        o = *s++;
    char kind = *s ? *s++ : '\0';
    char code[32];
    if (kind && strchr("biufc", kind) && *s && strspn(s, "0123456789") == strlen(s) &&
        (size_t)snprintf(code, sizeof code, "%c%c%s", host_little_endian() ? '<' : '>', kind,
                         s) < sizeof code &&
        shmap_dtype_parse(code, dtype) == 0) {
        if (shmap_dtype_size(*dtype) == 1)
            *order = '|';
        else if (o == '<' || (o != '>' && host_little_endian()))
            *order = 'L';
        else
            *order = 'B';
        return 0;
    }
    const char *what = kind == 'U'                 ? "a string of unicode characters"
                       : kind == 'S' || kind == 'a' ? "a byte string"
                       : kind == 'V'               ? "raw bytes (or padding)"
                       : kind == 'O'               ? "Python objects"
                       : kind == 'M' || kind == 'm' ? "a date or a time"
                       : kind == 'f' || kind == 'c' ? "a float of that size (long double?)"
                                                    : "a type numpy does not write";
    return cli_errf(err, errsize, "numpy type '%s' (%s) has no shmap element type", t, what);
}

/*
 * Whether @p name can name a field of a shmap record, by the library's own rule: the name
 * alone in a one-field list must parse. A name holding the list's punctuation (':' ','
 * '[' ']') is refused first, as it would parse as other fields: 'x:f8,y' pasted into the
 * list makes x:f64,y:f32.
 */
static int field_name_ok(const char *name)
{
    char one[SHMAP_RECORD_FIELDS_MAX];
    if (name[strcspn(name, ":,[]")] != '\0' ||
        (size_t)snprintf(one, sizeof one, "%s:u1", name) >= sizeof one)
        return 0;
    return shmap_record_parse(one, NULL) == 0;
}

/*
 * Whether a descr field is an alignment hole: numpy writes the padding of an aligned type
 * (align=True, or offsets with gaps) as a field named '' of raw bytes ('|V7').
 */
static int is_padding(const char *name, const lit *type)
{
    if (name[0] != '\0' || type->kind != LIT_STR)
        return 0;
    const char *t = type->s;
    if (*t && strchr("|<>=", *t))
        t++;
    return t[0] == 'V' && t[1] && strspn(t + 1, "0123456789") == strlen(t + 1);
}

/* descr as a list of (name, type[, shape]) tuples: a record's field list. */
static int parse_fields(const parser *ps, const lit *list, cli_file_array *a, char *err,
                        size_t errsize)
{
    size_t used = 0;
    char order = '|';
    if (list->nchild == 0)
        return cli_errf(err, errsize, "descr has no fields");
    for (int id = list->child; id >= 0; id = ps->nodes[id].next) {
        const lit *t = &ps->nodes[id];
        if (t->kind != LIT_TUPLE || t->nchild < 2 || t->nchild > 3)
            return cli_errf(err, errsize, "descr has a field that is not (name, type[, shape])");
        const lit *name = &ps->nodes[t->child];
        const lit *type = &ps->nodes[name->next];
        /* A (title, name) pair names a field with a title: the name is what counts. */
        if (name->kind == LIT_TUPLE && name->nchild == 2)
            name = &ps->nodes[ps->nodes[name->child].next];
        if (name->kind != LIT_STR)
            return cli_errf(err, errsize, "descr has a field whose name is not a string");
        if (is_padding(name->s, type))
            return cli_errf(err, errsize, "the record has padding (alignment holes, written as "
                                          "'' fields of '%s'), which shmap's packed records "
                                          "cannot hold: save a packed copy, numpy.save(FILE, "
                                          "numpy.lib.recfunctions.repack_fields(a))", type->s);
        if (!field_name_ok(name->s)) {
            char shown[96];
            cli_escape_text(shown, sizeof shown, name->s);
            return cli_errf(err, errsize, "field '%s' is not a shmap record field name "
                                          "(1 to 63 letters, digits and '_', not first a "
                                          "digit)", shown);
        }
        if (type->kind != LIT_STR)
            return cli_errf(err, errsize, "field '%s' is a nested record, which shmap records "
                                          "cannot hold", name->s);
        uint64_t count = 1;
        if (t->nchild == 3) {
            const lit *shape = &ps->nodes[type->next];
            if (shape->kind == LIT_INT) {
                count = (uint64_t)shape->i;
            } else if (shape->kind == LIT_TUPLE) {
                for (int d = shape->child; d >= 0; d = ps->nodes[d].next) {
                    const lit *dim = &ps->nodes[d];
                    if (dim->kind != LIT_INT || dim->i < 0 ||
                        __builtin_mul_overflow(count, (uint64_t)dim->i, &count))
                        return cli_errf(err, errsize, "field '%s' has a bad shape", name->s);
                }
            } else {
                return cli_errf(err, errsize, "field '%s' has a bad shape", name->s);
            }
            if (count == 0 || count > (1u << 20))
                return cli_errf(err, errsize, "field '%s' has %" PRIu64 " items (shmap record "
                                              "fields hold 1 to %u)", name->s, count, 1u << 20);
        }
        shmap_dtype dt;
        char o;
        char why[160];
        if (parse_typestr(type->s, &dt, &o, why, sizeof why) < 0)
            return cli_errf(err, errsize, "field '%s': %s", name->s, why);
        if (o != '|') {
            if (order != '|' && order != o)
                return cli_errf(err, errsize, "fields of both byte orders in one record: shmap "
                                              "reads one order per file");
            order = o;
        }
        char item[128];
        int n = count > 1 ? snprintf(item, sizeof item, "%s%s:%s[%" PRIu64 "]",
                                     used ? "," : "", name->s, shmap_dtype_name(dt), count)
                          : snprintf(item, sizeof item, "%s%s:%s", used ? "," : "", name->s,
                                     shmap_dtype_name(dt));
        if (n < 0 || (size_t)n >= sizeof item || used + (size_t)n >= sizeof a->fields)
            return cli_errf(err, errsize, "record descr is too long for a shmap field list "
                                          "(%d bytes at most)", SHMAP_RECORD_FIELDS_MAX - 1);
        memcpy(a->fields + used, item, (size_t)n + 1);
        used += (size_t)n;
    }
    if (shmap_record_parse(a->fields, &a->elsize) < 0)
        return cli_errf(err, errsize, "%s", cli_lib_message(SHMAP_EDTYPE));
    a->dtype = SHMAP_RECORD;
    a->swap = order != '|' && (order == 'L') != host_little_endian();
    return 0;
}

static const lit *dict_get(const parser *ps, const lit *dict, const char *key)
{
    for (int k = dict->child; k >= 0; k = ps->nodes[ps->nodes[k].next].next)
        if (ps->nodes[k].kind == LIT_STR && strcmp(ps->nodes[k].s, key) == 0)
            return &ps->nodes[ps->nodes[k].next];
    return NULL;
}

static int interpret(const parser *ps, const lit *top, cli_file_array *a, char *err,
                     size_t errsize)
{
    if (top->kind != LIT_DICT)
        return cli_errf(err, errsize, "header is not a dict");
    const lit *descr = dict_get(ps, top, "descr");
    const lit *fortran = dict_get(ps, top, "fortran_order");
    const lit *shape = dict_get(ps, top, "shape");
    if (!descr || !fortran || !shape || top->nchild != 6)
        return cli_errf(err, errsize, "header must have the keys 'descr', 'fortran_order' and "
                                      "'shape', and no others");
    if (fortran->kind != LIT_BOOL)
        return cli_errf(err, errsize, "header's fortran_order is not True or False");
    a->fortran = (int)fortran->i;

    if (descr->kind == LIT_STR) {
        char order;
        if (parse_typestr(descr->s, &a->dtype, &order, err, errsize) < 0)
            return -1;
        a->elsize = shmap_dtype_size(a->dtype);
        a->swap = order != '|' && (order == 'L') != host_little_endian();
    } else if (descr->kind == LIT_LIST) {
        if (parse_fields(ps, descr, a, err, errsize) < 0)
            return -1;
    } else {
        return cli_errf(err, errsize, "header's descr is neither a type string nor a field list");
    }

    if (shape->kind != LIT_TUPLE)
        return cli_errf(err, errsize, "header's shape is not a tuple");
    if (shape->nchild > SHMAP_MAX_DIMS)
        return cli_errf(err, errsize, "array has %d dimensions, shmap at most %d", shape->nchild,
                        SHMAP_MAX_DIMS);
    a->ndim = 0;
    for (int d = shape->child; d >= 0; d = ps->nodes[d].next) {
        const lit *dim = &ps->nodes[d];
        if (dim->kind != LIT_INT || dim->i < 0)
            return cli_errf(err, errsize, "header's shape holds something other than sizes");
        if (dim->i == 0)
            return cli_errf(err, errsize, "array is empty (a dimension of 0): shmap arrays have "
                                          "at least one element");
        a->dims[a->ndim++] = (uint64_t)dim->i;
    }
    /* A 0-d array (a numpy scalar) is one element. */
    if (a->ndim == 0) {
        a->ndim = 1;
        a->dims[0] = 1;
    }
    uint64_t bytes = a->elsize;
    for (unsigned int i = 0; i < a->ndim; i++)
        if (__builtin_mul_overflow(bytes, a->dims[i], &bytes))
            return cli_errf(err, errsize, "array's size overflows 64 bits");
    return 0;
}

/* Read exactly @p n bytes (a pipe may give fewer at a time). 0, or -1 with errno set;
 * errno 0 for an end of file first. */
static int read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Fill buf[have..want) from fd. 0, or -1 with err. */
static int read_more(int fd, unsigned char *buf, size_t have, size_t want, char *err,
                     size_t errsize)
{
    if (have >= want)
        return 0;
    if (read_full(fd, buf + have, want - have) == 0)
        return 0;
    if (errno == 0)
        return cli_errf(err, errsize, "truncated .npy header");
    return cli_errf(err, errsize, "%s", strerror(errno));
}

/*
 * The prelude: magic, version and the header's length, from @p prefix (@p nprefix bytes
 * already read) and then @p fd. Sets *lensize (2 or 4) and *hlen. 0, or -1 with err.
 */
static int read_prelude(int fd, const unsigned char *prefix, size_t nprefix, size_t *lensize,
                        uint32_t *hlen, char *err, size_t errsize)
{
    unsigned char start[12];
    size_t have = nprefix < sizeof start ? nprefix : sizeof start;
    memcpy(start, prefix, have);
    if (read_more(fd, start, have, 10, err, errsize) < 0)
        return -1;
    have = have > 10 ? have : 10;
    if (memcmp(start, CLI_NPY_MAGIC, CLI_NPY_MAGIC_LEN) != 0)
        return cli_errf(err, errsize, "not a .npy file (no 0x93 NUMPY magic)");
    unsigned major = start[6], minor = start[7];
    if (major < 1 || major > 3 || minor != 0)
        return cli_errf(err, errsize, ".npy format version %u.%u: this shmap reads 1.0, 2.0 "
                                      "and 3.0", major, minor);
    *lensize = major == 1 ? 2 : 4;
    if (read_more(fd, start, have, 8 + *lensize, err, errsize) < 0)
        return -1;
    *hlen = (uint32_t)start[8] | (uint32_t)start[9] << 8;
    if (*lensize == 4)
        *hlen |= (uint32_t)start[10] << 16 | (uint32_t)start[11] << 24;
    if (*hlen > NPY_HEADER_MAX)
        return cli_errf(err, errsize, ".npy header of %" PRIu32 " bytes: more than any array "
                                      "needs", *hlen);
    return 0;
}

/*
 * The header's @p hlen bytes of text, NUL-terminated, in a new buffer (to free): what
 * @p have bytes at @p got hold, and the rest from @p fd, read in growing pieces so that a
 * length the file does not back costs no memory. NULL with err.
 */
static char *read_text(int fd, const unsigned char *got, size_t have, uint32_t hlen,
                       char *err, size_t errsize)
{
    char *text = malloc(have + 1);
    if (!text) {
        cli_errf(err, errsize, "out of memory");
        return NULL;
    }
    memcpy(text, got, have);
    while (have < hlen) {
        size_t want = have < 2048 ? 4096 : 2 * have;
        want = want < hlen ? want : hlen;
        char *t = realloc(text, want + 1);
        if (!t) {
            cli_errf(err, errsize, "out of memory");
            free(text);
            return NULL;
        }
        text = t;
        if (read_full(fd, text + have, want - have) < 0) {
            if (errno == 0)
                cli_errf(err, errsize, "truncated .npy header (%" PRIu32 " %s announced)", hlen,
                         cli_plural(hlen, "byte", "bytes"));
            else
                cli_errf(err, errsize, "%s", strerror(errno));
            free(text);
            return NULL;
        }
        have = want;
    }
    text[hlen] = '\0';
    if (memchr(text, '\0', hlen)) {
        cli_errf(err, errsize, ".npy header holds a NUL byte");
        free(text);
        return NULL;
    }
    return text;
}

/* Whether the last header read says the data is in the other byte order: what
 * cli_swap_bytes() is then to do besides setting bools to 0 or 1. A command reads one
 * file. */
static int byteswap;

/* Whether @p a holds bools, alone or as record fields. */
static int holds_bool(const cli_file_array *a)
{
    if (a->dtype != SHMAP_RECORD)
        return a->dtype == SHMAP_BOOL;
    for (const char *p = a->fields; (p = strchr(p, ':')) != NULL; p++)
        if (strncmp(p + 1, "bool", 4) == 0 && (p[5] == '\0' || p[5] == ',' || p[5] == '['))
            return 1;
    return 0;
}

int cli_npy_read_header(int fd, const unsigned char *prefix, size_t nprefix,
                        cli_file_array *a, char *err, size_t errsize)
{
    memset(a, 0, sizeof *a);
    size_t lensize = 0;
    uint32_t hlen = 0;
    if (read_prelude(fd, prefix, nprefix, &lensize, &hlen, err, errsize) < 0)
        return -1;
    a->data_offset = 8 + lensize + hlen;
    size_t got = 0;
    if (nprefix > 8 + lensize)
        got = nprefix - (8 + lensize) < hlen ? nprefix - (8 + lensize) : hlen;
    char *text = read_text(fd, prefix + 8 + lensize, got, hlen, err, errsize);
    if (!text)
        return -1;

    int rc = -1;
    parser ps = {text, text + hlen, NULL, 0, 0, malloc((size_t)hlen + 1), 0, 0, err, errsize};
    if (!ps.pool) {
        cli_errf(err, errsize, "out of memory");
        goto out;
    }
    int top = parse_value(&ps);
    if (top < 0)
        goto out;
    skip_space(&ps);
    if (ps.p != ps.end) {
        cli_errf(err, errsize, "header has text after its dict");
        goto out;
    }
    char why[384];
    if (interpret(&ps, &ps.nodes[top], a, why, sizeof why) < 0) {
        cli_errf(err, errsize, "%s", why);
        goto out;
    }
    /* A bool is 0 or 1 in a segment (FORMAT.md); numpy reads any nonzero byte as True and
     * leaves it as it is. The data of a file holding bools is put right after reading,
     * through the call that swaps bytes (import makes it when a->swap is set), which then
     * also knows whether the bytes are to be swapped. */
    byteswap = a->swap;
    if (holds_bool(a))
        a->swap = 1;
    rc = 0;
out:
    free(text);
    free(ps.pool);
    free(ps.nodes);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing */

/* Append to a growing buffer; -1 when out of memory. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

static int sb_add(strbuf *b, const char *fmt, ...) CLI_PRINTF(2, 3);

static int sb_add(strbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return 0;
        }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s)
            return -1;
        b->s = s;
        b->cap = cap;
    }
}

int cli_npy_make_header(const cli_layout *l, unsigned int ndim, const uint64_t *dims,
                        char **out, size_t *len, char *err, size_t errsize)
{
    strbuf b = {0};
    int bad = sb_add(&b, "{'descr': ");
    if (l->dtype == SHMAP_RECORD) {
        bad |= sb_add(&b, "[");
        for (size_t i = 0; i < l->nfields; i++) {
            const cli_field *f = &l->fields[i];
            bad |= sb_add(&b, "%s('%s', '%s'", i ? ", " : "", f->name,
                          shmap_dtype_numpy(f->dtype));
            if (f->count > 1)
                bad |= sb_add(&b, ", (%zu,)", f->count);
            bad |= sb_add(&b, ")");
        }
        bad |= sb_add(&b, "]");
    } else {
        const char *t = cli_layout_numpy(l);
        if (!t) {
            free(b.s);
            return cli_errf(err, errsize, "element type %s has no numpy type",
                            shmap_dtype_name(l->dtype));
        }
        bad |= sb_add(&b, "'%s'", t);
    }
    bad |= sb_add(&b, ", 'fortran_order': False, 'shape': (");
    for (unsigned int i = 0; i < ndim; i++)
        bad |= sb_add(&b, "%s%" PRIu64, i ? ", " : "", dims[i]);
    bad |= sb_add(&b, "%s), }", ndim == 1 ? "," : "");
    /* Spaces, then a newline, so the data starts at a multiple of 64 (numpy's alignment). */
    size_t prelude = 10, total = (prelude + b.len + 1 + 63) / 64 * 64;
    if (total - prelude > 65535) {
        prelude = 12; /* version 2.0: a 4-byte length */
        total = (prelude + b.len + 1 + 63) / 64 * 64;
    }
    while (!bad && prelude + b.len + 1 < total)
        bad |= sb_add(&b, " ");
    bad |= sb_add(&b, "\n");
    if (bad) {
        free(b.s);
        return cli_errf(err, errsize, "out of memory");
    }
    size_t hlen = b.len;
    char *h = malloc(prelude + hlen);
    if (!h) {
        free(b.s);
        return cli_errf(err, errsize, "out of memory");
    }
    memcpy(h, CLI_NPY_MAGIC, CLI_NPY_MAGIC_LEN);
    h[6] = prelude == 10 ? 1 : 2;
    h[7] = 0;
    for (size_t i = 0; i < prelude - 8; i++)
        h[8 + i] = (char)(hlen >> (8 * i) & 0xff);
    memcpy(h + prelude, b.s, hlen);
    free(b.s);
    *out = h;
    *len = prelude + hlen;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Byte order */

static void swap_items(unsigned char *p, size_t size, size_t n, size_t stride)
{
    if (size < 2)
        return;
    for (size_t k = 0; k < n; k++, p += stride)
        for (size_t i = 0, j = size - 1; i < j; i++, j--) {
            unsigned char t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
}

/* One element type's numbers: complex numbers are two of half the size. */
static void swap_scalars(shmap_dtype t, unsigned char *p, size_t count, size_t stride)
{
    size_t size = shmap_dtype_size(t);
    if (t == SHMAP_C64 || t == SHMAP_C128) {
        for (size_t k = 0; k < count; k++)
            swap_items(p + k * stride, size / 2, 2, size / 2);
        return;
    }
    swap_items(p, size, count, stride);
}

/* @p count scalars of type @p t, @p stride bytes apart, into this machine's form: bytes
 * swapped if the file's order is the other (@p swap), and bools 0 or 1. */
static void fix_scalars(shmap_dtype t, unsigned char *p, size_t count, size_t stride, int swap)
{
    if (t == SHMAP_BOOL) {
        for (size_t k = 0; k < count; k++)
            p[k * stride] = p[k * stride] != 0;
    } else if (swap) {
        swap_scalars(t, p, count, stride);
    }
}

void cli_swap_bytes(const cli_layout *l, void *data, uint64_t nelem)
{
    unsigned char *p = data;
    int swap = byteswap || l->swapped;
    if (l->dtype != SHMAP_RECORD) {
        fix_scalars(l->dtype, p, (size_t)nelem, l->elsize, swap);
        return;
    }
    for (uint64_t e = 0; e < nelem; e++)
        for (size_t i = 0; i < l->nfields; i++) {
            const cli_field *f = &l->fields[i];
            fix_scalars(f->dtype, p + e * l->elsize + f->offset, f->count, f->size, swap);
        }
}
