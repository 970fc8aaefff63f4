/*
 * shmap-cfitsio-helper: CFITSIO's side of the test that reads and writes CFITSIO's
 * shmem:// images as raw arrays (tests/cli/import_export.c). Built only with CFITSIO.
 *
 *   shmap-cfitsio-helper write FILE    a 3x4 float image, pixel i = 1.5 * i, into FILE
 *   shmap-cfitsio-helper read FILE     its 12 pixels, as CFITSIO reads them, on one line
 *   shmap-cfitsio-helper delete FILE   remove FILE (for shmem://hN: its segments and
 *                                      semaphores)
 *
 * FILE is any CFITSIO file name (shmem://h0); SHMEM_LIB_KEYBASE and SHMEM_LIB_MAXSEG in the
 * environment pick the System V keys CFITSIO uses. Exits 0, or 1 with CFITSIO's message.
 */
#include <stdio.h>
#include <string.h>

#include <fitsio.h>

#define NPIX 12

static int failed(int status)
{
    fits_report_error(stderr, status);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: shmap-cfitsio-helper write|read|delete FILE\n");
        return 2;
    }
    fitsfile *f;
    int status = 0;
    if (strcmp(argv[1], "write") == 0) {
        long naxes[2] = {4, 3};
        float pix[NPIX];
        for (int i = 0; i < NPIX; i++)
            pix[i] = 1.5f * (float)i;
        if (fits_create_file(&f, argv[2], &status) ||
            fits_create_img(f, FLOAT_IMG, 2, naxes, &status) ||
            fits_write_img(f, TFLOAT, 1, NPIX, pix, &status) || fits_close_file(f, &status))
            return failed(status);
        return 0;
    }
    if (strcmp(argv[1], "read") == 0) {
        float pix[NPIX];
        int anynul = 0;
        if (fits_open_file(&f, argv[2], READONLY, &status) ||
            fits_read_img(f, TFLOAT, 1, NPIX, NULL, pix, &anynul, &status) ||
            fits_close_file(f, &status))
            return failed(status);
        for (int i = 0; i < NPIX; i++)
            printf("%s%g", i ? " " : "", (double)pix[i]);
        printf("\n");
        return 0;
    }
    if (strcmp(argv[1], "delete") == 0) {
        if (fits_open_file(&f, argv[2], READWRITE, &status) || fits_delete_file(f, &status))
            return failed(status);
        return 0;
    }
    fprintf(stderr, "shmap-cfitsio-helper: unknown action '%s'\n", argv[1]);
    return 2;
}
