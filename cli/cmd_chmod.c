/*
 * shmap chmod MODE NAME...
 *
 * MODE is octal (640, 0640) or symbolic as chmod(1) writes it, kept to permission bits:
 * clauses [ugoa]*[+-=][rwx]* separated by commas (u+rw,g+r; go-w; a=r), where leaving the
 * letters before the operator out means a, all of them (no umask applies, unlike chmod(1)).
 * Set-id and sticky bits, X and the copying forms (g=u) are refused as bad usage. A
 * symbolic MODE applies to each NAME's mode as it is, read with shmap_perm_get(), so it works
 * on any object the name picks, and on one whose owner may not read it.
 *
 * Each NAME is handled on its own, as `rm` does: one that fails is reported and the others
 * are still changed; the exit status says whether any failed.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Apply the symbolic mode `text` to `mode`: 0, or -1 with a message in err. */
static int apply_symbolic(const char *text, unsigned mode, unsigned *out, char *err,
                          size_t errsize)
{
    const char *p = text;
    for (;;) {
        unsigned who = 0;
        for (; *p && strchr("ugoa", *p); p++)
            who |= *p == 'u' ? 0700u : *p == 'g' ? 070u : *p == 'o' ? 07u : 0777u;
        if (!who)
            who = 0777u;
        char op = *p;
        if (!op || !strchr("+-=", op))
            break;
        unsigned bits = 0;
        for (p++; *p && strchr("rwx", *p); p++)
            bits |= *p == 'r' ? 0444u : *p == 'w' ? 0222u : 0111u;
        bits &= who;
        mode = op == '+' ? mode | bits : op == '-' ? mode & ~bits : (mode & ~who) | bits;
        if (*p == '\0') {
            *out = mode;
            return 0;
        }
        if (*p != ',' || p[1] == '\0')
            break;
        p++;
    }
    /* Say what is not supported when it is something chmod(1) has. */
    const char *why = !*p             ? NULL
                      : *p == 's'     ? "the set-user-id and set-group-id bits (s) cannot "
                                        "be set"
                      : *p == 't'     ? "the sticky bit (t) cannot be set"
                      : *p == 'X'     ? "X is not supported: give x, or leave it out"
                      : p > text && strchr("+-=", p[-1]) && strchr("ugo", *p)
                                      ? "copying bits (g=u) is not supported"
                      : p > text && strchr("rwx", p[-1]) && strchr("+-=", *p)
                                      ? "give one operator per clause (u+r,u-w, not u+r-w)"
                                      : NULL;
    if (why)
        snprintf(err, errsize, "invalid mode '%s': %s", text, why);
    else if (p > text)
        snprintf(err, errsize, "invalid mode '%s' at '%s': give octal (0640) or [ugoa][+-=][rwx] "
                               "clauses separated by commas (u+rw,g+r)", text, p);
    else
        snprintf(err, errsize, "invalid mode '%s': give octal (0640) or [ugoa][+-=][rwx] "
                               "clauses separated by commas (u+rw,g+r)", text);
    return -1;
}

/* MODE as given: octal (then *octal is set and *bits is the mode), or symbolic, checked.
 * 0, or CLI_EXIT_USAGE after a usage error. */
static int parse_mode(const char *text, int *octal, unsigned *bits)
{
    char err[512];
    size_t ndigits = strspn(text, "0123456789");
    *octal = text[0] != '\0' && text[ndigits] == '\0';
    if (!*octal) {
        if (apply_symbolic(text, 0, bits, err, sizeof err) < 0)
            return cli_usage_error("chmod", "%s", err);
        return 0;
    }
    if (strspn(text, "01234567") != ndigits)
        return cli_usage_error("chmod", "invalid mode '%s': octal digits are 0 to 7", text);
    unsigned long v = ndigits > 8 ? 07777777ul + 1 : strtoul(text, NULL, 8);
    if (v > 07777)
        return cli_usage_error("chmod", "invalid mode '%s': give permission bits, 0 to 0777",
                               text);
    if (v > 0777)
        return cli_usage_error("chmod", "invalid mode '%s': the set-user-id, set-group-id "
                                        "and sticky bits cannot be set (give 0 to 0777)", text);
    *bits = (unsigned)v;
    return 0;
}

static const cli_opt chmod_opts[] = {{NULL, 0}};

int cmd_chmod(int argc, char **argv)
{
    /* A mode that starts with '-' (-w, as chmod(1) takes it) is not an option. */
    const char *mode_text = NULL;
    if (argc > 1 && argv[1][0] == '-' && argv[1][1] && strchr("rwxstX", argv[1][1])) {
        mode_text = argv[1];
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    int opt;
    cli_args a;
    cli_args_init(&a, "chmod", chmod_opts, argc, argv);
    /* MODE is the first operand, unless it was taken above. */
    cli_args_subject(&a, mode_text ? 0 : 1, 1);
    while ((opt = cli_args_next(&a)) >= 0)
        ;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    char **names = a.argv;
    int nnames = a.npos;
    if (!mode_text && nnames > 0) {
        mode_text = names[0];
        names++;
        nnames--;
    }
    if (!mode_text)
        return cli_usage_error("chmod", "missing MODE");
    if (nnames == 0)
        return cli_usage_error("chmod", "missing NAME");
    int octal;
    unsigned bits;
    if (parse_mode(mode_text, &octal, &bits) != 0 ||
        cli_check_names("chmod", names, nnames) != 0)
        return CLI_EXIT_USAGE;

    int status = CLI_EXIT_OK;
    for (int i = 0; i < nnames; i++) {
        unsigned mode = bits, old;
        char err[512];
        int rc = octal ? 0 : shmap_perm_get(names[i], &old, NULL, NULL);
        if (rc == 0 && !octal)
            apply_symbolic(mode_text, old & 0777u, &mode, err, sizeof err); /* checked */
        if (rc == 0)
            rc = shmap_chmod(names[i], mode);
        if (rc < 0)
            status = cli_fail_lib(names[i], rc);
    }
    return status;
}
