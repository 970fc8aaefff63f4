/*
 * value.c: reading, writing and printing array elements of every type.
 *
 * Elements are always copied through memcpy: record fields are packed with no padding, so a
 * field may sit at any address, and shared memory is no place to assume alignment anyway.
 * Integer types are stored through the unsigned type of their width, which makes wrapping
 * (ramp) exact modular arithmetic rather than implementation-defined signed conversion.
 *
 * Values parse into a status: VAL_BAD (not a value of that type) or VAL_RANGE (a value, but
 * not one the type can hold), so errors can say which.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

enum { VAL_OK = 0, VAL_BAD = 1, VAL_RANGE = 2 };

/* ---------------------------------------------------------------------------------------- */
/* Half precision (IEEE 754 binary16), done in software: C11 has no such type. */

static double f16_to_double(uint16_t h)
{
    int exp = (h >> 10) & 0x1f;
    int man = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp(man, -24); /* subnormal */
    else if (exp == 31)
        v = man ? NAN : INFINITY;
    else
        v = ldexp(man + 1024, exp - 25);
    return (h & 0x8000) ? -v : v;
}

/*
 * Round a double to the nearest half, ties to even, in one step (going through float first
 * would round twice and can be off by one unit). The 53-bit significand is shifted down to
 * the half's unit: 2^-24 for subnormals, 2^(e-25) for normal halves. Adding the rounded
 * significand (implicit bit included) to (E-1)<<10 lets a carry out of the significand bump
 * the exponent, up to infinity, as it should.
 */
static uint16_t double_to_f16(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    uint16_t sign = (uint16_t)((b >> 48) & 0x8000);
    int exp = (int)((b >> 52) & 0x7ff);
    uint64_t man = b & ((UINT64_C(1) << 52) - 1);

    if (exp == 0x7ff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp == 0)
        return sign; /* zero, or a double subnormal: far below half's range */
    int e = exp - 1008; /* the half's biased exponent: 1023 - 15 */
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    int ebias = e < 1 ? 1 : e;
    int shift = ebias + 1050 - exp; /* 42 for normal halves, more for subnormal ones */
    if (shift > 60)
        return sign; /* under a quarter of the smallest subnormal */

    uint64_t m = man | (UINT64_C(1) << 52);
    uint64_t r = m >> shift;
    uint64_t rem = m & ((UINT64_C(1) << shift) - 1);
    uint64_t half = UINT64_C(1) << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
        r++;
    uint32_t bits = ((uint32_t)(ebias - 1) << 10) + (uint32_t)r;
    if (bits >= 0x7c00)
        return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | bits);
}

/* ---------------------------------------------------------------------------------------- */
/* Parsing text spans [s, e) */

static void trim(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static int is_int_type(shmap_dtype t)
{
    return t >= SHMAP_U8 && t <= SHMAP_I64;
}

static int is_signed_type(shmap_dtype t)
{
    return t == SHMAP_I8 || t == SHMAP_I16 || t == SHMAP_I32 || t == SHMAP_I64;
}

/* A sign, then decimal or 0x hex digits. Too many digits for 64 bits is VAL_RANGE. */
static int parse_integer(const char *s, const char *e, int *neg, uint64_t *mag)
{
    trim(&s, &e);
    *neg = 0;
    if (s < e && (*s == '-' || *s == '+')) {
        *neg = *s == '-';
        s++;
    }
    unsigned base = 10;
    if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (s == e)
        return VAL_BAD;
    uint64_t v = 0;
    int over = 0;
    for (; s < e; s++) {
        int c = (unsigned char)*s;
        unsigned d;
        if (isdigit(c))
            d = (unsigned)(c - '0');
        else if (base == 16 && isxdigit(c))
            d = (unsigned)(tolower(c) - 'a' + 10);
        else
            return VAL_BAD;
        if (v > (UINT64_MAX - d) / base)
            over = 1;
        else
            v = v * base + d;
    }
    *mag = v;
    return over ? VAL_RANGE : VAL_OK;
}

/* Store the low bits of @p u in an integer element (two's complement for signed types). */
static void store_int(shmap_dtype t, uint64_t u, void *out)
{
    switch (shmap_dtype_size(t)) {
    case 1: {
        uint8_t x = (uint8_t)u;
        memcpy(out, &x, 1);
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)u;
        memcpy(out, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)u;
        memcpy(out, &x, 4);
        break;
    }
    default:
        memcpy(out, &u, 8);
        break;
    }
}

static int parse_int_value(shmap_dtype t, const char *s, const char *e, void *out)
{
    int neg;
    uint64_t mag;
    int rc = parse_integer(s, e, &neg, &mag);
    if (rc != VAL_OK)
        return rc;
    unsigned bits = (unsigned)shmap_dtype_size(t) * 8;
    uint64_t max_pos, max_neg;
    if (is_signed_type(t)) {
        max_pos = (UINT64_C(1) << (bits - 1)) - 1;
        max_neg = UINT64_C(1) << (bits - 1);
    } else {
        max_pos = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
        max_neg = 0; /* "-0" is still zero */
    }
    if (neg ? mag > max_neg : mag > max_pos)
        return VAL_RANGE;
    store_int(t, neg ? (uint64_t)0 - mag : mag, out);
    return VAL_OK;
}

/* A whole span as a double; nan, inf and hex floats as strtod reads them. */
static int parse_double(const char *s, const char *e, double *out)
{
    trim(&s, &e);
    if (s == e || isspace((unsigned char)*s))
        return VAL_BAD;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != e)
        return VAL_BAD;
    if (errno == ERANGE && isinf(v))
        return VAL_RANGE; /* underflow to zero or a subnormal is fine */
    *out = v;
    return VAL_OK;
}

/* Store a double as an f16, f32 or f64; a finite value the type cannot hold is VAL_RANGE. */
static int store_real(shmap_dtype t, double v, void *out)
{
    if (t == SHMAP_F64 || t == SHMAP_C128) {
        memcpy(out, &v, sizeof v);
        return VAL_OK;
    }
    if (t == SHMAP_F32 || t == SHMAP_C64) {
        float f = (float)v;
        if (isinf(f) && !isinf(v))
            return VAL_RANGE;
        memcpy(out, &f, sizeof f);
        return VAL_OK;
    }
    uint16_t h = double_to_f16(v);
    if ((h & 0x7fff) == 0x7c00 && !isinf(v))
        return VAL_RANGE;
    memcpy(out, &h, sizeof h);
    return VAL_OK;
}

static int worst(int a, int b)
{
    return a > b ? a : b;
}

/* Complex: "re", "imj", "re+imj", "re-imj", any of these in parentheses, or "(re, im)". */
static int parse_complex(const char *s, const char *e, double *re, double *im)
{
    trim(&s, &e);
    if (e - s >= 2 && *s == '(' && e[-1] == ')') {
        s++;
        e--;
        trim(&s, &e);
    }
    const char *comma = memchr(s, ',', (size_t)(e - s));
    if (comma)
        return worst(parse_double(s, comma, re), parse_double(comma + 1, e, im));
    if (s == e)
        return VAL_BAD;

    char *end;
    errno = 0;
    double a = strtod(s, &end);
    int range = errno == ERANGE && isinf(a) ? VAL_RANGE : VAL_OK;
    if (end == s || end > e)
        return VAL_BAD;
    if (end == e) {
        *re = a;
        *im = 0;
        return range;
    }
    if ((*end == 'j' || *end == 'J') && end + 1 == e) {
        *re = 0;
        *im = a;
        return range;
    }
    if (*end != '+' && *end != '-')
        return VAL_BAD;
    const char *p = end;
    errno = 0;
    double b = strtod(p, &end);
    if (errno == ERANGE && isinf(b))
        range = VAL_RANGE;
    if (end == p || end + 1 != e || (*end != 'j' && *end != 'J'))
        return VAL_BAD;
    *re = a;
    *im = b;
    return range;
}

static int span_is(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

static int parse_bool(const char *s, const char *e, void *out)
{
    trim(&s, &e);
    uint8_t b;
    if (span_is(s, e, "true") || span_is(s, e, "t") || span_is(s, e, "1"))
        b = 1;
    else if (span_is(s, e, "false") || span_is(s, e, "f") || span_is(s, e, "0"))
        b = 0;
    else
        return VAL_BAD;
    memcpy(out, &b, 1);
    return VAL_OK;
}

/* One value of a fixed (non-record) type. */
static int parse_scalar(shmap_dtype t, const char *s, const char *e, void *out)
{
    if (is_int_type(t))
        return parse_int_value(t, s, e, out);
    if (t == SHMAP_BOOL)
        return parse_bool(s, e, out);
    if (t == SHMAP_C64 || t == SHMAP_C128) {
        double re, im;
        int rc = parse_complex(s, e, &re, &im);
        if (rc != VAL_OK)
            return rc;
        size_t half = shmap_dtype_size(t) / 2;
        return worst(store_real(t, re, out), store_real(t, im, (unsigned char *)out + half));
    }
    double v;
    int rc = parse_double(s, e, &v);
    return rc != VAL_OK ? rc : store_real(t, v, out);
}

static int value_error(char *err, size_t errsize, const cli_field *f, int rc, shmap_dtype t,
                       const char *s, const char *e)
{
    trim(&s, &e);
    char where[SHMAP_RECORD_FIELDS_MAX + 16] = "";
    if (f)
        snprintf(where, sizeof where, "field '%s': ", f->name);
    int len = (int)(e - s);
    if (rc == VAL_RANGE)
        snprintf(err, errsize, "%svalue %.*s out of range for %s", where, len, s,
                 shmap_dtype_name(t));
    else
        snprintf(err, errsize, "%sinvalid value '%.*s' for %s", where, len, s,
                 shmap_dtype_name(t));
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Records */

/*
 * Brackets must pair up before a value is read: "(flag=1" read on would make "(flag=1" the
 * first field's value and blame that field. The innermost bracket left open (or closed by
 * the other kind) is named, from where it opens to the end of the text. Nesting deeper than
 * any value needs (record, field items, complex parts) is left to the parsers to refuse.
 */
static int brackets_check(const char *text, char *err, size_t errsize)
{
    const char *open[16];
    size_t depth = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '(' || *p == '[') {
            if (depth == sizeof open / sizeof open[0])
                return 0;
            open[depth++] = p;
        } else if (*p == ')' || *p == ']') {
            if (depth == 0) {
                snprintf(err, errsize, "'%s' has a '%c' that closes no bracket", text, *p);
                return -1;
            }
            /* Closed by the other kind: the one it closes is left open. */
            if ((*open[depth - 1] == '(') != (*p == ')'))
                break;
            depth--;
        }
    }
    if (depth) {
        const char *o = open[depth - 1];
        snprintf(err, errsize, "'%s' is missing its closing '%c'", o, *o == '(' ? ')' : ']');
        return -1;
    }
    return 0;
}

/* The bracket closing the '(' or '[' at s, or NULL. */
static const char *match_close(const char *s, const char *e)
{
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '(' || *p == '[')
            depth++;
        else if ((*p == ')' || *p == ']') && --depth == 0)
            return p;
    }
    return NULL;
}

/* The end of the item starting at s: the next ',' outside brackets, or e. */
static const char *item_end(const char *s, const char *e)
{
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '(' || *p == '[')
            depth++;
        else if (*p == ')' || *p == ']')
            depth--;
        else if (*p == ',' && depth <= 0)
            return p;
    }
    return e;
}

/* If [s, e) starts with "identifier =", return the '=' and the name's end. */
static const char *name_equals(const char *s, const char *e, const char **name_end)
{
    const char *p = s;
    if (p == e || !(isalpha((unsigned char)*p) || *p == '_'))
        return NULL;
    while (p < e && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    *name_end = p;
    while (p < e && isspace((unsigned char)*p))
        p++;
    return p < e && *p == '=' ? p : NULL;
}

static const cli_field *field_find(const cli_layout *l, const char *s, const char *e)
{
    for (size_t i = 0; i < l->nfields; i++)
        if (strlen(l->fields[i].name) == (size_t)(e - s) &&
            memcmp(l->fields[i].name, s, (size_t)(e - s)) == 0)
            return &l->fields[i];
    return NULL;
}

/* A field's value: one item, "[a, b, ...]" with one per item, or one value for all items. */
static int parse_field(const cli_field *f, const char *s, const char *e, unsigned char *rec,
                       char *err, size_t errsize)
{
    unsigned char *dst = rec + f->offset;
    trim(&s, &e);
    if (s < e && *s == '[' && match_close(s, e) == e - 1) {
        const char *p = s + 1, *end = e - 1;
        size_t k = 0;
        for (;;) {
            const char *q = item_end(p, end);
            if (k == f->count) {
                snprintf(err, errsize, "field '%s' has %zu %s, more values given", f->name,
                         f->count, cli_plural(f->count, "item", "items"));
                return -1;
            }
            int rc = parse_scalar(f->dtype, p, q, dst + k * f->size);
            if (rc != VAL_OK)
                return value_error(err, errsize, f, rc, f->dtype, p, q);
            k++;
            if (q == end)
                break;
            p = q + 1;
        }
        if (k != f->count) {
            snprintf(err, errsize, "field '%s' has %zu %s, %zu %s given", f->name, f->count,
                     cli_plural(f->count, "item", "items"), k, cli_plural(k, "value", "values"));
            return -1;
        }
        return 0;
    }
    int rc = parse_scalar(f->dtype, s, e, dst);
    if (rc != VAL_OK)
        return value_error(err, errsize, f, rc, f->dtype, s, e);
    for (size_t k = 1; k < f->count; k++)
        memcpy(dst + k * f->size, dst, f->size);
    return 0;
}

/* "(x=1.5, y=2)", "(1.5, 2)", "x=1.5": named items after positional ones, as in Python. */
static int parse_record(const cli_layout *l, const char *text, cli_value *v, char *err,
                        size_t errsize)
{
    const char *s = text, *e = text + strlen(text);
    trim(&s, &e);
    if (s < e && *s == '(' && match_close(s, e) == e - 1) {
        s++;
        e--;
        trim(&s, &e);
    }
    if (s == e) {
        snprintf(err, errsize, "empty record value");
        return -1;
    }
    size_t pos = 0;
    int named = 0;
    for (const char *p = s;;) {
        const char *q = item_end(p, e);
        const char *a = p, *b = q, *name_end;
        trim(&a, &b);
        const char *eq = name_equals(a, b, &name_end);
        const cli_field *f;
        if (eq) {
            f = field_find(l, a, name_end);
            if (!f) {
                snprintf(err, errsize, "the record has no field '%.*s'", (int)(name_end - a),
                         a);
                return -1;
            }
            named = 1;
            a = eq + 1;
        } else if (named) {
            snprintf(err, errsize, "value '%.*s' without a field name after named ones",
                     (int)(b - a), a);
            return -1;
        } else if (pos >= l->nfields) {
            snprintf(err, errsize, "too many values: the record has %zu %s", l->nfields,
                     cli_plural(l->nfields, "field", "fields"));
            return -1;
        } else {
            f = &l->fields[pos++];
        }
        size_t idx = (size_t)(f - l->fields);
        if (v->given[idx]) {
            snprintf(err, errsize, "field '%s' given twice", f->name);
            return -1;
        }
        if (parse_field(f, a, b, v->bytes, err, errsize) < 0)
            return -1;
        v->given[idx] = 1;
        if (q == e)
            return 0;
        p = q + 1;
    }
}

/* Parse "name:type[count],..." into l->fields; the offsets must add up to l->elsize. */
static int parse_fields(cli_layout *l, const char *spec, char *err, size_t errsize)
{
    size_t n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    l->fields = calloc(n, sizeof *l->fields);
    if (!l->fields) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    const char *s = spec, *end = spec + strlen(spec);
    size_t offset = 0;
    /* Buffers as long as a whole field list: segments made before the library limited
     * names and wrote types by its names hold any name or spelling it then accepted. */
    for (;;) {
        const char *q = item_end(s, end), *a = s, *b = q;
        trim(&a, &b);
        const char *colon = memchr(a, ':', (size_t)(b - a));
        cli_field *f = &l->fields[l->nfields];
        size_t nth = l->nfields + 1;
        const char *why = NULL;
        f->count = 1;
        const char *type_end = b;
        if (colon && b > colon && b[-1] == ']') {
            const char *open = memchr(colon, '[', (size_t)(b - colon));
            int neg;
            uint64_t count;
            if (!open || parse_integer(open + 1, b - 1, &neg, &count) != VAL_OK || neg ||
                count == 0 || count > SIZE_MAX / 16) {
                why = "a bad count";
                goto bad;
            }
            f->count = (size_t)count;
            type_end = open;
        }
        char type[SHMAP_RECORD_FIELDS_MAX];
        const char *name_end = colon;
        if (!colon || colon == a) {
            why = colon ? "no name" : "no ':type'";
            goto bad;
        }
        if ((size_t)(colon - a) >= sizeof f->name || (size_t)(type_end - colon) > sizeof type) {
            why = "a name or type longer than a field list";
            goto bad;
        }
        trim(&a, &name_end);
        memcpy(f->name, a, (size_t)(name_end - a));
        const char *ts = colon + 1;
        trim(&ts, &type_end);
        snprintf(type, sizeof type, "%.*s", (int)(type_end - ts), ts);
        if (shmap_dtype_parse(type, &f->dtype) < 0 ||
            (f->size = shmap_dtype_size(f->dtype)) == 0) {
            why = "a type this shmap does not know";
            goto bad;
        }
        f->offset = offset;
        offset += f->size * f->count;
        l->nfields++;
        if (q == end)
            break;
        s = q + 1;
        continue;
    bad:
        snprintf(err, errsize, "cannot read record field list '%s': field %zu '%.*s' has %s",
                 spec, nth, (int)(q - s), s, why);
        return -1;
    }
    if (offset != l->elsize) {
        snprintf(err, errsize, "record fields '%s' make %zu %s, elements have %zu", spec,
                 offset, cli_plural(offset, "byte", "bytes"), l->elsize);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Layouts and values */

void cli_value_native(const cli_layout *l, const void *src, void *dst, uint64_t nelem)
{
    memcpy(dst, src, (size_t)(nelem * l->elsize));
    cli_swap_bytes(l, dst, nelem); /* l swapped: every number reversed, as import does */
}

/* An element of a swapped layout in this machine's byte order, copied into @p out (at
 * least l->elsize bytes). Records are never swapped (cli_raw_check() refuses them). */
static void element_swapped(const cli_layout *l, const void *elem, unsigned char *out)
{
    cli_value_native(l, elem, out, 1);
}

/* The largest element a swapped layout has: a c128. */
#define SWAP_MAX 16

const char *cli_layout_numpy(const cli_layout *l)
{
    const char *t = shmap_dtype_numpy(l->dtype);
    if (!t || !l->swapped || (t[0] != '<' && t[0] != '>'))
        return t;
    static _Thread_local char other[16];
    snprintf(other, sizeof other, "%c%s", t[0] == '<' ? '>' : '<', t + 1);
    return other;
}

int cli_layout_init(cli_layout *l, const shmap_info *info, char *err, size_t errsize)
{
    memset(l, 0, sizeof *l);
    l->dtype = info->dtype;
    l->elsize = info->elsize;
    if (info->dtype == SHMAP_RECORD) {
        if (parse_fields(l, info->record_fields, err, errsize) == 0)
            return 0;
        cli_layout_free(l);
        return -1;
    }
    if (shmap_dtype_size(info->dtype) == 0 || shmap_dtype_size(info->dtype) != info->elsize) {
        snprintf(err, errsize, "element type %u (%zu %s) is unknown to this shmap",
                 (unsigned)info->dtype, info->elsize, cli_plural(info->elsize, "byte", "bytes"));
        return -1;
    }
    return 0;
}

void cli_layout_free(cli_layout *l)
{
    free(l->fields);
    l->fields = NULL;
    l->nfields = 0;
}

int cli_value_parse(const cli_layout *l, const char *text, cli_value *v, char *err,
                    size_t errsize)
{
    v->bytes = calloc(1, l->elsize);
    v->given = l->dtype == SHMAP_RECORD ? calloc(l->nfields ? l->nfields : 1, 1) : NULL;
    if (!v->bytes || (l->dtype == SHMAP_RECORD && !v->given)) {
        snprintf(err, errsize, "out of memory");
        cli_value_free(v);
        return -1;
    }
    int rc;
    if (brackets_check(text, err, errsize) < 0) {
        rc = -1;
    } else if (l->dtype == SHMAP_RECORD) {
        rc = parse_record(l, text, v, err, errsize);
    } else {
        const char *e = text + strlen(text);
        int st = parse_scalar(l->dtype, text, e, v->bytes);
        rc = st == VAL_OK ? 0 : value_error(err, errsize, NULL, st, l->dtype, text, e);
    }
    if (rc < 0)
        cli_value_free(v);
    return rc;
}

void cli_value_free(cli_value *v)
{
    free(v->bytes);
    free(v->given);
    v->bytes = NULL;
    v->given = NULL;
}

void cli_value_store(const cli_layout *l, const cli_value *v, void *elem)
{
    if (!v->given && l->swapped) {
        _Alignas(16) unsigned char b[SWAP_MAX];
        element_swapped(l, v->bytes, b);
        memcpy(elem, b, l->elsize);
        return;
    }
    if (!v->given) {
        memcpy(elem, v->bytes, l->elsize);
        return;
    }
    for (size_t i = 0; i < l->nfields; i++) {
        const cli_field *f = &l->fields[i];
        if (v->given[i])
            memcpy((unsigned char *)elem + f->offset, v->bytes + f->offset, f->size * f->count);
    }
}

void cli_value_fill(const cli_layout *l, const cli_value *v, void *data, uint64_t nelem)
{
    unsigned char *p = data;
    int whole = 1;
    for (size_t i = 0; v->given && i < l->nfields; i++)
        whole &= v->given[i];
    if (!whole) {
        for (uint64_t i = 0; i < nelem; i++)
            cli_value_store(l, v, p + i * l->elsize);
        return;
    }
    /* Doubling copies: each copies what is already filled, so n elements take log2(n). */
    size_t total = (size_t)(nelem * l->elsize);
    size_t filled = l->elsize;
    if (nelem == 0)
        return;
    cli_value_store(l, v, p);
    while (filled < total) {
        size_t n = filled < total - filled ? filled : total - filled;
        memcpy(p + filled, p, n);
        filled += n;
    }
}

/* Element i of a ramp, for one item of a fixed type. */
static void scalar_from_index(shmap_dtype t, uint64_t i, void *out)
{
    if (is_int_type(t)) {
        store_int(t, i, out);
    } else if (t == SHMAP_BOOL) {
        uint8_t b = (uint8_t)(i & 1);
        memcpy(out, &b, 1);
    } else if (t == SHMAP_F16) {
        /* Rounded as a conversion rounds (numpy's astype too): from 65520 on, past the
         * largest finite half (65504), that is infinity. store_real() refuses it. */
        uint16_t h = double_to_f16((double)i);
        memcpy(out, &h, sizeof h);
    } else {
        /* Complex: the real part takes the index, the imaginary part stays 0. */
        memset(out, 0, shmap_dtype_size(t));
        store_real(t, (double)i, out);
    }
}

#define RAMP_LOOP(T)                                                                          \
    do {                                                                                      \
        T *a_ = data;                                                                         \
        for (uint64_t i_ = 0; i_ < nelem; i_++)                                               \
            a_[i_] = (T)i_;                                                                   \
    } while (0)

void cli_value_ramp(const cli_layout *l, void *data, uint64_t nelem)
{
    unsigned char *p = data;
    if (l->swapped) {
        _Alignas(16) unsigned char b[SWAP_MAX];
        for (uint64_t i = 0; i < nelem; i++) {
            scalar_from_index(l->dtype, i, b);
            element_swapped(l, b, p + i * l->elsize);
        }
        return;
    }
    /* The common types get a tight loop; unsigned types give signed ones exact wrapping. */
    switch (l->dtype) {
    case SHMAP_U8:
    case SHMAP_I8:
        RAMP_LOOP(uint8_t);
        return;
    case SHMAP_U16:
    case SHMAP_I16:
        RAMP_LOOP(uint16_t);
        return;
    case SHMAP_U32:
    case SHMAP_I32:
        RAMP_LOOP(uint32_t);
        return;
    case SHMAP_U64:
    case SHMAP_I64:
        RAMP_LOOP(uint64_t);
        return;
    case SHMAP_F32:
        RAMP_LOOP(float);
        return;
    case SHMAP_F64:
        RAMP_LOOP(double);
        return;
    case SHMAP_RECORD:
        for (uint64_t i = 0; i < nelem; i++)
            for (size_t k = 0; k < l->nfields; k++) {
                const cli_field *f = &l->fields[k];
                for (size_t j = 0; j < f->count; j++)
                    scalar_from_index(f->dtype, i, p + i * l->elsize + f->offset + j * f->size);
            }
        return;
    default:
        for (uint64_t i = 0; i < nelem; i++)
            scalar_from_index(l->dtype, i, p + i * l->elsize);
        return;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Printing */

/*
 * The shortest "%g" text that reads back as the same float (parsed as a float: through a
 * double, the text could round twice). Any text of up to FLT_DIG (6) digits reads back from
 * a normal float printed with 6 digits, so the search starts there; a subnormal carries
 * fewer digits (1e-45 has one) and starts at 1.
 */
static int f32_reads_back(const char *text, const void *arg)
{
    return strtof(text, NULL) == *(const float *)arg;
}

static void format_f32(char *buf, size_t size, float v)
{
    if (isnan(v) || isinf(v)) {
        cli_format_double(buf, size, v);
        return;
    }
    cli_format_shortest(buf, size, v, fpclassify(v) == FP_SUBNORMAL ? 1 : FLT_DIG, 9,
                        f32_reads_back, &v);
}

static int f16_reads_back(const char *text, const void *arg)
{
    return double_to_f16(strtod(text, NULL)) == *(const uint16_t *)arg;
}

/* The same for a half float, whose normal numbers keep 3 digits; 5 always read back. */
static void format_f16(char *buf, size_t size, uint16_t h)
{
    double v = f16_to_double(h);
    if (isnan(v) || isinf(v)) {
        cli_format_double(buf, size, v);
        return;
    }
    int subnormal = (h & 0x7c00) == 0 && (h & 0x3ff) != 0;
    cli_format_shortest(buf, size, v, subnormal ? 1 : 3, 5, f16_reads_back, &h);
}

static void format_part(char *buf, size_t size, shmap_dtype t, const void *p)
{
    if (t == SHMAP_F32 || t == SHMAP_C64) {
        float f;
        memcpy(&f, p, sizeof f);
        format_f32(buf, size, f);
    } else {
        double d;
        memcpy(&d, p, sizeof d);
        cli_format_double(buf, size, d);
    }
}

/* "1+2j", "1-2j", "nan+nanj": the sign of the imaginary part joins the two. */
static void format_complex(char *buf, size_t size, shmap_dtype t, const void *p)
{
    size_t half = shmap_dtype_size(t) / 2;
    char re[40], im[40];
    format_part(re, sizeof re, t, p);
    format_part(im, sizeof im, t, (const unsigned char *)p + half);
    const char *sign = im[0] == '-' ? "" : "+";
    snprintf(buf, size, "%s%s%sj", re, sign, im);
}

static void format_int(char *buf, size_t size, shmap_dtype t, const void *p)
{
    switch (t) {
    case SHMAP_U8: {
        uint8_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%u", (unsigned)x);
        break;
    }
    case SHMAP_I8: {
        int8_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%d", (int)x);
        break;
    }
    case SHMAP_U16: {
        uint16_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%u", (unsigned)x);
        break;
    }
    case SHMAP_I16: {
        int16_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%d", (int)x);
        break;
    }
    case SHMAP_U32: {
        uint32_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%" PRIu32, x);
        break;
    }
    case SHMAP_I32: {
        int32_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%" PRId32, x);
        break;
    }
    case SHMAP_U64: {
        uint64_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%" PRIu64, x);
        break;
    }
    default: {
        int64_t x;
        memcpy(&x, p, sizeof x);
        snprintf(buf, size, "%" PRId64, x);
        break;
    }
    }
}

static void format_scalar(char *buf, size_t size, shmap_dtype t, const void *p)
{
    if (is_int_type(t)) {
        format_int(buf, size, t, p);
    } else if (t == SHMAP_BOOL) {
        snprintf(buf, size, "%s", *(const unsigned char *)p ? "True" : "False");
    } else if (t == SHMAP_F16) {
        uint16_t h;
        memcpy(&h, p, sizeof h);
        format_f16(buf, size, h);
    } else if (t == SHMAP_C64 || t == SHMAP_C128) {
        format_complex(buf, size, t, p);
    } else {
        format_part(buf, size, t, p);
    }
}

void cli_value_print(FILE *out, const cli_layout *l, const void *elem)
{
    char buf[96];
    _Alignas(16) unsigned char b[SWAP_MAX];
    if (l->swapped) {
        element_swapped(l, elem, b);
        elem = b;
    }
    if (l->dtype != SHMAP_RECORD) {
        format_scalar(buf, sizeof buf, l->dtype, elem);
        fputs(buf, out);
        return;
    }
    const unsigned char *rec = elem;
    fputc('(', out);
    for (size_t i = 0; i < l->nfields; i++) {
        const cli_field *f = &l->fields[i];
        fprintf(out, "%s%s=", i ? ", " : "", f->name);
        if (f->count > 1)
            fputc('[', out);
        for (size_t k = 0; k < f->count; k++) {
            format_scalar(buf, sizeof buf, f->dtype, rec + f->offset + k * f->size);
            fprintf(out, "%s%s", k ? ", " : "", buf);
        }
        if (f->count > 1)
            fputc(']', out);
    }
    fputc(')', out);
}

/* ---------------------------------------------------------------------------------------- */
/* Elements as numbers, for `shmap watch` */

static double scalar_real(shmap_dtype t, const void *p)
{
    switch (t) {
    case SHMAP_U8: return *(const uint8_t *)p;
    case SHMAP_I8: return *(const int8_t *)p;
    case SHMAP_U16: return *(const uint16_t *)p;
    case SHMAP_I16: return *(const int16_t *)p;
    case SHMAP_U32: return *(const uint32_t *)p;
    case SHMAP_I32: return *(const int32_t *)p;
    case SHMAP_U64: return (double)*(const uint64_t *)p;
    case SHMAP_I64: return (double)*(const int64_t *)p;
    case SHMAP_F16: return f16_to_double(*(const uint16_t *)p);
    case SHMAP_F32: return *(const float *)p;
    case SHMAP_F64: return *(const double *)p;
    case SHMAP_BOOL: return *(const uint8_t *)p != 0;
    case SHMAP_C64: {
        const float *c = p;
        return hypot(c[0], c[1]);
    }
    case SHMAP_C128: {
        const double *c = p;
        return hypot(c[0], c[1]);
    }
    default: return NAN;
    }
}

int cli_value_real(const cli_layout *l, const void *elem, double *out)
{
    if (l->dtype == SHMAP_RECORD)
        return -1;
    _Alignas(16) unsigned char b[SWAP_MAX];
    if (l->swapped) {
        element_swapped(l, elem, b);
        elem = b;
    }
    *out = scalar_real(l->dtype, elem);
    return 0;
}

void cli_value_format_real(char *buf, size_t size, const cli_layout *l, double v)
{
    /* A c64's magnitude, computed in double from its f32 parts, is no more precise than
     * they are: it prints as an f32, as a c128's as an f64. */
    if (l->dtype == SHMAP_F32 || l->dtype == SHMAP_C64)
        format_f32(buf, size, (float)v);
    else if (l->dtype == SHMAP_F16)
        format_f16(buf, size, double_to_f16(v));
    else
        cli_format_double(buf, size, v);
}
