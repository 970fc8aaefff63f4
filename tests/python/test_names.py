"""Names are bytes to the system: str names go through the file-system encoding with
surrogateescape both ways, as os.fsencode() and os.fsdecode() do, and bytes names are taken as
they are. So a name that is not UTF-8 (the CLI can make one) comes back from list() as a str
that open(), info() and delete() accept."""
import os
import pickle
import subprocess

import numpy as np
import pytest

import shmap
from conftest import SHM_DIR, cli_json, run_cli, shmap_bin


@pytest.fixture
def bad_name(name):
    """A POSIX name with a byte that is not UTF-8 (0xff), as bytes; removed at teardown
    through the file system, whatever the binding can do."""
    raw = os.fsencode(name) + b"-\xffbad"
    yield raw
    try:
        os.unlink(os.path.join(os.fsencode(SHM_DIR), raw))
    except FileNotFoundError:
        pass


def test_names__not_utf8_from_list_opens_and_deletes(bad_name):
    run_cli("create", os.fsdecode(bad_name), "u1", "4", "--keyword", "A=1")
    listed = [s["name"] for s in shmap.list() if os.fsencode(s["name"]) == bad_name]
    assert listed == [os.fsdecode(bad_name)]
    name = listed[0]
    assert "\udcff" in name  # the undecodable byte, as os.fsdecode() spells it
    info = shmap.info(name)
    assert info["name"] == name and info["os_handle"] == "/" + name
    assert info["keywords"] == {"A": 1}
    with shmap.open(name, readonly=False) as seg:
        assert seg.name == name and seg.os_handle == "/" + name
        for r in (repr(seg), repr(seg.keywords)):  # printable anywhere: the name escaped
            assert r.isascii() and "\\udcff" in r
        seg.array[:] = [1, 2, 3, 4]
        seg.keywords["B"] = ("two", "set from Python")
        seg.publish()
        with seg.lock(exclusive=True, timeout=5) as lk:
            assert lk.name == name
        assert [m["name"] for m in shmap.mappings() if m["name"] == name] == [name]
        with pickle.loads(pickle.dumps(seg)) as again:
            assert again.name == name and list(again.array) == [1, 2, 3, 4]
    with shmap.open(bad_name) as seg:  # bytes, as the system has it
        assert seg.name == name and seg.generation == 1
    assert cli_json("info", name, "--json")["keywords"] == {"A": 1, "B": "two"}
    shmap.chmod(name, 0o640)
    assert shmap.info(bad_name)["mode"] == "0640"
    shmap.delete(name)
    assert not os.path.exists(os.path.join(os.fsencode(SHM_DIR), bad_name))
    with pytest.raises(FileNotFoundError) as exc:
        shmap.open(name)
    assert repr(name)[1:-1] in str(exc.value)  # the message spells it as repr() does


def test_names__control_character_from_list_is_refused_as_documented(name):
    """A name with a control character, which another tool can rename into /dev/shm, is
    listed only with all=True (with why), and taken by no call: open(), info() and delete()
    refuse it with ArgumentError (EBADNAME), as the module's help says, and os.unlink()
    removes it as the help says.
    (Non-UTF-8 names, by contrast, open and delete: see above.)"""
    ctl = name + "-ctl\x01x"
    with shmap.create(name, 4, "f4", keep=True):
        pass
    os.rename(os.path.join(SHM_DIR, name), os.path.join(SHM_DIR, ctl))
    try:
        assert [s["name"] for s in shmap.list(all=True) if s["name"] == ctl] == [ctl]
        assert not [s for s in shmap.list() if s["name"] == ctl]
        [entry] = [s for s in shmap.list(all=True) if s["name"] == ctl]
        assert "control character 0x01 in name" in entry["error"]
        for call in (shmap.open, shmap.info, lambda n: shmap.delete(n, force=True)):
            with pytest.raises(shmap.ArgumentError) as exc:
                call(ctl)
            assert exc.value.code == shmap.EBADNAME and "control character" in str(exc.value)
        assert "always opens" not in shmap.__doc__
        assert "unless it holds a control character" in shmap.__doc__
        assert "os.unlink('/dev/shm/' + name)" in shmap.__doc__
        os.unlink("/dev/shm/" + ctl)  # what the help says to do
    finally:
        if os.path.exists(os.path.join(SHM_DIR, ctl)):
            os.unlink(os.path.join(SHM_DIR, ctl))
    assert not [s for s in shmap.list(all=True) if s["name"] == ctl]


def test_names__made_in_python_reach_the_cli(bad_name):
    name = os.fsdecode(bad_name)
    with shmap.create(name, 3, "u2", keep=True) as seg:
        assert seg.name == name
        seg.array[:] = [5, 6, 7]
    assert os.path.exists(os.path.join(os.fsencode(SHM_DIR), bad_name))
    proc = subprocess.run([shmap_bin(), "cat", bad_name], capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.split() == [b"5", b"6", b"7"]
    with pytest.raises(FileExistsError) as exc:
        shmap.create(bad_name, 3, "u2")
    assert repr(name)[1:-1] in str(exc.value)
    shmap.delete(bad_name)
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


def test_names__bytes_everywhere(name, tmp_path):
    raw = os.fsencode(name)
    with shmap.create(raw, 2, "u1", keep=True) as seg:
        assert seg.name == name and isinstance(seg.name, str)
    assert shmap.info(raw)["name"] == name
    with shmap.open(raw, dtype="u1", shape=2, offset=seg.offset) as r:  # a raw mapping
        assert r.raw and r.name == name
    assert shmap.info(name, template=raw)["shape"] == [2]
    shmap.chmod(raw, 0o600)
    shmap.chown(raw, -1, -1)
    assert shmap.unique_name(raw).startswith(name + "-")
    shmap.delete(raw)
    path = os.fsencode(tmp_path) + b"/seg-\xfe"  # a file whose path is not UTF-8
    with shmap.create(b"file:" + path, 4, "f4") as seg:
        assert os.fsencode(seg.name) == b"file:" + path
        assert os.fsencode(seg.os_handle) == path and os.path.exists(path)
        np.testing.assert_array_equal(shmap.open(seg.name).array, np.zeros(4))


def test_names__refused():
    for bad in (3, bytearray(b"x"), None, ["x"]):
        with pytest.raises(TypeError, match="name must be a str or bytes"):
            shmap.open(bad)
    for bad in ("a\0b", b"a\0b"):
        with pytest.raises(shmap.ArgumentError, match="NUL") as exc:
            shmap.open(bad)
        assert exc.value.code == shmap.EBADNAME
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.open(b"file:/" + b"x" * 5000)
    assert exc.value.code == shmap.EBADNAME
    with pytest.raises(UnicodeEncodeError):
        shmap.open("\ud800")  # a surrogate that no byte decodes to


def test_names__documented():
    for fn in (shmap.open, shmap.create, shmap.info, shmap.delete, shmap.list,
               shmap.check_name):
        assert "surrogateescape" in fn.__doc__ or "os.fsdecode" in fn.__doc__ or \
            "bytes" in fn.__doc__, fn
    assert "os.fsencode" in shmap.__doc__ and "os.fsdecode" in shmap.__doc__


@pytest.mark.parametrize("name, store", [
    ("frames", "posix"), ("/frames", "posix"), ("shm://frames", "posix"),
    ("shmem://frames", "posix"), (b"frames", "posix"), ("bad\udcffname", "posix"),
    ("sysv://0x5eed", "sysv"), ("sysv://id=32769", "sysv"), (b"sysv://24301", "sysv"),
    ("file:/tmp/frames.shm", "file"), (b"file:/tmp/\xff", "file"), ("memfd:", "memfd"),
])
def test_names__check_name_gives_the_store(name, store):
    assert shmap.check_name(name) == store
    assert shmap.check_name(name=name) == store


def test_names__check_name_touches_nothing(name):
    assert shmap.check_name(name) == "posix"
    assert not os.path.exists(os.path.join(SHM_DIR, name))  # neither made nor looked for
    with shmap.create(name, 4, "u1") as seg:
        assert shmap.check_name(seg.name) == seg.store == "posix"


@pytest.mark.parametrize("bad", ["", "a/b", ".", "..", ".shmap-x", "x" * 256, "sysv://zz",
                                 "file:", b"a/b"])
def test_names__check_name_refuses_with_the_library_reason(bad):
    """The reason the command gives for the name (after its 'shmap: NAME: ')."""
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.check_name(bad)
    assert exc.value.code == shmap.EBADNAME and exc.value.errname == "SHMAP_EBADNAME"
    cli = subprocess.run([shmap_bin(), "info", os.fsdecode(bad)], capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 2  # bad usage
    line = cli.stderr.splitlines()[0]
    assert line.endswith(" (see shmap help info)")
    reason = line[:-len(" (see shmap help info)")].rsplit(": ", 1)[-1]
    assert reason and reason in str(exc.value)


def test_names__check_name_refuses_what_never_reaches_the_library():
    """A NUL, a name too long for any buffer and a str with no bytes: ArgumentError too, since
    check_name() answers whether a name is valid; a wrong type stays a TypeError."""
    for bad in ("a\0b", b"a\0b", "\ud800", b"file:/" + b"x" * 5000):
        with pytest.raises(shmap.ArgumentError) as exc:
            shmap.check_name(bad)
        assert exc.value.code == shmap.EBADNAME
    for bad in (3, None, bytearray(b"x")):
        with pytest.raises(TypeError, match="name must be a str or bytes"):
            shmap.check_name(bad)
