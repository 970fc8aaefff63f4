"""shmap.chmod(), shmap.chown() and shmap.perm(): every store, what info(), list() and open
handles show afterwards, the errors, and (as root) what the user nobody can and cannot do
then."""
import grp
import os
import pathlib
import pwd
import stat
import subprocess
import sys
import tempfile

import pytest

import shmap
from conftest import SHM_DIR, cli_json, python_env, run_python_as_nobody, shmap_bin

NOBODY = 65534
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")


@pytest.fixture
def tmp_dir():
    """A fresh directory that nobody may enter, removed with everything in it."""
    with tempfile.TemporaryDirectory(prefix="shmap-pytest-") as d:
        os.chmod(d, 0o711)
        yield pathlib.Path(d)


_keys = iter(range(0x40, 0x100))


@pytest.fixture(params=["posix", "sysv", "file"])
def seg_name(request, name, tmp_dir):
    """A kept segment of 8 u1 (0..7), mode 0600, on each store; removed at the end."""
    if request.param == "posix":
        n = name
    elif request.param == "sysv":
        n = "sysv://0x%08x" % (0x20000000 | (os.getpid() & 0x3fffff) << 8 | next(_keys))
    else:
        n = "file:%s" % (tmp_dir / "seg")
    try:
        with shmap.create(n, 8, "u1", keep=True, mode=0o600) as seg:
            seg.array[:] = range(8)
    except PermissionError:
        pytest.skip("no System V shared memory here")
    yield n
    try:
        shmap.delete(n, force=True)
    except FileNotFoundError:
        pass


def _readable(mode):
    """Can this process open a segment of this mode it owns? Root always can."""
    return os.geteuid() == 0 or bool(mode & 0o400)


def test_perm__chmod_shows_in_info_and_list(seg_name):
    for mode in (0o640, 0o644, 0o400, 0, 0o600):
        shmap.chmod(seg_name, mode)
        if _readable(mode):
            assert shmap.info(seg_name)["mode"] == "%04o" % mode
        else:  # its owner took read access from itself: asked without opening it
            assert shmap.perm(seg_name).mode == mode
    shmap.chmod(seg_name, mode=0o604)
    if not seg_name.startswith("file:"):  # list() shows POSIX and System V segments
        [entry] = [s for s in shmap.list() if s["name"] == shmap.info(seg_name)["name"]]
        assert entry["mode"] == "0604"


def test_perm__open_handles_show_the_new_mode(seg_name):
    with shmap.open(seg_name) as seg:
        shmap.chmod(seg_name, 0o640)
        assert seg.info["mode"] == "0640"


@pytest.mark.parametrize("mode", [0o4755, 0o1777, 0o2000, 0o10000])
def test_perm__set_id_and_sticky_bits_are_refused(seg_name, mode):
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.chmod(seg_name, mode)
    assert exc.value.errname == "SHMAP_EINVAL"
    assert "0 to 0777" in str(exc.value)
    assert shmap.info(seg_name)["mode"] == "0600"


@pytest.mark.parametrize("mode", [-1, 2 ** 32, 2 ** 70])
def test_perm__a_mode_out_of_range_is_refused(name, mode):
    with pytest.raises(shmap.ArgumentError, match="mode="):
        shmap.chmod(name, mode)


def test_perm__bad_arguments(name):
    with pytest.raises(TypeError):
        shmap.chmod(name, "644")
    with pytest.raises(TypeError):
        shmap.chown(name, 1.5)
    for kw in ({"uid": -2}, {"gid": 2 ** 32}, {"uid": 2 ** 32 - 1}):
        with pytest.raises(shmap.ArgumentError):
            shmap.chown(name, **kw)
    with pytest.raises(shmap.ArgumentError):
        shmap.chmod("a/b", 0o600)


def test_perm__missing_is_file_not_found(name, tmp_dir):
    for n in (name, "file:%s" % (tmp_dir / "none")):
        with pytest.raises(FileNotFoundError) as exc:
            shmap.chmod(n, 0o600)
        assert "no such" in str(exc.value)
        with pytest.raises(FileNotFoundError):
            shmap.chown(n, gid=os.getegid())


def test_perm__a_foreign_object(foreign):
    n = foreign(b"x" * 100)
    shmap.chmod(n, 0o640)
    assert stat.S_IMODE(os.stat(os.path.join(SHM_DIR, n)).st_mode) == 0o640


def test_perm__a_symlink_or_fifo_is_refused_and_not_followed(tmp_dir):
    target = tmp_dir / "target"
    target.write_bytes(b"data")
    os.chmod(target, 0o600)
    os.symlink(target, tmp_dir / "link")
    os.mkfifo(tmp_dir / "fifo", 0o600)
    for leaf in ("link", "fifo"):
        with pytest.raises(shmap.Error) as exc:
            shmap.chmod("file:%s" % (tmp_dir / leaf), 0o666)
        assert exc.value.errno == 22 and "not a regular file" in str(exc.value)
        with pytest.raises(shmap.Error):
            shmap.chown("file:%s" % (tmp_dir / leaf), os.geteuid())
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(tmp_dir / "fifo").st_mode) == 0o600


@root_only
def test_perm__chown_shows_in_info(seg_name):
    shmap.chown(seg_name, NOBODY, NOBODY)
    info = shmap.info(seg_name)
    assert (info["uid"], info["gid"]) == (NOBODY, NOBODY)
    shmap.chown(seg_name, gid=0)
    info = shmap.info(seg_name)
    assert (info["uid"], info["gid"]) == (NOBODY, 0)
    shmap.chown(seg_name, uid=0)
    shmap.chown(seg_name)  # both -1: nothing changes
    info = shmap.info(seg_name)
    assert (info["uid"], info["gid"]) == (0, 0)


def account_names(uid, gid):
    """The user and group names the system has for the ids, None where it has none."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = None
    return user, group


@root_only
def test_perm__list_names_each_owner_and_group(names):
    """list() remembers the names it looked up while it lists (uids repeat): each entry still
    gets its own owner's and group's names, for segments of two owners, interleaved; and a
    later list() sees a change of owner."""
    segs = [names() for _ in range(6)]
    for i, n in enumerate(segs):
        shmap.create(n, 1, "u1", keep=True).close()
        if i % 2:
            shmap.chown(n, NOBODY, NOBODY)
    root_names = account_names(0, 0)
    nobody_names = account_names(NOBODY, NOBODY)
    assert root_names != nobody_names
    cli = {o["name"]: o for o in cli_json("ls", "--json") if o["name"] in segs}
    listed = {e["name"]: e for e in shmap.list() if e["name"] in segs}
    assert sorted(listed) == sorted(segs)
    for i, n in enumerate(segs):
        e = listed[n]
        assert (e["uid"], e["gid"]) == ((NOBODY, NOBODY) if i % 2 else (0, 0))
        assert (e["owner"], e["group"]) == (nobody_names if i % 2 else root_names)
        assert (e["owner"], e["group"]) == (cli[n]["owner"], cli[n]["group"])
        assert (e["owner"], e["group"]) == (shmap.info(n)["owner"], shmap.info(n)["group"])
    shmap.chown(segs[0], NOBODY, NOBODY)
    (e,) = [e for e in shmap.list() if e["name"] == segs[0]]
    assert (e["owner"], e["group"]) == nobody_names


BIG_GROUP_GID = 65533


@root_only
def test_perm__a_group_with_many_members_is_named(name):
    """A group whose entry outgrows a lookup's first buffer (ERANGE) is still named, in list()
    and info() as by the command. The group exists in a mount namespace of the test's own,
    where a copy of /etc/group with it is mounted over the real one."""
    shmap.create(name, 1, "u1", keep=True).close()
    shmap.chown(name, gid=BIG_GROUP_GID)
    members = ",".join("member%05d" % i for i in range(2000))  # 24 KB
    code = ("import json, shmap, subprocess, sys\n"
            "(e,) = [e for e in shmap.list() if e['name'] == sys.argv[1]]\n"
            "cli = json.loads(subprocess.run([sys.argv[2], 'info', sys.argv[1], '--json'],\n"
            "                                capture_output=True, check=True).stdout)\n"
            "print(e['group'], shmap.info(sys.argv[1])['group'], cli['group'])\n")
    with tempfile.NamedTemporaryFile("w", prefix="shmap-pytest-group-") as group:
        with open("/etc/group") as f:
            group.write(f.read())
        group.write("shmapbig:x:%d:%s\n" % (BIG_GROUP_GID, members))
        group.flush()
        proc = subprocess.run(
            ["unshare", "--mount", "sh", "-c",
             "mount --bind \"$0\" /etc/group || exit 77; exec \"$@\"", group.name,
             sys.executable, "-c", code, name, shmap_bin()],
            capture_output=True, text=True, timeout=60, env=python_env())
    if proc.returncode == 77 or (proc.returncode != 0 and "Traceback" not in proc.stderr):
        pytest.skip("no mount namespace here: %s" % proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "shmapbig shmapbig shmapbig\n"


NOBODY_OPENS = (
    "import shmap, sys\n"
    "try:\n"
    "    with shmap.open(sys.argv[1]) as seg:\n"
    "        print(seg.array.tolist())\n"
    "except PermissionError:\n"
    "    print('refused')\n")

NOBODY_CHANGES = (
    "import shmap, sys\n"
    "for call in (lambda: shmap.chmod(sys.argv[1], 0o666),\n"
    "             lambda: shmap.chown(sys.argv[1], 65534)):\n"
    "    try:\n"
    "        call()\n"
    "    except PermissionError as e:\n"
    "        print(e.errname, 'root' in str(e))\n")


@root_only
def test_perm__another_user_reads_after_644_not_after_600(seg_name):
    shmap.chmod(seg_name, 0o644)
    proc = run_python_as_nobody(NOBODY_OPENS, seg_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 1, 2, 3, 4, 5, 6, 7]"
    shmap.chmod(seg_name, 0o600)
    proc = run_python_as_nobody(NOBODY_OPENS, seg_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "refused"


@root_only
def test_perm__a_user_who_is_not_the_owner_gets_permission_error(seg_name):
    shmap.chmod(seg_name, 0o644)
    proc = run_python_as_nobody(NOBODY_CHANGES, seg_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["EPERM True", "EPERM True"]
    info = shmap.info(seg_name)
    assert (info["mode"], info["uid"]) == ("0644", 0)


def test_perm__perm_reads_what_chmod_and_chown_set(seg_name):
    for mode in (0o640, 0o604, 0, 0o600):
        shmap.chmod(seg_name, mode)
        perm = shmap.perm(seg_name)
        assert isinstance(perm, shmap.Perm) and isinstance(perm, tuple)
        assert perm == (mode, os.geteuid(), os.getegid())
        assert (perm.mode, perm.uid, perm.gid) == perm
        if not _readable(mode):
            continue
        info = cli_json("info", seg_name, "--json")
        assert (info["mode"], info["uid"], info["gid"]) == ("%04o" % mode, perm.uid, perm.gid)
        assert shmap.info(seg_name)["mode"] == "%04o" % perm.mode
    assert shmap.perm(os.fsencode(seg_name)) == shmap.perm(seg_name)


def test_perm__perm_is_what_os_stat_says(seg_name, foreign):
    """POSIX objects and files: the mode and owner os.stat() gives, segment or not."""
    objects = [foreign(b"x" * 10)]
    if not seg_name.startswith("sysv://"):
        objects.append(seg_name)
    for n in objects:
        path = n[len("file:"):] if n.startswith("file:") else os.path.join(SHM_DIR, n)
        os.chmod(path, 0o632)
        st = os.stat(path)
        assert shmap.perm(n) == (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) \
            == (0o632, st.st_uid, st.st_gid)


@root_only
def test_perm__perm_needs_no_read_access(seg_name):
    """nobody cannot open a root segment of mode 0600 (a file in a directory it may search
    but not read), but reads its mode and owner."""
    shmap.chown(seg_name, 0, 0)
    shmap.chmod(seg_name, 0o600)
    code = NOBODY_OPENS + "print(tuple(shmap.perm(sys.argv[1])))\n"
    proc = run_python_as_nobody(code, seg_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["refused", "(384, 0, 0)"]


def test_perm__perm_errors(name, tmp_dir):
    with pytest.raises(FileNotFoundError):
        shmap.perm(name)
    with pytest.raises(FileNotFoundError):
        shmap.perm("file:%s" % (tmp_dir / "none"))
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.perm("a/b")
    assert exc.value.errname == "SHMAP_EBADNAME"
    with pytest.raises(shmap.Error) as exc:
        shmap.perm("memfd:")
    assert exc.value.errname == "SHMAP_ESTORE"
    with pytest.raises(shmap.Error) as exc:
        shmap.perm("file:%s" % tmp_dir)
    assert exc.value.errno == 22 and "not a regular file" in str(exc.value)
    with pytest.raises(TypeError):
        shmap.perm(3)
    with pytest.raises(ValueError):
        shmap.perm("a\0b")
