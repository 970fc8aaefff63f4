/*
 * fits_none.c: FITS import and export when shmap is built without CFITSIO. Every call says
 * so, in the one sentence cli_fits_missing, so the user knows what to install (or, when
 * the build was given FITS other than yes, which CLI_FITS_OFF holds, that FITS was left out
 * on purpose); the build picks this file or fits.c (see the Makefile).
 */
#include <stdio.h>

#include <errno.h>

#include "cli.h"

const int cli_fits_built = 0;
#ifdef CLI_FITS_OFF
const char cli_fits_missing[] = "FITS support not built (shmap was built with FITS="
                                CLI_FITS_OFF ")";
#else
const char cli_fits_missing[] = "FITS support not built: install libcfitsio-dev and rebuild";
#endif

struct cli_fits {
    int unused;
};

static int missing(char *err, size_t errsize)
{
    snprintf(err, errsize, "%s", cli_fits_missing);
    return -1;
}

int cli_fits_open(const char *path, int fd, const char *hdu, cli_fits **f, cli_file_array *a,
                  shmap_keyword **kw, int *nkw, char *err, size_t errsize)
{
    (void)path;
    (void)fd;
    (void)hdu;
    (void)a;
    *f = NULL;
    *kw = NULL;
    *nkw = 0;
    return missing(err, errsize);
}

int cli_fits_read(cli_fits *f, const cli_file_array *a, void *dst, char *err, size_t errsize)
{
    (void)f;
    (void)a;
    (void)dst;
    return missing(err, errsize);
}

void cli_fits_close(cli_fits *f)
{
    (void)f;
}

int cli_fits_check_type(shmap_dtype dtype, char *err, size_t errsize)
{
    (void)dtype;
    return missing(err, errsize);
}

int cli_fits_write(const char *path, int fd, const shmap_info *info, const void *data,
                   const shmap_keyword *kw, int nkw, char *err, size_t errsize)
{
    (void)path;
    (void)fd;
    (void)info;
    (void)data;
    (void)kw;
    (void)nkw;
    errno = 0; /* no write failed */
    return missing(err, errsize);
}

int cli_fits_write_fd(int fd, const shmap_info *info, const void *data,
                      const shmap_keyword *kw, int nkw, char *err, size_t errsize)
{
    return cli_fits_write(NULL, fd, info, data, kw, nkw, err, errsize);
}
