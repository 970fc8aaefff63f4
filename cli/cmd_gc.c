/*
 * shmap gc [--dry-run] [--prefix PREFIX]
 *
 * Cleans up after dead processes with shmap_gc(): one line per action on stdout, then a
 * summary line. A failed action is one error line on stderr ("shmap: NAME: message") and
 * makes the status 1. What the library keeps, saying so in its detail ("NAME: kept: ..."),
 * is not a failure: a transient segment that processes this user cannot inspect may map
 * (-EBUSY), or a leftover this user may not remove (-EPERM, -EACCES). A line on stdout says
 * why and what to do, in a dry run too, and the status stays 0.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"

static const cli_opt gc_opts[] = {{"dry-run", 0}, {"prefix", 1}, {NULL, 0}};

struct tally {
    unsigned removed, cleared_slots, cleared_segments, tmp, unfinished, kept, kept_theirs;
    unsigned kept_unseen; /* System V segments too large for this process to look at */
    unsigned failed, failed_segments, failed_tmp;
};

/*
 * Why something was kept: the library's detail after its "NAME: kept: ", or NULL when
 * there is no such detail.
 */
static const char *kept_reason(const char *name)
{
    const char *detail = cli_lib_detail();
    size_t len = strlen(name);
    if (detail && strncmp(detail, name, len) == 0 && strncmp(detail + len, ": kept: ", 8) == 0)
        return detail + len + 8;
    return NULL;
}

/* What an event is about, in the words of its line. */
static const char *what_of(const shmap_gc_event *ev)
{
    if (ev->action == SHMAP_GC_REMOVED_TRANSIENT)
        return "transient segment";
    if (ev->action != SHMAP_GC_REMOVED_TMP)
        return "segment";
    /* System V has no hidden names: its unfinished creations are under their key. */
    return strncmp(ev->name, "sysv://", 7) == 0 ? "unfinished segment" : "hidden leftover";
}

static int on_event(const shmap_gc_event *ev, void *ctx)
{
    struct tally *t = ctx;
    char name[4 * SHMAP_NAME_MAX];
    cli_escape_name(name, sizeof name, ev->name);
    /* Kept, as the library's detail says; a kept transient segment said in the older way
     * (-EBUSY with no such detail) too. */
    const char *reason = ev->status < 0 ? kept_reason(ev->name) : NULL;
    if (reason || (ev->action == SHMAP_GC_REMOVED_TRANSIENT && ev->status == -EBUSY)) {
        char why[1024];
        cli_escape_text(why, sizeof why,
                        reason ? reason
                               : "a process whose mappings this user cannot read may map it; "
                                 "run gc as root");
        /* Kept as maybe in use (-EBUSY), as too large to look at (-ENOMEM), or as not this
         * user's to remove (its refusal). */
        if (ev->status == -EBUSY)
            t->kept++;
        else if (ev->status == -ENOMEM)
            t->kept_unseen++;
        else
            t->kept_theirs++;
        printf("kept %s %s: %s\n", what_of(ev), name, why);
        return 0;
    }
    if (ev->status < 0) {
        t->failed++;
        if (ev->action == SHMAP_GC_REMOVED_TMP && strncmp(ev->name, "sysv://", 7) != 0)
            t->failed_tmp++;
        else
            t->failed_segments++;
        cli_fail_lib(ev->name, ev->status);
        return 0;
    }
    const char *verb = ev->dry_run ? "would remove" : "removed";
    switch (ev->action) {
    case SHMAP_GC_REMOVED_TRANSIENT:
        t->removed++;
        printf("%s transient segment %s (creator pid %d dead, no live attachers)\n", verb,
               name, (int)ev->pid);
        break;
    case SHMAP_GC_CLEARED_SLOTS:
        t->cleared_slots += ev->slots;
        t->cleared_segments++;
        printf("%s %u stale attach %s in %s\n", ev->dry_run ? "would clear" : "cleared",
               ev->slots, cli_plural(ev->slots, "slot", "slots"), name);
        break;
    case SHMAP_GC_REMOVED_TMP:
        if (strncmp(ev->name, "sysv://", 7) == 0) {
            t->unfinished++;
            printf("%s unfinished segment %s (its creator, pid %d, died creating it)\n", verb,
                   name, (int)ev->pid);
        } else {
            t->tmp++;
            printf("%s hidden leftover %s of a dead creator (pid %d)\n", verb, name,
                   (int)ev->pid);
        }
        break;
    }
    return 0;
}

int cmd_gc(int argc, char **argv)
{
    int opt;
    unsigned flags = 0;
    const char *prefix = NULL;
    cli_args a;
    cli_args_init(&a, "gc", gc_opts, argc, argv);
    cli_args_subject(&a, -1, 0); /* no NAME */
    while ((opt = cli_args_next(&a)) >= 0) {
        if (opt == 0)
            flags |= SHMAP_GC_DRY_RUN;
        else
            prefix = a.value;
    }
    if (opt == CLI_ARGS_EXIT)
        return a.status;
    if (a.npos > 0)
        return cli_usage_error("gc", "unexpected argument '%s'", a.argv[0]);

    struct tally t;
    memset(&t, 0, sizeof t);
    int rc = shmap_gc(prefix, flags, on_event, &t);
    if (rc < 0)
        return cli_fail(NULL, "gc: %s", cli_lib_message(rc));
    bool dry = flags & SHMAP_GC_DRY_RUN;
    const char *removed = dry ? "to remove" : "removed", *cleared = dry ? "to clear" : "cleared";
    printf("gc%s: ", dry ? " (dry run)" : "");
    const char *sep = "";
    if (!t.removed && !t.cleared_segments && !t.tmp && !t.unfinished) {
        /* Nothing done, but "nothing to do" would belie a kept or failed segment. */
        if (!t.kept && !t.kept_theirs && !t.kept_unseen && !t.failed)
            printf("nothing to do");
    } else {
        printf("%u transient %s %s, %u stale attach %s %s in %u %s, %u hidden %s %s", t.removed,
               cli_plural(t.removed, "segment", "segments"), removed, t.cleared_slots,
               cli_plural(t.cleared_slots, "slot", "slots"), cleared, t.cleared_segments,
               cli_plural(t.cleared_segments, "segment", "segments"), t.tmp,
               cli_plural(t.tmp, "leftover", "leftovers"), removed);
        /* Only when there are some, so the usual summary keeps its form. */
        if (t.unfinished)
            printf(", %u unfinished System V %s %s", t.unfinished,
                   cli_plural(t.unfinished, "segment", "segments"), removed);
        sep = ", ";
    }
    if (t.kept) {
        printf("%s%u transient %s kept (may be in use)", sep, t.kept,
               cli_plural(t.kept, "segment", "segments"));
        sep = ", ";
    }
    if (t.kept_theirs) {
        printf("%s%u kept that this user may not remove", sep, t.kept_theirs);
        sep = ", ";
    }
    if (t.kept_unseen) {
        printf("%s%u kept that this process cannot attach (ulimit -v)", sep, t.kept_unseen);
        sep = ", ";
    }
    if (t.failed_segments) {
        printf("%s%u %s could not be removed", sep, t.failed_segments,
               cli_plural(t.failed_segments, "segment", "segments"));
        sep = ", ";
    }
    if (t.failed_tmp)
        printf("%s%u hidden %s could not be removed", sep, t.failed_tmp,
               cli_plural(t.failed_tmp, "leftover", "leftovers"));
    putchar('\n');
    return t.failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
