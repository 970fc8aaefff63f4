/*
 * Fuzz target: the type spellings and record field lists users and segments give, the
 * keyword and name parsers. Beyond not crashing, what is accepted must agree: a list the
 * library's parser takes, the reader of stored lists takes with the same element size;
 * its canonical form describes the same record; and the command lays it out with every
 * field inside the element.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const char *s)
{
    size_t es = 0, stored = 0;
    int parsed = shmap_record_parse(s, &es), read = shmap__record_parse_stored(s, &stored);
    if (parsed == 0 && (read != 0 || es != stored))
        __builtin_trap();
    if (read != 0)
        return;
    char canon[SHMAP_RECORD_FIELDS_MAX];
    size_t again = 0;
    if (shmap__record_canon(s, canon, sizeof canon) == 0 &&
        (shmap__record_parse_stored(canon, &again) != 0 || again != stored ||
         !shmap__record_same(s, canon)))
        __builtin_trap();
    shmap_info info;
    memset(&info, 0, sizeof info);
    info.dtype = SHMAP_RECORD;
    info.elsize = stored;
    snprintf(info.record_fields, sizeof info.record_fields, "%s", s);
    cli_layout l;
    char err[600];
    if (cli_layout_init(&l, &info, err, sizeof err) != 0)
        __builtin_trap();
    for (size_t i = 0; i < l.nfields; i++)
        if (l.fields[i].offset + l.fields[i].size * l.fields[i].count > l.elsize)
            __builtin_trap();
    cli_layout_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 2000)
        return 0;
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    shmap_dtype dtype;
    shmap_keyword kw;
    shmap_store store;
    switch (data[0] % 4) {
    case 0:
        if (shmap_dtype_parse(s, &dtype) == 0 && shmap_dtype_size(dtype) == 0)
            __builtin_trap();
        break;
    case 1:
    case 2:
        check_record(s);
        break;
    default:
        shmap_keyword_parse(s, &kw);
        shmap_name_check(s, &store);
        break;
    }
    free(s);
    return 0;
}
