/*
 * shmap chown USER[:GROUP] NAME...
 *
 * USER and GROUP are names or numbers, as chown(1) takes them: USER:GROUP sets both, USER
 * alone the owner, USER: the owner and that user's login group, :GROUP the group alone. A
 * name is looked up first, then read as a number; one that is neither is bad usage, named.
 *
 * Each NAME is handled on its own, as `rm` does: one that fails is reported and the others
 * are still changed; the exit status says whether any failed.
 */
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "cli.h"

/* A user or group id written as a number: decimal digits, not the "keep" value -1. */
static int parse_id(const char *text, unsigned *out)
{
    uint64_t v;
    if (text[strspn(text, "0123456789")] != '\0' || cli_parse_u64(text, &v) < 0 ||
        v >= 0xffffffffu)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* USER[:GROUP] into ids, (uid_t)-1 and (gid_t)-1 for what it leaves as it is. 0, or
 * CLI_EXIT_USAGE after a usage error. */
static int parse_owner(const char *spec, uid_t *uid, gid_t *gid)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    const char *colon = strchr(spec, ':');
    char user[256], group[256];
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (ulen >= sizeof user || (colon && strlen(colon + 1) >= sizeof group))
        return cli_usage_error("chown", "'%.40s...': user or group name too long", spec);
    memcpy(user, spec, ulen);
    user[ulen] = '\0';
    snprintf(group, sizeof group, "%s", colon ? colon + 1 : "");
    if (!*user && !*group)
        return cli_usage_error("chown", "invalid owner '%s': give USER, USER:GROUP, USER: or "
                                        ":GROUP", spec);
    unsigned id = 0;
    gid_t login = (gid_t)-1;
    if (*user) {
        const struct passwd *pw = getpwnam(user);
        if (!pw && parse_id(user, &id) == 0)
            pw = getpwuid((uid_t)id);
        else if (!pw)
            return cli_usage_error("chown", "unknown user '%s'", user);
        *uid = pw ? pw->pw_uid : (uid_t)id;
        if (pw)
            login = pw->pw_gid;
    }
    if (*group) {
        const struct group *gr = getgrnam(group);
        if (gr)
            *gid = gr->gr_gid;
        else if (parse_id(group, &id) == 0)
            *gid = (gid_t)id;
        else
            return cli_usage_error("chown", "unknown group '%s'", group);
    } else if (colon) {
        /* USER: is the user's login group, which only its passwd entry tells. */
        if (login == (gid_t)-1)
            return cli_usage_error("chown", "user %s has no passwd entry, so no login group: "
                                            "give USER:GROUP", user);
        *gid = login;
    }
    return 0;
}

static const cli_opt chown_opts[] = {{NULL, 0}};

int cmd_chown(int argc, char **argv)
{
    int opt;
    cli_args a;
    cli_args_init(&a, "chown", chown_opts, argc, argv);
    cli_args_subject(&a, 1, 1);
    while ((opt = cli_args_next(&a)) >= 0)
        ;
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos == 0)
        return cli_usage_error("chown", "missing USER[:GROUP]");
    if (a.npos == 1)
        return cli_usage_error("chown", "missing NAME");
    uid_t uid;
    gid_t gid;
    if (parse_owner(a.argv[0], &uid, &gid) != 0 || cli_check_names("chown", a.argv + 1,
                                                                     a.npos - 1) != 0)
        return CLI_EXIT_USAGE;

    int status = CLI_EXIT_OK;
    for (int i = 1; i < a.npos; i++) {
        int rc = shmap_chown(a.argv[i], uid, gid);
        if (rc < 0)
            status = cli_fail_lib(a.argv[i], rc);
    }
    return status;
}
