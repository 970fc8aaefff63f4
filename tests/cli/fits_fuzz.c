/*
 * shmap import of FITS files a fuzzer found mishandled: tiled-image headers CFITSIO divides
 * by zero on (the import died of SIGFPE), a header walk that read past its block, and a
 * small compressed file that announced a huge image (a segment that large was made before
 * the first tile failed). Files are written here by hand; each is refused, or read, as a
 * user sees it: the command's exit status, its one line on stderr, and no segment left.
 */
#include <fcntl.h>

#include "../util.h"

/* These tests are skipped where the command was built without CFITSIO. */
static void need_fits(void)
{
    if (!util_fits_built())
        TEST_SKIP("shmap is built without CFITSIO (install libcfitsio-dev)");
}

/* Append one HDU (cards, END, padded; then data, padded) to a buffer. */
static void put_hdu(unsigned char **buf, size_t *len, const char *const *cards, int ncards,
                    const unsigned char *data, size_t dlen)
{
    size_t hlen = ((size_t)(ncards + 1) * 80 + 2879) / 2880 * 2880;
    size_t total = hlen + (dlen + 2879) / 2880 * 2880;
    unsigned char *b = realloc(*buf, *len + total);
    CHECK(b != NULL);
    unsigned char *p = b + *len;
    memset(p, ' ', hlen);
    memset(p + hlen, 0, total - hlen);
    for (int i = 0; i < ncards; i++)
        memcpy(p + 80 * i, cards[i], strlen(cards[i]));
    memcpy(p + 80 * ncards, "END", 3);
    if (dlen)
        memcpy(p + hlen, data, dlen);
    *buf = b;
    *len += total;
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/*
 * A tile-compressed i16 image at @p path: an empty primary HDU, then a binary table of
 * @p nrows rows, each a descriptor (@p tile bytes at heap offset @p offset) into a heap of
 * @p heap bytes, and the tiled-image cards @p z (a NULL ends them).
 */
static void write_tiled(const char *path, const char *const *z, int nrows, uint32_t tile,
                        uint32_t offset, uint32_t heap)
{
    static const char *const primary[] = {
        "SIMPLE  =                    T", "BITPIX  =                    8",
        "NAXIS   =                    0", "EXTEND  =                    T",
    };
    char cards[40][81];
    const char *list[40];
    int n = 0;
    snprintf(cards[n++], 81, "XTENSION= 'BINTABLE'");
    snprintf(cards[n++], 81, "BITPIX  =                    8");
    snprintf(cards[n++], 81, "NAXIS   =                    2");
    snprintf(cards[n++], 81, "NAXIS1  =                    8");
    snprintf(cards[n++], 81, "NAXIS2  = %20d", nrows);
    snprintf(cards[n++], 81, "PCOUNT  = %20u", heap);
    snprintf(cards[n++], 81, "GCOUNT  =                    1");
    snprintf(cards[n++], 81, "TFIELDS =                    1");
    snprintf(cards[n++], 81, "TTYPE1  = 'COMPRESSED_DATA'");
    snprintf(cards[n++], 81, "TFORM1  = '1PB(%u)'", tile);
    snprintf(cards[n++], 81, "ZIMAGE  =                    T");
    snprintf(cards[n++], 81, "ZBITPIX =                   16");
    for (int i = 0; z[i]; i++)
        snprintf(cards[n++], 81, "%s", z[i]);
    for (int i = 0; i < n; i++)
        list[i] = cards[i];
    size_t dlen = (size_t)nrows * 8 + heap;
    unsigned char *data = calloc(1, dlen > 8 ? dlen : 8);
    CHECK(data != NULL);
    for (int r = 0; r < nrows; r++) {
        be32(data + 8 * r, tile);
        be32(data + 8 * r + 4, offset);
    }
    for (uint32_t i = 0; i < heap; i++)
        data[(size_t)nrows * 8 + i] = (unsigned char)(0x5a ^ i);
    unsigned char *file = NULL;
    size_t len = 0;
    put_hdu(&file, &len, primary, 4, NULL, 0);
    put_hdu(&file, &len, list, n, data, dlen);
    util_write_file(path, file, len);
    free(file);
    free(data);
}

TEST(fits_fuzz__tile_sizes_cfitsio_divides_by_are_refused_naming_the_keyword)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* CFITSIO 4.2 divides ZNAXISn by ZTILEn (by ZNAXIS1 where ZTILE1 is missing) and a
     * RICE_1 tile's length by ZVAL1 when it opens the HDU: each of these killed the import
     * with SIGFPE (exit 136). */
    static const struct {
        const char *z[8];
        const char *says;
    } cases[] = {
        {{"ZCMPTYPE= 'RICE_1  '", "ZNAXIS  =                    2",
          "ZNAXIS1 =                   16", "ZNAXIS2 =                    8",
          "ZTILE1  =                    0", "ZTILE2  =                    4",
          "ZVAL1   =                   32", NULL},
         "HDU 2: ZTILE1 is 0: a tile-compressed image needs each ZTILEn an integer of at "
         "least 1"},
        {{"ZCMPTYPE= 'RICE_1  '", "ZNAXIS  =                    2",
          "ZNAXIS1 =                   16", "ZNAXIS2 =                    8",
          "ZTILE1  =                    F", "ZTILE2  =                    4",
          "ZVAL1   =                   32", NULL},
         "HDU 2: ZTILE1 is no integer"},
        {{"ZCMPTYPE= 'RICE_1  '", "ZNAXIS  =                    2",
          "ZNAXIS1 =                   16", "ZNAXIS2 =                    8",
          "ZTILE1  =                   16", "ZTILE2  =                    4",
          "ZVAL1   =                    0", NULL},
         "HDU 2: ZVAL1 is 0: a RICE_1 tile-compressed image needs its block size"},
        {{"ZCMPTYPE= 'GZIP_1  '", "ZNAXIS  =                    2",
          "ZNAXIS1 =                    0", "ZNAXIS2 =                    8", NULL},
         "HDU 2: ZNAXIS1 is 0: a tile-compressed image needs each ZNAXISn an integer of at "
         "least 1"},
        {{"ZCMPTYPE= 'GZIP_1  '", "ZNAXIS  =                    2",
          "ZNAXIS1 = -9223372036854775807", "ZNAXIS2 =                    8",
          "ZTILE1  =                   -1", NULL},
         "HDU 2: ZNAXIS1 is -9223372036854775807"},
        {{"ZCMPTYPE= 'GZIP_1  '", "ZNAXIS  =                    7", NULL},
         "HDU 2: ZNAXIS is 7: a tile-compressed image needs ZNAXIS = 1 to 6"},
    };
    const char *path = util_test_path("tiled.fits");
    const char *name = test_name("tiled");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_tiled(path, cases[i].z, 2, 3, 0, 6);
        RUN(1, "import", path, name);
        CHECK_ERROR_LINE(err, cases[i].says);
        CHECK(!util_shm_exists(name));
    }
    unlink(path);
    util_clear(&out, &err);
}

TEST(fits_fuzz__a_blank_groups_card_ending_a_header_block_is_read_within_the_block)
{
    need_fits();
    char *out = NULL, *err = NULL;
    /* GROUPS is the block's 36th and last card, blank to its end: the walk's scan of its
     * value ran past the block (found by the address sanitizer). END is in the next. */
    static char cards[37][81];
    const char *list[37];
    snprintf(cards[0], 81, "SIMPLE  =                    T");
    snprintf(cards[1], 81, "BITPIX  =                    8");
    snprintf(cards[2], 81, "NAXIS   =                    1");
    snprintf(cards[3], 81, "NAXIS1  =                    4");
    for (int i = 4; i < 35; i++)
        snprintf(cards[i], 81, "COMMENT   padding");
    snprintf(cards[35], 81, "GROUPS  =");
    for (int i = 0; i < 36; i++)
        list[i] = cards[i];
    unsigned char *file = NULL;
    size_t len = 0;
    put_hdu(&file, &len, list, 36, (const unsigned char *)"\1\2\3\4", 4);
    const char *path = util_test_path("groups.fits");
    util_write_file(path, file, len);
    free(file);
    const char *name = test_name("groups");
    RUN(0, "import", path, name);
    RUN(0, "cat", name);
    CHECK_STR(out, "1 2 3 4\n");
    CHECK_OK(shmap_unlink(name));
    unlink(path);
    util_clear(&out, &err);
}

TEST(fits_fuzz__a_compressed_image_its_tiles_cannot_hold_is_refused_before_any_segment)
{
    need_fits();
    char *out = NULL, *err = NULL;
    const char *path = util_test_path("big.fits");
    const char *name = test_name("big");
    /* 4000 x 4000 i16 (32 MB) in one GZIP_1 tile of 20 bytes: deflate gives 1032 bytes a
     * byte at most. The import made the segment, then failed in the first tile. */
    static const char *const big[] = {
        "ZCMPTYPE= 'GZIP_1  '",           "ZNAXIS  =                    2",
        "ZNAXIS1 =                 4000", "ZNAXIS2 =                 4000",
        "ZTILE1  =                 4000", "ZTILE2  =                 4000",
        NULL,
    };
    write_tiled(path, big, 1, 20, 0, 20);
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "big.fits: the image's 16000000 pixels (32000000 bytes) cannot come "
                          "from its tiles' 20 compressed bytes, which GZIP_1 decompresses to "
                          "20704 pixels at most: refused before making a segment for it");
    CHECK(!util_shm_exists(name));

    /* A tile whose bytes lie past the heap. */
    static const char *const small[] = {
        "ZCMPTYPE= 'GZIP_1  '",           "ZNAXIS  =                    2",
        "ZNAXIS1 =                    4", "ZNAXIS2 =                    2",
        "ZTILE1  =                    4", "ZTILE2  =                    2",
        NULL,
    };
    write_tiled(path, small, 1, 20, 100, 20);
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "big.fits: tile 1's 20 bytes at heap offset 100 lie outside the heap "
                          "(PCOUNT = 20): the file is damaged");
    CHECK(!util_shm_exists(name));

    /* A heap (PCOUNT) larger than the file. */
    write_tiled(path, small, 1, 20, 0, 20);
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(pwrite(fd, "PCOUNT  =              1000000", 30, 2880 + 5 * 80) == 30);
    close(fd);
    RUN(1, "import", path, name);
    CHECK_ERROR_LINE(err, "big.fits: truncated: the compressed image's table and heap need "
                          "8 x 1 + 1000000 bytes, the file holds 2880");
    CHECK(!util_shm_exists(name));
    unlink(path);
    util_clear(&out, &err);
}
