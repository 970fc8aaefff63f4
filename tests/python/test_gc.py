"""shmap.gc(): what processes killed with SIGKILL leave behind, cleaned as `shmap gc` cleans it,
each action a GcEvent; a dry run changes nothing and reports what `shmap gc --dry-run` prints
for the same state. Failures on one object are events; a store that cannot be listed raises.

Every call here is given a prefix that only this test's objects have: a gc of everything
would clean up after other programs on the machine."""
import errno
import inspect
import json
import os
import re
import subprocess
import sys

import pytest

import shmap
from conftest import PREFIX, SHM_DIR, python_env, read_line, remove, run_cli, \
    run_python_as_nobody, shmap_bin

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to nobody needs root")


@pytest.fixture
def family():
    """A prefix of this test's own (a fresh name, then '-'): the segments named with it are
    removed at teardown."""
    prefix = shmap.unique_name(PREFIX) + "-"
    yield prefix
    for entry in os.listdir(SHM_DIR):
        if entry.startswith(prefix):
            remove(entry)


CREATOR = ("import shmap, time\n"
           "segs = [shmap.create(n, 4, 'u1', keep=True, transient=t, mode=0o644)\n"
           "        for n, t in %r]\n"
           "print('made', flush=True)\n"
           "time.sleep(60)\n")


def killed_creator(child, segments):
    """Create segments [(name, transient)] in a child, then kill it with SIGKILL: its pid."""
    proc = child(CREATOR % (segments,))
    assert read_line(proc) == "made"
    proc.kill()
    proc.wait(30)
    return proc.pid


def gc_as_nobody(prefix):
    """gc(prefix) run by nobody, with dry_run=True then False: the two lists of events, as
    tuples."""
    proc = run_python_as_nobody(
        "import json, shmap, sys\n"
        "print(json.dumps([list(shmap.gc(sys.argv[1], dry_run=d)) for d in (True, False)]))\n",
        prefix)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def summary(events):
    """What gc events say, as `shmap gc`'s lines say it, sorted by name."""
    return sorted((e.action, e.name, e.pid, e.slots if e.action == "cleared_slots" else None)
                  for e in events)


CLI_LINES = [
    (r"(?:would remove|removed) transient segment (\S+) \(creator pid (\d+) dead, "
     r"no live attachers\)$", "removed_transient"),
    (r"(?:would clear|cleared) (\d+) stale attach slots? in (\S+)$", "cleared_slots"),
    (r"(?:would remove|removed) hidden leftover (\S+) of a dead creator \(pid (\d+)\)$",
     "removed_leftover"),
    (r"(?:would remove|removed) unfinished segment (\S+) \(its creator, pid (\d+), died "
     r"creating it\)$", "removed_unfinished"),
]


def cli_summary(out):
    """The actions `shmap gc` printed, as summary() gives Python's; the last line, gc's
    total, is left out."""
    lines = out.splitlines()
    assert lines and lines[-1].startswith("gc"), out
    found = []
    for line in lines[:-1]:
        for pattern, action in CLI_LINES:
            m = re.match(pattern, line)
            if not m:
                continue
            if action == "cleared_slots":
                found.append((action, m.group(2), None, int(m.group(1))))
            else:
                found.append((action, m.group(1), int(m.group(2)), None))
            break
        else:
            raise AssertionError("unexpected line from shmap gc: %r" % line)
    return sorted(found)


def size_of(name):
    return os.stat(os.path.join(SHM_DIR, name)).st_size


def test_gc__cleans_after_a_killed_creator_as_the_command_does(family, child):
    transient, persistent, used = family + "transient", family + "persistent", family + "used"
    proc = child(CREATOR % ([(transient, True), (persistent, False), (used, True)],))
    assert read_line(proc) == "made"
    user = child("import shmap, time\n"
                 "seg = shmap.open(%r, readonly=False)\n"
                 "print('attached', flush=True)\n"
                 "time.sleep(60)\n" % used)
    assert read_line(user) == "attached"
    proc.kill()
    proc.wait(30)
    creator = proc.pid
    sizes = {n: size_of(n) for n in (transient, persistent, used)}

    expected = [("cleared_slots", persistent, None, 1), ("cleared_slots", used, None, 1),
                ("removed_transient", transient, creator, None)]
    dry = shmap.gc(family, dry_run=True)
    assert summary(dry) == expected
    for e in dry:
        assert isinstance(e, shmap.GcEvent)
        assert e.dry_run is True and e.status == 0 and e.message is None
        assert e.size == sizes[e.name]
    assert [e.slots for e in dry if e.name == transient] == [1]  # the creator's, dead
    assert cli_summary(run_cli("gc", "--dry-run", "--prefix", family).stdout) == expected
    # Nothing changed.
    assert shmap.info(transient)["transient"] is True
    assert [(a["pid"], a["alive"]) for a in shmap.info(persistent)["attached"]] == \
        [(creator, False)]

    done = shmap.gc(family)
    assert summary(done) == expected
    assert all(e.dry_run is False and e.status == 0 and e.message is None for e in done)
    with pytest.raises(FileNotFoundError):
        shmap.info(transient)
    assert shmap.info(persistent)["attached"] == []  # kept, its dead slot cleared
    assert [(a["pid"], a["alive"]) for a in shmap.info(used)["attached"]] == \
        [(user.pid, True)]  # kept: a live process uses it
    assert shmap.gc(family) == []
    assert run_cli("gc", "--prefix", family).stdout == "gc: nothing to do\n"


def test_gc__dry_run_changes_nothing_and_a_real_run_matches_it(family, child):
    name = family + "t"
    creator = killed_creator(child, [(name, True)])
    for _ in range(2):
        (e,) = shmap.gc(family, dry_run=True)
        assert (e.action, e.name, e.pid, e.dry_run, e.status) == \
            ("removed_transient", name, creator, True, 0)
        assert os.path.exists(os.path.join(SHM_DIR, name))
    (e,) = shmap.gc(prefix=family)
    assert (e.action, e.name, e.pid, e.dry_run, e.status) == \
        ("removed_transient", name, creator, False, 0)
    assert not os.path.exists(os.path.join(SHM_DIR, name))


def test_gc__a_system_v_transient_segment_of_a_killed_creator(sysv_names, child):
    name = sysv_names()
    creator = killed_creator(child, [(name, True)])
    expected = [("removed_transient", name, creator, None)]
    assert summary(shmap.gc(name, dry_run=True)) == expected
    assert cli_summary(run_cli("gc", "--dry-run", "--prefix", name).stdout) == expected
    assert summary(shmap.gc(name)) == expected
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


def test_gc__a_hidden_leftover_of_a_dead_creation(child):
    proc = child("pass")
    proc.wait(30)  # a pid that is gone
    name = ".shmap-tmp-%d-%s" % (proc.pid, PREFIX)
    path = os.path.join(SHM_DIR, name)
    with open(path, "wb") as f:
        f.write(b"\0" * 100)
    try:
        expected = [("removed_leftover", name, proc.pid, None)]
        (e,) = shmap.gc(name, dry_run=True)
        assert summary([e]) == expected and e.size == 100
        assert cli_summary(run_cli("gc", "--dry-run", "--prefix", name).stdout) == expected
        assert summary(shmap.gc(name.encode())) == expected  # bytes, as names may be
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


@pytest.fixture
def open_dir():
    """A directory anyone may write, without the sticky bit: nobody may remove root's files
    there, but not ask the kernel whether anyone maps them. Removed at teardown."""
    path = os.path.join("/tmp", shmap.unique_name(PREFIX) + "-dir")
    os.mkdir(path)
    os.chmod(path, 0o777)
    yield path
    for entry in os.listdir(path):
        os.unlink(os.path.join(path, entry))
    os.rmdir(path)


@needs_root
def test_gc__kept_when_this_user_cannot_see_who_may_map_it(open_dir, child):
    """Run by nobody, of a file segment of root's that nobody may remove: root's processes,
    whose mappings nobody may not read, could map it, so it is kept and the event says why,
    as the command's line does."""
    name = "file:%s/root.seg" % open_dir
    creator = killed_creator(child, [(name, True)])
    for dry, events in zip((True, False), gc_as_nobody(name)):
        (e,) = [shmap.GcEvent(e) for e in events]
        assert (e.action, e.name, e.pid, e.dry_run, e.status) == \
            ("kept_transient", name, creator, dry, -errno.EBUSY)
        assert e.message.startswith(name + ": kept: pid "), e.message
        assert "run gc as root" in e.message or "CAP_SYS_PTRACE" in e.message
    cli = subprocess.run([shmap_bin(), "gc", "--dry-run", "--prefix", name],
                         capture_output=True, text=True, timeout=60, user=65534, group=65534,
                         extra_groups=[])
    assert cli.returncode == 0, cli.stderr
    # The same reason: the library's, after "NAME: kept: ". It names one of the processes
    # that may map it, which need not be the same one in another run: compare the rest.
    line = cli.stdout.splitlines()[0]
    assert line.startswith("kept transient segment %s: pid " % name), line
    assert line.rsplit("; ", 1)[1] == e.message.rsplit("; ", 1)[1]
    assert os.path.exists(name[5:])


@needs_root
def test_gc__what_this_user_may_not_remove_is_kept_and_says_who_may(family, sysv_names,
                                                                     child):
    """nobody may not remove root's segments (/dev/shm is sticky; a System V segment is its
    owner's or creator's to remove): gc keeps them, in a dry run as in a real one, the
    status being the refusal a removal would meet and the message saying who may; the
    command prints the same on stdout and exits 0."""
    posix, sysv = family + "root", sysv_names()
    creator = killed_creator(child, [(posix, True), (sysv, True)])
    why = {posix: "it belongs to uid 0, and only its owner or root may remove it from "
                  "/dev/shm, a sticky directory; run gc as root or as uid 0",
           sysv: "only its owner (uid 0) or root may remove it; run gc as root or as uid 0"}
    for name in (posix, sysv):
        for dry, events in zip((True, False), gc_as_nobody(name)):
            (e,) = [shmap.GcEvent(e) for e in events]
            assert (e.action, e.name, e.pid, e.dry_run, e.status) == \
                ("kept_transient", name, creator, dry, -errno.EPERM)
            assert e.message == "%s: kept: %s" % (name, why[name])
        cli = subprocess.run([shmap_bin(), "gc", "--prefix", name], capture_output=True,
                             text=True, timeout=60, user=65534, group=65534, extra_groups=[])
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout == "kept transient segment %s: %s\ngc: 1 kept that this user may " \
                             "not remove\n" % (name, why[name])
        assert shmap.info(name)["transient"] is True  # still there
    assert summary(shmap.gc(posix)) == [("removed_transient", posix, creator, None)]
    assert summary(shmap.gc(sysv)) == [("removed_transient", sysv, creator, None)]


@needs_root
def test_gc__a_store_that_cannot_be_listed_raises():
    """In a mount namespace of its own where /dev/shm is closed to nobody, gc() run by nobody
    raises PermissionError: the walk itself failed."""
    code = ("import shmap\n"
            "try:\n"
            "    shmap.gc('anything')\n"
            "except PermissionError as e:\n"
            "    print('PermissionError', e.code == -13, e)\n")
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         "mount -t tmpfs -o mode=0700 none /dev/shm || exit 77; exec setpriv --reuid=65534 "
         "--regid=65534 --clear-groups \"$@\"", "sh", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, env=python_env())
    if proc.returncode == 77 or (proc.returncode != 0 and "Traceback" not in proc.stderr):
        pytest.skip("no mount namespace here: %s" % proc.stderr.strip())
    if "Permission denied" in proc.stderr and "shmap" not in proc.stderr:
        pytest.skip("the build directory is not readable by nobody")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("PermissionError True [Errno 13] cannot list /dev/shm: Permission "
                           "denied\n")


def test_gc__arguments():
    params = inspect.signature(shmap.gc).parameters
    assert list(params) == ["prefix", "dry_run"]
    assert params["prefix"].default is None
    assert params["dry_run"].default is False
    assert params["dry_run"].kind == params["dry_run"].KEYWORD_ONLY
    with pytest.raises(TypeError):
        shmap.gc(1)
    with pytest.raises(TypeError):
        shmap.gc(PREFIX, True)
    with pytest.raises(ValueError):
        shmap.gc("a\0b")
    assert shmap.GcEvent.n_fields == 8
    for word in ("removed_transient", "kept_transient", "cleared_slots", "removed_leftover",
                 "removed_unfinished", "dry_run", "prefix"):
        assert word in shmap.gc.__doc__ + shmap.GcEvent.action.__doc__, word


def test_gc__removes_what_a_killed_creator_would_have_destroyed(family, child):
    """A segment created without keep=True goes with its creator: killed first, its creator
    leaves one gc() removes; set_destroy(False) made the other persistent."""
    gone, kept = family + "gone", family + "kept"
    proc = child("import shmap, time\n"
                 "a = shmap.create(%r, 4, 'u1')\n"
                 "b = shmap.create(%r, 4, 'u1')\n"
                 "b.set_destroy(False)\n"
                 "print('made', flush=True)\n"
                 "time.sleep(60)\n" % (gone, kept))
    assert read_line(proc) == "made"
    proc.kill()
    proc.wait(30)
    assert summary(shmap.gc(family)) == [("cleared_slots", kept, None, 1),
                                         ("removed_transient", gone, proc.pid, None)]
    assert shmap.info(kept)["transient"] is False
