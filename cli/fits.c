/*
 * fits.c: FITS images, through CFITSIO, as `import` reads them and `export` writes them.
 * The build compiles this file when pkg-config finds CFITSIO, else fits_none.c.
 *
 * Types. A FITS image stores BITPIX 8, 16, 32, 64 (unsigned 8-bit, signed wider) or -32,
 * -64 (IEEE floats), big-endian, and other integer types by convention through BZERO:
 * uint16 is BITPIX 16 with BZERO 32768, int8 is BITPIX 8 with BZERO -128, and so on.
 * CFITSIO does that arithmetic for us (USHORT_IMG, SBYTE_IMG..., and its "equivalent
 * type" when reading), so the mapping is CFITSIO's: what it writes for a uint16 array is
 * what every FITS reader takes for one. Other scaling (BSCALE != 1, another BZERO) means
 * the stored integers are not the values: the image is read as the physical values, in
 * the type CFITSIO's equivalent type names (an integer type when the scaling keeps them
 * whole, else a float type).
 *
 * Axes. FITS lists axes fastest first (NAXIS1 varies fastest, Fortran's way), shmap
 * slowest first (C's way): the same bytes, with the dimensions listed in reverse.
 *
 * Keywords. A segment's keywords become header cards and come back as keywords, with their
 * comments; the cards that describe the HDU's structure are the file's business and are
 * never taken for keywords, nor written from them.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* fitsio2.h: fitsio.h and fits_register_driver() (see "Writing through a descriptor"). */
#include <fitsio2.h>

#include "cli.h"

const int cli_fits_built = 1;
const char cli_fits_missing[] = "";

struct cli_fits {
    fitsfile *f;
    int datatype; /* CFITSIO's type code of the values read (TUSHORT...) */
    int to_float; /* scaled integers read as physical (float) values */
};

static const struct {
    shmap_dtype dtype;
    int imgtype;  /* CFITSIO's image type (BITPIX, or the BZERO conventions) */
    int datatype; /* CFITSIO's type code for such values in memory */
} types[] = {
    {SHMAP_U8, BYTE_IMG, TBYTE},           {SHMAP_I8, SBYTE_IMG, TSBYTE},
    {SHMAP_I16, SHORT_IMG, TSHORT},        {SHMAP_U16, USHORT_IMG, TUSHORT},
    {SHMAP_I32, LONG_IMG, TINT},           {SHMAP_U32, ULONG_IMG, TUINT},
    {SHMAP_I64, LONGLONG_IMG, TLONGLONG},  {SHMAP_U64, ULONGLONG_IMG, TULONGLONG},
    {SHMAP_F32, FLOAT_IMG, TFLOAT},        {SHMAP_F64, DOUBLE_IMG, TDOUBLE},
};
#define NTYPES (sizeof types / sizeof types[0])

/* CFITSIO's words for a failure: its status text, and the first message it stacked. */
static int fail_status(char *err, size_t errsize, const char *what, int status)
{
    char text[FLEN_STATUS], msg[FLEN_ERRMSG] = "";
    fits_get_errstatus(status, text);
    fits_read_errmsg(msg);
    fits_clear_errmsg();
    if (msg[0] && strcmp(msg, text) != 0)
        return cli_errf(err, errsize, "%s: %s (%s)", what, text, msg);
    return cli_errf(err, errsize, "%s: %s", what, text);
}

/* Is @p name @p prefix and a number (NAXIS1, TTYPE12)? */
static int numbered(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] &&
           strspn(name + n, "0123456789") == strlen(name + n);
}

/* Cards that describe the HDU (or carry no value of their own), never keywords. */
static int structural(const char *name, int compressed)
{
    static const char *const exact[] = {
        "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "END", "XTENSION",
        "PCOUNT", "GCOUNT", "COMMENT", "HISTORY", "CONTINUE", "CHECKSUM", "DATASUM",
        "LONGSTRN", "",
    };
    /* A tile-compressed image is a binary table underneath: the table's cards and those
     * of the tiled-image convention that describe the image are structure too, and only
     * those (a user's ZENITH or ZD is a keyword). */
    static const char *const compressed_exact[] = {
        "TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZNAXIS", "ZMASKCMP",
        "ZSIMPLE", "ZTENSION", "ZEXTEND", "ZBLOCKED", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM",
        "ZDATASUM", "ZQUANTIZ", "ZDITHER0", "ZBLANK", "ZSCALE", "ZZERO",
    };
    static const char *const compressed_numbered[] = {
        "ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "TTYPE", "TFORM", "TUNIT", "TNULL", "TSCAL",
        "TZERO", "TDIM", "TDISP",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    if (numbered(name, "NAXIS"))
        return 1;
    if (!compressed)
        return 0;
    for (size_t i = 0; i < sizeof compressed_exact / sizeof compressed_exact[0]; i++)
        if (strcmp(name, compressed_exact[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof compressed_numbered / sizeof compressed_numbered[0]; i++)
        if (numbered(name, compressed_numbered[i]))
            return 1;
    return 0;
}

static int keyword_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= SHMAP_KEYWORD_NAME_MAX)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading */

/*
 * CFITSIO 4.2 crashes (reads out of bounds) when it opens a header with NAXIS over about 100,
 * which the standard allows up to 999. So the headers are walked here first, by the
 * standard, and such a file is refused before CFITSIO sees it; CFITSIO is then let read only
 * the headers the walk has read (not fits_get_num_hdus(), which parses every header of the
 * file to count them). The walk ends at the end of the file, or at a header it cannot follow
 * past (no END before the end of the file, a size that is no integer or overflows): that
 * header was still checked, and CFITSIO may read it and say what is wrong with it, but
 * nothing after it is read, and the file is refused if the image is not found before.
 */
#define NAXIS_SAFE 99

/* What the walk found: the HDUs whose headers it read (1 to checked), whether those are
 * all the file holds, and where each of them starts (start[i] for HDU i, 2 to checked). */
typedef struct walk {
    int checked;
    int complete;
    uint64_t *start;
    size_t nstart;
} walk;

/*
 * Move CFITSIO to HDU @p i, which follows the current one, only if CFITSIO finds it where
 * the walk did: were they to count a data unit differently, CFITSIO would read a header
 * the walk never checked. 0 with *type set, -1 with *status set (or not, for a mismatch,
 * said in @p err).
 */
static int move_to(fitsfile *f, const walk *w, int i, int *type, int *status, char *err,
                   size_t errsize)
{
    LONGLONG head, data, end;
    if (fits_get_hduaddrll(f, &head, &data, &end, status))
        return -1;
    if (i < 2 || (size_t)i >= w->nstart || (uint64_t)end != w->start[i])
        return cli_errf(err, errsize, "HDU %d cannot be read safely: CFITSIO finds it at byte "
                                      "%lld, the header walk at %llu", i, (long long)end,
                        (size_t)i < w->nstart ? (unsigned long long)w->start[i] : 0ULL);
    return fits_movabs_hdu(f, i, type, status) ? -1 : 0;
}

/* Has the current HDU's image data: 1 with *naxis set, 0 if not (NAXIS = 0, or an axis of
 * length 0), or -1 with CFITSIO's code in *status. */
static int has_image(fitsfile *f, int *naxis, int *status)
{
    LONGLONG naxes[NAXIS_SAFE];
    if (fits_get_img_dim(f, naxis, status))
        return -1;
    if (*naxis <= 0 || *naxis > NAXIS_SAFE)
        return *naxis > 0; /* too many axes: said later */
    if (fits_get_img_sizell(f, *naxis, naxes, status))
        return -1;
    for (int i = 0; i < *naxis; i++)
        if (naxes[i] == 0)
            return 0;
    return 1;
}

/*
 * Find the image: the primary HDU's, or the first image extension's if that has none (no
 * axes, or an axis of length 0). If none has data, an image with an empty axis is left
 * current (the caller says which axis), else the file is refused.
 */
static int find_image(fitsfile *f, const walk *w, int *naxis, char *err, size_t errsize)
{
    int status = 0, type, empty = 0;
    int rc = has_image(f, naxis, &status);
    if (rc < 0)
        return fail_status(err, errsize, "reading the primary header", status);
    if (rc > 0)
        return 0;
    if (*naxis > 0)
        empty = 1;
    for (int i = 2; i <= w->checked; i++) {
        if (move_to(f, w, i, &type, &status, err, errsize) < 0 && !status)
            return -1;
        if (!status && type != IMAGE_HDU)
            continue;
        if (status == END_OF_FILE) { /* blocks after the last HDU, with no header */
            fits_clear_errmsg();
            status = 0;
            break;
        }
        if (!status && (rc = has_image(f, naxis, &status)) > 0)
            return 0;
        if (status) {
            char what[64];
            snprintf(what, sizeof what, "HDU %d could not be read", i);
            return fail_status(err, errsize, what, status);
        }
        if (*naxis > 0 && !empty)
            empty = i;
    }
    if (empty && fits_movabs_hdu(f, empty, &type, &status) == 0 &&
        fits_get_img_dim(f, naxis, &status) == 0)
        return 0;
    if (status)
        return fail_status(err, errsize, "reading the header", status);
    if (!w->complete)
        return cli_errf(err, errsize, "no image in HDUs 1 to %d, and HDU %d cannot be read "
                                      "safely: the header before it cannot be followed past",
                        w->checked, w->checked + 1);
    return cli_errf(err, errsize, "no image in this FITS file (neither the primary HDU nor an "
                                  "image extension has data)");
}

/* HDU @p i (CFITSIO's count, 1 the primary, as the other messages count) as --hdu counts
 * it too (0 the primary): "extension 2 (HDU 3)". */
static void hdu_said(int i, char *buf, size_t size)
{
    if (i == 1)
        snprintf(buf, size, "the primary HDU (HDU 1)");
    else
        snprintf(buf, size, "extension %d (HDU %d)", i - 1, i);
}

/*
 * Make the HDU that @p want names current: a number (0 the primary HDU, 1 the first
 * extension, as CFITSIO's file.fits[1] counts) or an EXTNAME, compared regardless of case
 * as CFITSIO compares it. Only HDUs the walk checked are read. It must hold an image (one
 * with an empty axis is left current: the caller says which axis). 0, or -1 with err.
 */
static int pick_hdu(fitsfile *f, const walk *w, const char *want, int *naxis, char *err,
                    size_t errsize)
{
    /* A number may have blanks around it, as in every other argument. */
    int by_number = cli_is_decimal(want);
    long n = by_number ? strtol(want, NULL, 10) : -1;
    int status = 0, type = IMAGE_HDU, target = 0, count = 0;
    for (int i = 1; i <= w->checked && !target; i++) {
        if (i > 1 && move_to(f, w, i, &type, &status, err, errsize) < 0) {
            if (!status)
                return -1;
            if (status != END_OF_FILE) {
                char which[64], what[128];
                hdu_said(i, which, sizeof which);
                snprintf(what, sizeof what, "--hdu %s: %s could not be read", want, which);
                return fail_status(err, errsize, what, status);
            }
            fits_clear_errmsg(); /* blocks after the last HDU, with no header */
            break;
        }
        count = i;
        char extname[FLEN_VALUE];
        int s = 0;
        if (by_number ? n == i - 1
                      : fits_read_key(f, TSTRING, "EXTNAME", extname, NULL, &s) == 0 &&
                            strcasecmp(extname, want) == 0)
            target = i;
        fits_clear_errmsg();
    }
    char which[64];
    hdu_said(target ? target : count + 1, which, sizeof which);
    if (!target && !w->complete && count == w->checked)
        return cli_errf(err, errsize, "--hdu %s: not among the %d %s read, and %s cannot be "
                                      "read safely: the header before it cannot be followed "
                                      "past", want, count, cli_plural((uint64_t)count, "HDU",
                                                                      "HDUs"), which);
    if (!target && by_number)
        return cli_errf(err, errsize, "--hdu %s: the file has %d %s (0 to %d)", want, count,
                        cli_plural((uint64_t)count, "HDU", "HDUs"), count - 1);
    if (!target)
        return cli_errf(err, errsize, "--hdu %s: no HDU has EXTNAME = '%s' (%d %s read)", want,
                        want, count, cli_plural((uint64_t)count, "HDU", "HDUs"));
    if (type != IMAGE_HDU)
        return cli_errf(err, errsize, "--hdu %s: %s is %s, not an image", want, which,
                        type == BINARY_TBL ? "a binary table" : "an ASCII table");
    int rc = has_image(f, naxis, &status);
    if (rc < 0)
        return fail_status(err, errsize, "reading the image header", status);
    if (*naxis == 0)
        return cli_errf(err, errsize, "--hdu %s: %s holds no image (NAXIS = 0)", want, which);
    return 0;
}

/* A card's integer value ("NAXIS   =                    2"), or -1 if it has none. Every
 * scan of a card stays within its 80 bytes: the block holding it is no C string. */
static int card_int(const char *card, long long *v)
{
    if (card[8] != '=' || card[9] != ' ')
        return -1;
    char text[71], *end;
    memcpy(text, card + 10, 70);
    text[70] = '\0';
    errno = 0;
    *v = strtoll(text, &end, 10);
    if (end == text || errno)
        return -1;
    end += strspn(end, " ");
    return *end == '\0' || *end == '/' ? 0 : -1;
}

/* The first character of a card's value (after "= " and spaces), or 0 if it has none. */
static char card_first(const char *card)
{
    if (card[8] != '=')
        return 0;
    for (int i = 9; i < 80; i++)
        if (card[i] != ' ')
            return card[i];
    return 0;
}

/* Is the card's name @p prefix and a number 1 to @p max, padded with spaces (NAXIS12)?
 * The number, else 0. */
static int card_numbered(const char *card, const char *prefix, int max)
{
    size_t n = strlen(prefix);
    if (memcmp(card, prefix, n) != 0 || card[n] < '1' || card[n] > '9')
        return 0;
    long k = 0;
    size_t i = n;
    for (; i < 8 && card[i] >= '0' && card[i] <= '9'; i++)
        k = 10 * k + (card[i] - '0');
    for (; i < 8; i++)
        if (card[i] != ' ')
            return 0;
    return k <= max ? (int)k : 0;
}

/* A card's string value ('RICE_1  ') without its quotes and trailing spaces, cut to fit
 * @p size; "" if it has none. */
static void card_string(const char *card, char *out, size_t size)
{
    out[0] = '\0';
    if (card_first(card) != '\'')
        return;
    const char *p = (const char *)memchr(card + 9, '\'', 71) + 1, *end = card + 80;
    size_t n = 0;
    while (p < end && *p != '\'' && n + 1 < size)
        out[n++] = *p++;
    while (n && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/*
 * The tiled-image keywords of one header, as check_tiles() needs them: for each, whether
 * a card had it (the first one, which CFITSIO reads) and whether its value is an integer.
 */
typedef struct tile_key {
    int state; /* TILE_ABSENT, TILE_NOT_INT or TILE_INT (then v) */
    long long v;
} tile_key;
enum { TILE_ABSENT, TILE_NOT_INT, TILE_INT };
typedef struct tiling {
    int zimage;                 /* ZIMAGE present and not F */
    int rice;                   /* ZCMPTYPE is RICE_1 */
    tile_key znaxis, zval1;
    tile_key zn[MAX_COMPRESS_DIM + 1], zt[MAX_COMPRESS_DIM + 1]; /* ZNAXISn, ZTILEn */
} tiling;

static void tile_set(tile_key *key, const char *card)
{
    if (key->state == TILE_ABSENT)
        key->state = card_int(card, &key->v) == 0 ? TILE_INT : TILE_NOT_INT;
}

/* Is @p key an integer from @p min to @p max? Else its state as words in @p v. */
static int tile_in(const tile_key *key, long long min, long long max, char *v, size_t size)
{
    if (key->state == TILE_INT && key->v >= min && key->v <= max)
        return 1;
    snprintf(v, size, key->state == TILE_ABSENT ? "missing" : key->state == TILE_NOT_INT ?
             "no integer" : "%lld", key->v);
    return 0;
}

/* Take one card of a header into @p t. */
static void tiling_card(tiling *t, const char *card)
{
    int k;
    if (memcmp(card, "ZIMAGE  =", 9) == 0) {
        /* CFITSIO reads ZIMAGE as a logical, and takes numbers for one too (1 is T). */
        char c = card_first(card);
        long long v;
        t->zimage = c && c != 'F' && !(card_int(card, &v) == 0 && v == 0);
    } else if (memcmp(card, "ZCMPTYPE=", 9) == 0) {
        char s[72];
        card_string(card, s, sizeof s);
        t->rice = strcasecmp(s, "RICE_1") == 0 || strcasecmp(s, "RICE_ONE") == 0;
    } else if (memcmp(card, "ZNAXIS  ", 8) == 0) {
        tile_set(&t->znaxis, card);
    } else if (memcmp(card, "ZVAL1   ", 8) == 0) {
        tile_set(&t->zval1, card);
    } else if ((k = card_numbered(card, "ZNAXIS", MAX_COMPRESS_DIM)) > 0) {
        tile_set(&t->zn[k], card);
    } else if ((k = card_numbered(card, "ZTILE", MAX_COMPRESS_DIM)) > 0) {
        tile_set(&t->zt[k], card);
    }
}

/*
 * CFITSIO 4.2 opens a tile-compressed image (a binary table with ZIMAGE = T) by dividing
 * each axis length by its tile's (ZNAXISn by ZTILEn, or by ZNAXIS1 where ZTILE1 is
 * missing), and a Rice-compressed one's tile length by its block size (ZVAL1), checking
 * none of them first: a 0 there kills the process with SIGFPE, and -1 does too under an
 * axis of -2^63 (-2^63 / -1 traps). It takes those values as it takes any integer, from
 * floats and logicals too (ZTILE1 = 0.5 or F are 0). So such a header is refused here,
 * before CFITSIO opens it, unless each of these is an integer, written as one, in range:
 * ZNAXIS 1 to 6 (CFITSIO's MAX_COMPRESS_DIM), each ZNAXISn and ZTILEn at least 1 (with
 * ZTILEn's product within an int, which CFITSIO keeps a tile's length in), and ZVAL1 at
 * least 1 for RICE_1.
 */
static int check_tiles(const tiling *t, int hdu, char *err, size_t errsize)
{
    if (!t->zimage)
        return 0;
    char v[32];
    if (!tile_in(&t->znaxis, 1, MAX_COMPRESS_DIM, v, sizeof v))
        return cli_errf(err, errsize, "HDU %d: ZNAXIS is %s: a tile-compressed image needs "
                                      "ZNAXIS = 1 to %d", hdu, v, MAX_COMPRESS_DIM);
    long long len = 1;
    for (int k = 1; k <= t->znaxis.v; k++) {
        if (!tile_in(&t->zn[k], 1, LLONG_MAX, v, sizeof v))
            return cli_errf(err, errsize, "HDU %d: ZNAXIS%d is %s: a tile-compressed image "
                                          "needs each ZNAXISn an integer of at least 1", hdu,
                            k, v);
        /* CFITSIO's default tile is a row: ZNAXIS1 by 1 by 1... */
        tile_key tile = {TILE_INT, k == 1 ? t->zn[1].v : 1};
        if (t->zt[k].state != TILE_ABSENT)
            tile = t->zt[k];
        if (!tile_in(&tile, 1, LLONG_MAX, v, sizeof v))
            return cli_errf(err, errsize, "HDU %d: ZTILE%d is %s: a tile-compressed image "
                                          "needs each ZTILEn an integer of at least 1", hdu,
                            k, v);
        if (__builtin_mul_overflow(len, tile.v, &len) || len > INT_MAX)
            return cli_errf(err, errsize, "HDU %d: tiles of ZTILE1 x ... x ZTILE%d pixels, "
                                          "over %d: CFITSIO holds a tile's length in an int",
                            hdu, k, INT_MAX);
    }
    if (t->rice && !tile_in(&t->zval1, 1, LLONG_MAX, v, sizeof v))
        return cli_errf(err, errsize, "HDU %d: ZVAL1 is %s: a RICE_1 tile-compressed image "
                                      "needs its block size, ZVAL1, an integer of at least 1",
                        hdu, v);
    return 0;
}

static int check_axes(int fd, walk *w, char *err, size_t errsize)
{
    uint64_t off = 0;
    w->checked = 0;
    w->complete = 0;
    w->start = NULL;
    w->nstart = 0;
    for (int hdu = 1; hdu < INT_MAX; hdu++) {
        if ((size_t)hdu >= w->nstart) {
            size_t n = w->nstart ? 2 * w->nstart : 16;
            uint64_t *more = realloc(w->start, n * sizeof *more);
            if (!more)
                return cli_errf(err, errsize, "out of memory");
            w->start = more;
            w->nstart = n;
        }
        w->start[hdu] = off;
        long long naxis = -1, bitpix = 0, pcount = 0, gcount = 1, n[NAXIS_SAFE + 1];
        int groups = 0;
        for (int k = 0; k <= NAXIS_SAFE; k++)
            n[k] = -1;
        int end = 0, blocks = 0;
        tiling tiles;
        memset(&tiles, 0, sizeof tiles);
        char block[2880];
        while (!end) {
            ssize_t got = pread(fd, block, sizeof block, (off_t)off);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return cli_errf(err, errsize, "%s", strerror(errno));
            if (got < (ssize_t)sizeof block)
                break;
            off += sizeof block;
            blocks++;
            for (int c = 0; c < 36 && !end; c++) {
                const char *card = block + 80 * c;
                long long v;
                int k;
                if (memcmp(card, "END     ", 8) == 0)
                    end = 1;
                else if (memcmp(card, "NAXIS   ", 8) == 0 && card_int(card, &v) == 0)
                    naxis = v;
                else if (memcmp(card, "BITPIX  ", 8) == 0 && card_int(card, &v) == 0)
                    bitpix = v;
                else if (memcmp(card, "PCOUNT  ", 8) == 0 && card_int(card, &v) == 0)
                    pcount = v;
                else if (memcmp(card, "GCOUNT  ", 8) == 0 && card_int(card, &v) == 0)
                    gcount = v;
                else if (memcmp(card, "GROUPS  =", 9) == 0)
                    groups = card_first(card) == 'T';
                else if ((k = card_numbered(card, "NAXIS", NAXIS_SAFE)) > 0) {
                    if (card_int(card, &v) == 0)
                        n[k] = v;
                } else if (card[0] == 'Z')
                    tiling_card(&tiles, card);
            }
        }
        /* No whole block left: the file ends here, as CFITSIO sees it too. */
        if (blocks == 0) {
            w->complete = 1;
            return 0;
        }
        if (naxis > NAXIS_SAFE)
            return cli_errf(err, errsize, "HDU %d has NAXIS = %lld: an image has at most %d axes "
                                          "in shmap (and CFITSIO cannot read over %d safely)",
                            hdu, naxis, SHMAP_MAX_DIMS, NAXIS_SAFE);
        if (check_tiles(&tiles, hdu, err, errsize) < 0)
            return -1;
        w->checked = hdu;
        if (!end) {
            w->complete = 1; /* the header runs to the end of the file */
            return 0;
        }
        /* Skip the data: |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISn). */
        uint64_t bytes, data = naxis > 0 ? 1 : 0;
        if (naxis < 0 || bitpix < -64 || bitpix > 64 || bitpix % 8 || bitpix == 0 ||
            pcount < 0 || gcount < 0)
            return 0;
        int bad = 0;
        for (long long k = 1; k <= naxis; k++)
            bad |= n[k] < 0 || __builtin_mul_overflow(data, (uint64_t)n[k], &data);
        /* Random groups (NAXIS1 = 0 and GROUPS = T, in the primary HDU only, as CFITSIO
         * reads them): NAXIS1 counts for nothing. Elsewhere an axis of 0 is no data. */
        if (hdu == 1 && groups && naxis > 1 && n[1] == 0) {
            data = 1;
            for (long long k = 2; k <= naxis; k++)
                bad |= __builtin_mul_overflow(data, (uint64_t)n[k], &data);
        }
        bad |= __builtin_add_overflow(data, (uint64_t)pcount, &data) ||
               __builtin_mul_overflow(data, (uint64_t)gcount, &data) ||
               __builtin_mul_overflow(data, (uint64_t)(bitpix < 0 ? -bitpix : bitpix) / 8,
                                      &bytes) ||
               __builtin_add_overflow(bytes, (uint64_t)2879, &bytes) ||
               __builtin_add_overflow(off, bytes / 2880 * 2880, &off) || off > INT64_MAX;
        if (bad)
            return 0;
    }
    return 0;
}

/* Replace each byte FITS does not allow in a card (outside printable ASCII, 32 to 126) by
 * '?'; how many were replaced. */
static int printable_ascii(char *s)
{
    int n = 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) {
            *s = '?';
            n++;
        }
    return n;
}

/* One card as a keyword: 1 kept, 0 left out (with a warning), -1 for a read error, with
 * CFITSIO's code in *status. */
static int card_keyword(const char *path, fitsfile *f, int keynum, const char *name0,
                        const char *value, const char *comment, shmap_keyword *kw,
                        int *status)
{
    int ignored = 0;
    const char *name = name0;
    if (strncmp(name, "HIERARCH ", 9) == 0)
        name += 9;
    if (!keyword_name_ok(name)) {
        cli_warn(path, "card '%s' left out: shmap keyword names are 1 to %d letters, digits, "
                       "'_' or '-'", name, SHMAP_KEYWORD_NAME_MAX - 1);
        return 0;
    }
    memset(kw, 0, sizeof *kw);
    snprintf(kw->name, sizeof kw->name, "%s", name);
    char type = 0;
    if (!value[0] || fits_get_keytype((char *)value, &type, &ignored)) {
        cli_warn(path, "card '%s' left out: it has no value", name);
        return 0;
    }
    char buf[FLEN_VALUE + 1], longcomment[FLEN_COMMENT] = "";
    switch (type) {
    case 'C': {
        char *s = NULL;
        char card[FLEN_CARD], lookup[FLEN_KEYWORD + 10];
        /* The string and its CONTINUE cards are read by name, and CFITSIO searches from the
         * card after the last one read: so from the card before this one, or a name set
         * twice would give this card the other's value. A long name is looked up with its
         * HIERARCH prefix: CFITSIO reads one that starts with "HIERARCH" (HIERARCHA) as that
         * prefix and another name ("HIERARCH A"). */
        snprintf(lookup, sizeof lookup, "%s%s", strlen(name) > 8 ? "HIERARCH " : "", name);
        if (fits_read_record(f, keynum - 1, card, status) ||
            fits_read_key_longstr(f, lookup, &s, longcomment, status))
            return -1;
        /* A string continued on CONTINUE cards (its first part ends with '&') has its
         * comment on them: CFITSIO gives the comments of all its cards, joined, with the
         * space that follows the '/'. */
        size_t vlen = strlen(value);
        while (vlen && value[vlen - 1] == ' ')
            vlen--;
        if (vlen >= 2 && value[vlen - 2] == '&' && value[vlen - 1] == '\'')
            comment = longcomment + strspn(longcomment, " ");
        kw->type = SHMAP_KW_STRING;
        if (strlen(s) >= sizeof kw->s)
            cli_warn(path, "keyword %s: string value cut to %zu characters", name,
                     sizeof kw->s - 1);
        snprintf(kw->s, sizeof kw->s, "%s", s);
        fits_free_memory(s, status);
        break;
    }
    case 'L':
        kw->type = SHMAP_KW_BOOL;
        kw->i = value[strspn(value, " ")] == 'T';
        break;
    case 'I':
    case 'F': {
        /* CFITSIO calls a number any value that is not a string, T, F or complex (abc,
         * 0x10, 1E400 too): what is no decimal number, or none a double holds, is left
         * out, as C's parsers would read it as 0, 16 or inf. FITS allows a D exponent
         * (1.5D+03), which C spells E. */
        const char *v = value + strspn(value, " ");
        size_t vlen = strlen(v);
        while (vlen && v[vlen - 1] == ' ')
            vlen--;
        snprintf(buf, sizeof buf, "%.*s", (int)vlen, v);
        for (char *p = buf; *p; p++)
            if (*p == 'D' || *p == 'd')
                *p = 'E';
        char *end = buf;
        if (vlen && strspn(buf, "0123456789+-.Ee") == vlen) {
            errno = 0;
            long long i = type == 'I' ? strtoll(buf, &end, 10) : 0;
            if (type == 'I' && !errno && !*end) {
                kw->type = SHMAP_KW_INT;
                kw->i = i;
                break;
            }
            /* A float, or an integer beyond 64 bits kept as the nearest double. */
            kw->type = SHMAP_KW_FLOAT;
            kw->f = strtod(buf, &end);
        }
        if (end == buf || *end || !isfinite(kw->f)) {
            cli_warn(path, "card '%s' left out: its value %.*s is no number a keyword holds",
                     name, (int)vlen, v);
            return 0;
        }
        break;
    }
    default:
        cli_warn(path, "card '%s' left out: shmap keywords hold no complex value", name);
        return 0;
    }
    /* Comments keep what fits, said as a value cut is. A byte FITS does not allow (a file
     * from anywhere may hold one) is no reason to lose the card: in a string value or the
     * comment it is read as '?', with a warning, so the keyword holds printable text as
     * FITS requires. */
    if (strlen(comment) >= sizeof kw->comment)
        cli_warn(path, "keyword %s: comment cut to %zu characters", name,
                 sizeof kw->comment - 1);
    snprintf(kw->comment, sizeof kw->comment, "%.*s", (int)sizeof kw->comment - 1, comment);
    int odd = printable_ascii(kw->comment);
    if (kw->type == SHMAP_KW_STRING)
        odd += printable_ascii(kw->s);
    if (odd)
        cli_warn(path, "keyword %s: %d %s outside printable ASCII, which FITS does not "
                       "allow, read as '?'", name, odd,
                 cli_plural((uint64_t)odd, "byte", "bytes"));
    return 1;
}

static int read_keywords(const char *path, fitsfile *f, int compressed, int skip_blank,
                         shmap_keyword **out, int *nout, char *err, size_t errsize)
{
    int status = 0, nkeys = 0, more = 0;
    if (fits_get_hdrspace(f, &nkeys, &more, &status))
        return fail_status(err, errsize, "reading the header", status);
    shmap_keyword *kw = calloc(nkeys > 0 ? (size_t)nkeys : 1, sizeof *kw);
    if (!kw)
        return cli_errf(err, errsize, "out of memory");
    int n = 0;
    for (int i = 1; i <= nkeys; i++) {
        char name[FLEN_KEYWORD], value[FLEN_VALUE], comment[FLEN_COMMENT];
        if (fits_read_keyn(f, i, name, value, comment, &status)) {
            free(kw);
            return fail_status(err, errsize, "reading the header", status);
        }
        if (structural(name, compressed) || (skip_blank && strcmp(name, "BLANK") == 0))
            continue;
        /* A name set twice (as FITS allows) keeps the last value, as a segment would. */
        int rc = card_keyword(path, f, i, name, value, comment, &kw[n], &status);
        if (rc < 0) {
            free(kw);
            return fail_status(err, errsize, "reading the header", status);
        }
        n += rc;
    }
    *out = kw;
    *nout = n;
    return 0;
}

/* Would export write an image of this type (CFITSIO's image type) with this BITPIX, BZERO
 * and BSCALE? */
static int written_back_alike(int imgtype, int bitpix, double bzero, double bscale)
{
    static const struct {
        int imgtype, bitpix;
        double bzero;
    } offset[] = {
        {SBYTE_IMG, 8, -128.0},
        {USHORT_IMG, 16, 32768.0},
        {ULONG_IMG, 32, 2147483648.0},
        {ULONGLONG_IMG, 64, 9223372036854775808.0},
    };
    if (bscale != 1)
        return 0;
    for (size_t i = 0; i < sizeof offset / sizeof offset[0]; i++)
        if (offset[i].imgtype == imgtype)
            return bitpix == offset[i].bitpix && bzero == offset[i].bzero;
    return imgtype == bitpix && bzero == 0;
}

/* BLANK * BSCALE + BZERO into @p k, for integral scaling that keeps it in 64 bits: 0, or
 * -1 with @p k as it was. */
static int scale_blank(shmap_keyword *k, double bzero, double bscale)
{
    if (bscale != trunc(bscale) || bzero != trunc(bzero) || fabs(bscale) >= 9.2e18 ||
        fabs(bzero) >= 9.2e18)
        return -1;
    int64_t v;
    if (__builtin_mul_overflow((int64_t)k->i, (int64_t)bscale, &v) ||
        __builtin_add_overflow(v, (int64_t)bzero, &v))
        return -1;
    k->i = v;
    return 0;
}

/*
 * The name CFITSIO is to open the file by, in @p buf or @p path; NULL if there is none.
 * CFITSIO opens files only by name, while the checks here (the NAXIS walk, the size) read
 * the descriptor the command opened: /proc/self/fd/N makes CFITSIO open that same file,
 * whatever has become of its name since. Where /proc is not mounted the name is all there
 * is (standard input's is /dev/stdin): it is used if it still names the descriptor's file,
 * which narrows, but cannot close, the window in which another file could take its place.
 */
static const char *cfitsio_name(const char *path, int fd, const struct stat *st, char *buf,
                                size_t size)
{
    struct stat by;
    snprintf(buf, size, "/proc/self/fd/%d", fd);
    if (stat(buf, &by) == 0 && by.st_dev == st->st_dev && by.st_ino == st->st_ino)
        return buf;
    const char *name = strcmp(path, "-") == 0 ? "/dev/stdin" : path;
    if (stat(name, &by) == 0 && by.st_dev == st->st_dev && by.st_ino == st->st_ino)
        return name;
    return NULL;
}

/*
 * CFITSIO could not open @p name, a file we have open and have read the start of: the
 * cause is this process rather than the file when opening it once more fails now (too many
 * open files, no memory). Then -1 with that cause in @p err, which CFITSIO would have
 * called "could not open the named file", as if the file were not FITS; else 0.
 */
static int reopen_error(const char *name, char *err, size_t errsize)
{
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    int e = errno;
    struct rlimit rl;
    if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        return cli_errf(err, errsize, "cannot open it again for CFITSIO: %s (this process's "
                                      "limit, ulimit -n, is %llu)", strerror(e),
                        (unsigned long long)rl.rlim_cur);
    if (e == ENFILE)
        return cli_errf(err, errsize, "cannot open it again for CFITSIO: %s (the system's "
                                      "limit: fs.file-max)", strerror(e));
    return cli_errf(err, errsize, "cannot open it again for CFITSIO: %s", strerror(e));
}

/*
 * How many pixels @p bytes of one tile, in a column of the compressed table, can decompress
 * to at most (UINT64_MAX: no bound known). Rice codes a block of `blocksize` equal pixels in
 * a 3- to 5-bit code; deflate (GZIP_1, GZIP_2, and the GZIP_COMPRESSED_DATA column of float
 * tiles left unquantized) expands 1032 times at most, and a pixel is a byte at least; a
 * PLIO instruction (2 bytes) gives a run of 4095 pixels at most; UNCOMPRESSED_DATA holds
 * one pixel per element. HCOMPRESS_1 codes a tile of zeros in a few bytes whatever its
 * size: no bound.
 */
static uint64_t tile_bound(int type, int blocksize, uint64_t bytes, uint64_t elements)
{
    if (bytes > UINT64_MAX / 4096)
        return UINT64_MAX;
    switch (type) {
    case INT_MIN: /* UNCOMPRESSED_DATA */
        return elements;
    case RICE_1:
        return (bytes * 8 / 3 + 1) * (uint64_t)blocksize;
    case GZIP_1:
    case GZIP_2:
        return bytes * 1032 + 64;
    case PLIO_1:
        return (bytes / 2 + 1) * 4095;
    case NOCOMPRESS:
        return bytes;
    default:
        return UINT64_MAX;
    }
}

/*
 * A tile-compressed image announces its size in its header (ZNAXISn), which costs nothing
 * to write: an 8 KB file can announce 800 MB, and import made a segment that large before
 * the first tile failed to decompress. So before any segment is made, what the table says
 * of its tiles is checked against the file, at the cost of reading its descriptors: the
 * table and its heap (PCOUNT) lie within the file, every tile's bytes within the heap, and
 * those bytes can decompress to the image's pixels by the bounds of tile_bound(). Tiles of
 * HCOMPRESS_1, which has no such bound, are not checked against the image's size.
 */
static int check_compressed(fitsfile *f, const struct stat *st, uint64_t pixels, uint64_t bytes,
                            char *err, size_t errsize)
{
    FITSfile *F = f->Fptr;
    int status = 0;
    LONGLONG head, data, end, rowlen = 0, nrows = 0, pcount = 0;
    if (fits_get_hduaddrll(f, &head, &data, &end, &status) ||
        fits_read_key(f, TLONGLONG, "NAXIS1", &rowlen, NULL, &status) ||
        fits_read_key(f, TLONGLONG, "NAXIS2", &nrows, NULL, &status) ||
        fits_read_key(f, TLONGLONG, "PCOUNT", &pcount, NULL, &status))
        return fail_status(err, errsize, "reading the compressed image's table", status);
    uint64_t unit; /* the table and its heap */
    if (rowlen < 0 || nrows < 0 || pcount < 0 ||
        __builtin_mul_overflow((uint64_t)rowlen, (uint64_t)nrows, &unit) ||
        __builtin_add_overflow(unit, (uint64_t)pcount, &unit) ||
        (uint64_t)st->st_size < (uint64_t)data || unit > (uint64_t)st->st_size - (uint64_t)data)
        return cli_errf(err, errsize, "truncated: the compressed image's table and heap need "
                                      "%lld x %lld + %lld bytes, the file holds %lld",
                        (long long)rowlen, (long long)nrows, (long long)pcount,
                        (long long)(st->st_size > data ? st->st_size - data : 0));
    const int cols[] = {F->cn_compressed, F->cn_uncompressed, F->cn_gzip_data};
    const int kinds[] = {F->compress_type, INT_MIN, GZIP_1};
    uint64_t bound = 0, stored = 0;
    for (int k = 0; k < 3; k++) {
        int typecode;
        LONGLONG repeat, width;
        if (cols[k] <= 0)
            continue;
        if (fits_get_coltypell(f, cols[k], &typecode, &repeat, &width, &status))
            return fail_status(err, errsize, "reading the compressed image's table", status);
        if (typecode >= 0) /* no descriptor column: CFITSIO says so when reading */
            continue;
        for (LONGLONG row = 1; row <= nrows; row++) {
            LONGLONG n, offset;
            uint64_t len, last;
            if (fits_read_descriptll(f, cols[k], row, &n, &offset, &status))
                return fail_status(err, errsize, "reading the compressed image's tiles",
                                   status);
            if (n < 0 || offset < 0 || __builtin_mul_overflow((uint64_t)n, (uint64_t)width, &len) ||
                __builtin_add_overflow((uint64_t)F->heapstart, (uint64_t)offset, &last) ||
                __builtin_add_overflow(last, len, &last) || (n > 0 && last > unit))
                return cli_errf(err, errsize, "tile %lld's %lld bytes at heap offset %lld lie "
                                              "outside the heap (PCOUNT = %lld): the file is "
                                              "damaged", (long long)row, (long long)n * width,
                                (long long)offset, (long long)pcount);
            uint64_t b = tile_bound(kinds[k], F->rice_blocksize, len, (uint64_t)n);
            bound = __builtin_add_overflow(bound, b, &bound) ? UINT64_MAX : bound;
            stored += len;
        }
    }
    if (bound < pixels)
        return cli_errf(err, errsize, "the image's %" PRIu64 " %s (%" PRIu64 " bytes) cannot "
                                      "come from its tiles' %" PRIu64 " compressed %s, which "
                                      "%s decompresses to %" PRIu64 " pixels at most: refused "
                                      "before making a segment for it", pixels,
                        cli_plural(pixels, "pixel", "pixels"), bytes, stored,
                        cli_plural(stored, "byte", "bytes"), F->zcmptype, bound);
    return 0;
}

int cli_fits_open(const char *path, int fd, const char *hdu, cli_fits **out,
                  cli_file_array *a, shmap_keyword **kw, int *nkw, char *err, size_t errsize)
{
    *out = NULL;
    *kw = NULL;
    *nkw = 0;
    memset(a, 0, sizeof *a);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cli_errf(err, errsize, "%s", strerror(errno));
    walk w;
    int rc = check_axes(fd, &w, err, errsize);
    if (rc < 0) {
        free(w.start);
        return -1;
    }
    char by_fd[32];
    const char *name = cfitsio_name(path, fd, &st, by_fd, sizeof by_fd);
    if (!name) {
        free(w.start);
        return cli_errf(err, errsize, "CFITSIO cannot open it again: /proc/self/fd is not "
                                      "there, and %s does not lead to this file",
                        strcmp(path, "-") == 0 ? "/dev/stdin" : "its name");
    }
    cli_fits *c = calloc(1, sizeof *c);
    if (!c) {
        free(w.start);
        return cli_errf(err, errsize, "out of memory");
    }
    int status = 0;
    /* A disk file by its name: no CFITSIO extended syntax ("x.fits[1]", "-", "!x"). */
    if (fits_open_diskfile(&c->f, name, READONLY, &status)) {
        free(c);
        free(w.start);
        if (status == FILE_NOT_OPENED && reopen_error(name, err, errsize) < 0) {
            fits_clear_errmsg();
            return -1;
        }
        return fail_status(err, errsize, "not a FITS file CFITSIO can read", status);
    }
    *out = c;
    int naxis = 0, bitpix = 0, equiv = 0;
    rc = hdu ? pick_hdu(c->f, &w, hdu, &naxis, err, errsize)
             : find_image(c->f, &w, &naxis, err, errsize);
    free(w.start);
    if (rc < 0)
        return -1;
    if (naxis > SHMAP_MAX_DIMS)
        return cli_errf(err, errsize, "image has %d axes, shmap at most %d", naxis, SHMAP_MAX_DIMS);
    LONGLONG naxes[SHMAP_MAX_DIMS];
    if (fits_get_img_paramll(c->f, SHMAP_MAX_DIMS, &bitpix, &naxis, naxes, &status) ||
        fits_get_img_equivtype(c->f, &equiv, &status))
        return fail_status(err, errsize, "reading the image header", status);
    /* CFITSIO 4.2 calls BITPIX 64 LONGLONG_IMG whatever its scaling: with BZERO 2^63 it
     * is unsigned, and with any other scaling (BSCALE 0.5, BZERO 1) the physical values
     * are read as doubles, as for other widths. Read as int64 instead, through CFITSIO's
     * double arithmetic, they would lose their fractions, and values past 2^63 would turn
     * into INT64_MIN, with no error. */
    double bzero = 0, bscale = 1;
    int s1 = 0, s2 = 0;
    if (fits_read_key(c->f, TDOUBLE, "BZERO", &bzero, NULL, &s1))
        bzero = 0;
    if (fits_read_key(c->f, TDOUBLE, "BSCALE", &bscale, NULL, &s2))
        bscale = 1;
    fits_clear_errmsg();
    if (bitpix == LONGLONG_IMG) {
        if (bscale == 1 && bzero == 9223372036854775808.0)
            equiv = ULONGLONG_IMG;
        else if (bscale != 1 || bzero != 0)
            equiv = DOUBLE_IMG;
    }
    size_t t = 0;
    while (t < NTYPES && types[t].imgtype != equiv)
        t++;
    if (t == NTYPES)
        return cli_errf(err, errsize, "image of BITPIX %d (equivalent type %d): no shmap type",
                        bitpix, equiv);
    a->dtype = types[t].dtype;
    a->elsize = shmap_dtype_size(a->dtype);
    c->datatype = types[t].datatype;
    c->to_float = bitpix > 0 && (equiv == FLOAT_IMG || equiv == DOUBLE_IMG);
    a->ndim = (unsigned int)naxis;
    uint64_t bytes = a->elsize;
    for (int i = 0; i < naxis; i++) {
        if (naxes[i] <= 0)
            return cli_errf(err, errsize, "image is empty (NAXIS%d = %lld)", i + 1,
                            (long long)naxes[i]);
        a->dims[naxis - 1 - i] = (uint64_t)naxes[i];
        if (__builtin_mul_overflow(bytes, (uint64_t)naxes[i], &bytes))
            return cli_errf(err, errsize, "image's size overflows 64 bits");
    }

    /* A data unit cut short is found now, before any segment is made. */
    int compressed = fits_is_compressed_image(c->f, &status);
    LONGLONG head, data, end;
    if (!compressed && fits_get_hduaddrll(c->f, &head, &data, &end, &status) == 0) {
        uint64_t stored = bytes / a->elsize * (uint64_t)(abs(bitpix) / 8);
        if ((uint64_t)st.st_size < (uint64_t)data + stored)
            return cli_errf(err, errsize, "truncated: the image needs %" PRIu64 " %s of data, "
                                          "the file holds %lld", stored,
                            cli_plural(stored, "byte", "bytes"),
                            (long long)(st.st_size > data ? st.st_size - data : 0));
    }
    if (status)
        return fail_status(err, errsize, "reading the image header", status);
    if (compressed && check_compressed(c->f, &st, bytes / a->elsize, bytes, err, errsize) < 0)
        return -1;
    if (read_keywords(path, c->f, compressed, c->to_float, kw, nkw, err, errsize) < 0)
        return -1;
    /* BLANK gives the stored value of undefined pixels. Read as physical values, they are
     * NaN and BLANK goes (read_keywords). Read as integers of a type that export writes
     * back with this BITPIX and BZERO (u16 as BITPIX 16 with BZERO 32768), BLANK stays as
     * it is, and is true again in the file export makes. Read as integers of another type
     * (BITPIX 8 with BZERO 5 gives i16, exported as BITPIX 16 unscaled), the undefined
     * pixels hold BLANK * BSCALE + BZERO: so does BLANK then, to go on marking them. */
    if (!c->to_float && !written_back_alike(types[t].imgtype, bitpix, bzero, bscale))
        for (int i = 0; i < *nkw; i++)
            if (strcmp((*kw)[i].name, "BLANK") == 0 && (*kw)[i].type == SHMAP_KW_INT &&
                scale_blank(&(*kw)[i], bzero, bscale) < 0) {
                cli_warn(path, "card 'BLANK' left out: %lld * BSCALE + BZERO is no 64-bit "
                               "integer", (long long)(*kw)[i].i);
                memmove(&(*kw)[i], &(*kw)[i + 1], (size_t)(*nkw - i - 1) * sizeof **kw);
                (*nkw)--;
                i--;
            }
    return 0;
}

int cli_fits_read(cli_fits *c, const cli_file_array *a, void *dst, char *err, size_t errsize)
{
    LONGLONG first[SHMAP_MAX_DIMS], n = 1;
    for (unsigned int i = 0; i < a->ndim; i++) {
        first[i] = 1;
        n *= (LONGLONG)a->dims[i];
    }
    int status = 0, anynul = 0;
    /* Undefined pixels (BLANK) of scaled integers read as NaN; other types are read as
     * they are stored, with no null check. */
    float fnan = NAN;
    double dnan = NAN;
    void *nulval = !c->to_float ? NULL : c->datatype == TFLOAT ? (void *)&fnan : (void *)&dnan;
    if (fits_read_pixll(c->f, c->datatype, first, n, nulval, dst, &anynul, &status))
        return fail_status(err, errsize, "reading the image", status);
    return 0;
}

void cli_fits_close(cli_fits *c)
{
    int status = 0;
    if (c && c->f)
        fits_close_file(c->f, &status);
    free(c);
}

/* ---------------------------------------------------------------------------------------- */
/* Writing */

int cli_fits_check_type(shmap_dtype dtype, char *err, size_t errsize)
{
    for (size_t t = 0; t < NTYPES; t++)
        if (types[t].dtype == dtype)
            return 0;
    return cli_errf(err, errsize, "%s elements have no FITS image type (FITS images hold u8 i8 "
                                  "u16 i16 u32 i32 u64 i64 f32 f64)", shmap_dtype_name(dtype));
}

static int write_long_string(fitsfile *f, const shmap_keyword *k, int *status);

static int write_keyword(fitsfile *f, const shmap_keyword *k, int *status)
{
    char *comment = k->comment[0] ? (char *)k->comment : NULL;
    switch (k->type) {
    case SHMAP_KW_INT: {
        LONGLONG v = k->i;
        return fits_write_key(f, TLONGLONG, k->name, &v, comment, status);
    }
    case SHMAP_KW_FLOAT: {
        /* As few significant digits as read back as the same double (0.1, not CFITSIO's
         * default of 15, which turns 0.30000000000000004 into 0.3). A negative decim asks
         * CFITSIO for %G, to which it adds a '.' so the card stays a float. */
        int digits = 1;
        char text[64];
        for (; digits < 17; digits++) {
            snprintf(text, sizeof text, "%.*G", digits, k->f);
            if (strtod(text, NULL) == k->f)
                break;
        }
        return fits_write_key_dbl(f, k->name, k->f, -digits, comment, status);
    }
    case SHMAP_KW_BOOL: {
        int v = k->i != 0;
        return fits_write_key(f, TLOGICAL, k->name, &v, comment, status);
    }
    default:
        /* By hand, never through fits_write_key_longstr(): see write_long_string(). */
        return write_long_string(f, k, status);
    }
}

/*
 * A string keyword, written by hand in the long-string convention: on one card when the
 * value and its comment fit there (the value padded to 8 characters, as CFITSIO pads it),
 * else in parts that end with '&', on the keyword's card and CONTINUE cards, with the
 * comment after the last part. Not through fits_write_key_longstr(): CFITSIO 4.2's never
 * returns for some values with many quotes and a comment of 30 to 39 characters, adding
 * CONTINUE cards until the disk is full. Every card here takes at least one character of
 * the value, so the cards are at most as many as the value's characters.
 *
 * Trailing spaces mean nothing in a FITS string, and a last part of spaces only (' ') is
 * read as the empty string that ends a continued one, leaving the '&' in the value and
 * the comment out: so they are dropped first, and the last part ends with the value's
 * last character that is not a space. A value of spaces only is one space, which always
 * fits one card with its comment. A HIERARCH name is followed by "= " with no space
 * before the '=': with 23 characters of name, a value of one quote and 39 characters of
 * comment then fit one card, exactly (80 columns).
 */
static int write_long_string(fitsfile *f, const shmap_keyword *k, int *status)
{
    char card[FLEN_CARD], value[sizeof k->s];
    snprintf(value, sizeof value, "%s", k->s);
    size_t vlen = strlen(value);
    while (vlen > 1 && value[vlen - 1] == ' ')
        value[--vlen] = '\0';
    int n = strlen(k->name) > 8 ? snprintf(card, sizeof card, "HIERARCH %s= '", k->name)
                                : snprintf(card, sizeof card, "%-8s= '", k->name);
    size_t clen = strlen(k->comment);
    for (const char *p = value;;) {
        /* The rest of the value as written: a quote is written twice. */
        size_t rest = strlen(p);
        for (const char *q = p; *q; q++)
            rest += *q == '\'';
        size_t tail = 1 + (clen ? 3 + clen : 0);
        if ((size_t)n + rest + tail <= 80) {
            size_t pad = p == value && rest < 8 && (size_t)n + 8 + tail <= 80 ? 8 - rest : 0;
            for (; *p; p++) {
                if (*p == '\'')
                    card[n++] = '\'';
                card[n++] = *p;
            }
            memset(card + n, ' ', pad);
            n += (int)pad;
            snprintf(card + n, sizeof card - (size_t)n, clen ? "' / %s" : "'", k->comment);
            return fits_write_record(f, card, status);
        }
        /* A part, with room for its '&' and the closing quote, and the last character
         * kept for the next. The first card has room for one (HIERARCH and 23 characters
         * of name take 35 columns), and a CONTINUE card with one character has room for
         * the comment: each card takes at least one character, so this ends. */
        const char *from = p;
        while (p[0] && p[1] && n + (*p == '\'' ? 2 : 1) <= 78) {
            if (*p == '\'')
                card[n++] = '\'';
            card[n++] = *p++;
        }
        if (p == from) /* cannot happen, by the sizes above: never loop */
            return *status = BAD_KEYCHAR;
        snprintf(card + n, sizeof card - (size_t)n, "&'");
        if (fits_write_record(f, card, status))
            return *status;
        n = snprintf(card, sizeof card, "CONTINUE  '");
    }
}

/* How many characters of @p comment end @p card, after its " / ". */
static size_t comment_on_card(const char *card, const char *comment)
{
    size_t len = strlen(card), want = strlen(comment);
    while (len && card[len - 1] == ' ')
        len--;
    while (want && comment[want - 1] == ' ')
        want--;
    for (size_t n = want; n > 0; n--)
        if (len >= n + 2 && memcmp(card + len - n, comment, n) == 0 &&
            memcmp(card + len - n - 2, "/ ", 2) == 0)
            return n == want ? strlen(comment) : n;
    return 0;
}

/*
 * CFITSIO cuts a comment that does not fit on the keyword's card, unsaid: after a string
 * that fills the card, or a long HIERARCH name. The last card written (@p first is the
 * keyword's first) is read back: a string whose comment was cut is written again by
 * hand, with its comment on a CONTINUE card; a number or a bool, which cannot continue,
 * keeps what fits, with a warning.
 */
static void keep_comment(fitsfile *f, const char *segname, const shmap_keyword *k, int first,
                         int *status)
{
    int last = 0, more = 0;
    char card[FLEN_CARD];
    if (!k->comment[0] || fits_get_hdrspace(f, &last, &more, status) || last < first ||
        fits_read_record(f, last, card, status))
        return;
    size_t kept = comment_on_card(card, k->comment);
    /* The parts before the last must have no comment: CFITSIO puts the start of it after
     * the first part of a HIERARCH string too, and a reader joins the two. The card is
     * parsed, not looked at: a comment may itself end with a quote ("... / '"). CFITSIO
     * parses a CONTINUE card as a comment only, so one is parsed under another name. */
    int alone = 1;
    for (int i = first; i < last && alone && !*status; i++) {
        char part[FLEN_CARD] = "", value[FLEN_VALUE], comment[FLEN_COMMENT] = "";
        if (fits_read_record(f, i, part, status))
            break;
        if (strncmp(part, "CONTINUE  ", 10) == 0)
            memcpy(part, "CONTPART= ", 10);
        if (fits_parse_value(part, value, comment, status))
            break;
        alone = comment[strspn(comment, " ")] == '\0';
    }
    if (*status || (kept == strlen(k->comment) && alone))
        return;
    if (k->type != SHMAP_KW_STRING) {
        cli_warn(segname, "keyword %s: comment cut to %zu %s to fit its card (FITS continues "
                          "only strings)", k->name, kept,
                 cli_plural((uint64_t)kept, "character", "characters"));
        return;
    }
    for (int i = last; i >= first && !*status; i--)
        fits_delete_record(f, i, status);
    if (!*status)
        write_long_string(f, k, status);
}

/* Write the image HDU (header, keywords, data) into @p f, new and empty, and close it: the
 * CFITSIO status of the first failure, else 0; *end gets the length of the file. */
static int write_image(fitsfile *f, size_t t, const shmap_info *info, const void *data,
                       const shmap_keyword *kw, int nkw, LONGLONG *end)
{
    LONGLONG naxes[SHMAP_MAX_DIMS], first[SHMAP_MAX_DIMS];
    for (unsigned int i = 0; i < info->ndim; i++) {
        naxes[i] = (LONGLONG)info->dims[info->ndim - 1 - i];
        first[i] = 1;
    }
    int status = 0;
    fits_create_imgll(f, types[t].imgtype, (int)info->ndim, naxes, &status);
    for (int i = 0; i < nkw && !status; i++) {
        /* BLANK marks undefined pixels of integer images only. */
        int is_float = info->dtype == SHMAP_F32 || info->dtype == SHMAP_F64;
        if (structural(kw[i].name, 0) || (is_float && strcmp(kw[i].name, "BLANK") == 0)) {
            cli_warn(info->name, "keyword %s left out: FITS uses that card for the image's "
                                 "structure", kw[i].name);
            continue;
        }
        if (kw[i].type == SHMAP_KW_FLOAT && !isfinite(kw[i].f)) {
            cli_warn(info->name, "keyword %s left out: FITS has no card for a %s value",
                     kw[i].name, isnan(kw[i].f) ? "NaN" : "infinite");
            continue;
        }
        /* FITS cards hold printable ASCII: other bytes (UTF-8 text, say) are written as
         * '?', with a warning, as import reads them (CFITSIO would blank them unsaid). */
        shmap_keyword k = kw[i];
        int odd = printable_ascii(k.comment);
        if (k.type == SHMAP_KW_STRING)
            odd += printable_ascii(k.s);
        if (odd)
            cli_warn(info->name, "keyword %s: %d %s outside printable ASCII, which FITS does "
                                 "not allow, written as '?'", k.name, odd,
                     cli_plural((uint64_t)odd, "byte", "bytes"));
        int nkeys = 0, more = 0;
        fits_get_hdrspace(f, &nkeys, &more, &status);
        write_keyword(f, &k, &status);
        keep_comment(f, info->name, &k, nkeys + 1, &status);
    }
    if (!status)
        fits_write_pixll(f, types[t].datatype, first, (LONGLONG)info->nelem, (void *)data,
                         &status);
    /* Where the HDU ends, data padding included: the length of the file. */
    LONGLONG head = 0, start = 0;
    *end = 0;
    if (!status)
        fits_get_hduaddrll(f, &head, &start, end, &status);
    int wstatus = status;
    status = 0;
    fits_close_file(f, &status);
    return wstatus ? wstatus : status;
}

static size_t type_index(shmap_dtype dtype)
{
    size_t t = 0;
    while (t < NTYPES && types[t].dtype != dtype)
        t++;
    return t;
}

int cli_fits_write(const char *path, int fd, const shmap_info *info, const void *data,
                   const shmap_keyword *kw, int nkw, char *err, size_t errsize)
{
    size_t t = type_index(info->dtype);
    if (t == NTYPES)
        return cli_fits_check_type(info->dtype, err, errsize);
    fitsfile *f;
    int status = 0;
    void *mem = NULL;
    size_t memsize = 0;
    if (fd >= 0)
        fits_create_memfile(&f, &mem, &memsize, 2880, realloc, &status);
    else
        fits_create_diskfile(&f, path, &status);
    if (status) {
        free(mem);
        return fail_status(err, errsize, "creating the file", status);
    }
    LONGLONG end = 0;
    errno = 0;
    status = write_image(f, t, info, data, kw, nkw, &end);
    if (status) {
        /* On disk, CFITSIO's own driver leaves the errno of the write that failed. */
        int e = fd < 0 && (status == WRITE_ERROR || status == FILE_NOT_CLOSED) ? errno : 0;
        free(mem);
        fail_status(err, errsize, "writing the file", status);
        errno = e;
        return -1;
    }
    /* In memory, CFITSIO's buffer may have grown past the file's end. */
    const unsigned char *p = mem;
    size_t left = (uint64_t)end < memsize ? (size_t)end : memsize;
    if (fd >= 0 && cli_write_all(fd, p, left) < 0) {
        int e = errno;
        free(mem);
        cli_errf(err, errsize, "%s", strerror(e));
        errno = e;
        return -1;
    }
    free(mem);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing through a descriptor */

/*
 * CFITSIO opens and creates files by name, and its create refuses a name that exists, as
 * /proc/self/fd/N of an unnamed file (O_TMPFILE) always does; a "!" first would have it
 * remove that name, which cannot be removed, and then refuse it all the same. What it does
 * offer is its own extension point: a program may add an I/O driver for a URL prefix of
 * its own (fits_register_driver(), declared in fitsio2.h, which CFITSIO installs and uses
 * to register its file://, mem:// and other drivers). "shmapfd://N" creates into
 * descriptor N with pread and pwrite at CFITSIO's positions, so the file is written block
 * by block as a file on disk is: no copy of it in memory (fits_create_memfile() would hold
 * all of it, as much again as the data), and a write that fails keeps its errno for the
 * message ("No space left on device" rather than CFITSIO's "error writing to FITS file").
 * The descriptor stays the caller's. One file at a time: the command writes one.
 */
static struct {
    int fd;
    LONGLONG pos;
    int err; /* errno of the first read or write that failed, or 0 */
} fdfile = {-1, 0, 0};

static int fd_create(char *name, int *handle)
{
    char *end;
    errno = 0;
    long n = strtol(name, &end, 10);
    if (errno || *end || end == name || n < 0 || n > INT_MAX || fdfile.fd >= 0)
        return FILE_NOT_CREATED;
    fdfile.fd = (int)n;
    fdfile.pos = 0;
    *handle = 0;
    return 0;
}

static int fd_open(char *name, int rwmode, int *handle)
{
    (void)name;
    (void)rwmode;
    (void)handle;
    return FILE_NOT_OPENED; /* only created, never opened by this prefix */
}

static int fd_truncate(int handle, LONGLONG size)
{
    (void)handle;
    if (ftruncate(fdfile.fd, (off_t)size) < 0) {
        if (!fdfile.err)
            fdfile.err = errno;
        return WRITE_ERROR;
    }
    return 0;
}

static int fd_close(int handle)
{
    (void)handle;
    fdfile.fd = -1;
    return 0;
}

static int fd_remove(char *name)
{
    (void)name;
    return 0; /* an unnamed file goes with its last descriptor */
}

static int fd_size(int handle, LONGLONG *size)
{
    (void)handle;
    struct stat st;
    if (fstat(fdfile.fd, &st) < 0)
        return READ_ERROR;
    *size = (LONGLONG)st.st_size;
    return 0;
}

static int fd_flush(int handle)
{
    (void)handle;
    return 0; /* nothing buffered here; the caller syncs the file */
}

static int fd_seek(int handle, LONGLONG offset)
{
    (void)handle;
    fdfile.pos = offset;
    return 0;
}

static int fd_read(int handle, void *buffer, long nbytes)
{
    (void)handle;
    unsigned char *p = buffer;
    for (long done = 0; done < nbytes;) {
        ssize_t r = pread(fdfile.fd, p + done, (size_t)(nbytes - done), fdfile.pos + done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0 && !fdfile.err)
                fdfile.err = errno;
            return READ_ERROR;
        }
        done += r;
    }
    fdfile.pos += nbytes;
    return 0;
}

static int fd_write(int handle, void *buffer, long nbytes)
{
    (void)handle;
    const unsigned char *p = buffer;
    for (long done = 0; done < nbytes;) {
        ssize_t w = pwrite(fdfile.fd, p + done, (size_t)(nbytes - done), fdfile.pos + done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            if (!fdfile.err)
                fdfile.err = errno;
            return WRITE_ERROR;
        }
        done += w;
    }
    fdfile.pos += nbytes;
    return 0;
}

/* Register the driver once: 0, or CFITSIO's status. */
static int fd_driver(void)
{
    static int status = -1;
    static char prefix[] = "shmapfd://";
    if (status < 0) {
        status = fits_init_cfitsio();
        if (!status)
            status = fits_register_driver(prefix, NULL, NULL, NULL, NULL, NULL, NULL, fd_open,
                                          fd_create, fd_truncate, fd_close, fd_remove, fd_size,
                                          fd_flush, fd_seek, fd_read, fd_write);
    }
    return status;
}

int cli_fits_write_fd(int fd, const shmap_info *info, const void *data,
                      const shmap_keyword *kw, int nkw, char *err, size_t errsize)
{
    size_t t = type_index(info->dtype);
    if (t == NTYPES)
        return cli_fits_check_type(info->dtype, err, errsize);
    /* A CFITSIO that takes no more drivers: the way of streams, through memory. */
    if (fd_driver() != 0) {
        fits_clear_errmsg();
        return cli_fits_write(NULL, fd, info, data, kw, nkw, err, errsize);
    }
    char name[32];
    snprintf(name, sizeof name, "shmapfd://%d", fd);
    fitsfile *f;
    int status = 0;
    fdfile.err = 0;
    if (fits_create_file(&f, name, &status))
        return fail_status(err, errsize, "creating the file", status);
    LONGLONG end;
    status = write_image(f, t, info, data, kw, nkw, &end);
    if (status && fdfile.err) {
        fits_clear_errmsg();
        cli_errf(err, errsize, "%s", strerror(fdfile.err));
        errno = fdfile.err;
        return -1;
    }
    if (status) {
        fail_status(err, errsize, "writing the file", status);
        errno = 0;
        return -1;
    }
    return 0;
}
