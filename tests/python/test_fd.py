"""Segments shared through a file descriptor: Segment.fileno() and shmap.open_fd(), which is how
a memfd segment (no name) reaches another process."""
import errno
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import shmap
from conftest import python_env, run_python


def run_with_fd(code, fd):
    """Run Python code in a child that inherits descriptor `fd` (its number is sys.argv[1]),
    as subprocess's pass_fds gives it."""
    proc = subprocess.run([sys.executable, "-c", code, str(fd)], pass_fds=[fd],
                          capture_output=True, text=True, timeout=60, env=python_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_fd__memfd_segment_passed_to_a_child():
    """The creator passes fileno() to a child, which attaches it with open_fd(), reads what
    was written, and (read-write) writes and publishes back."""
    with shmap.create("memfd:frames", (3, 4), "f4", keywords={"EXPTIME": (1.5, "s")}) as seg:
        assert seg.store == "memfd" and seg.name == "memfd:frames"
        seg.array[:] = np.arange(12).reshape(3, 4)
        seg.publish()
        fd = seg.fileno()
        assert isinstance(fd, int) and fd >= 0 and fd == seg.fileno()
        assert os.get_inheritable(fd) is False  # close-on-exec: only pass_fds hands it over
        out = run_with_fd(
            "import shmap, sys\n"
            "seg = shmap.open_fd(int(sys.argv[1]))\n"
            "print(seg.name, seg.store, seg.readonly, seg.dtype, seg.shape, seg.generation)\n"
            "print(int(seg.array.sum()), dict(seg.keywords), seg.keywords.comment('EXPTIME'))\n"
            "rw = shmap.open_fd(int(sys.argv[1]), readonly=False)\n"
            "rw.array[2, 3] = -1\n"
            "rw.keywords['BY'] = 'child'\n"
            "rw.publish()\n", fd)
        assert out == ["memfd:frames memfd True float32 (3, 4) 1",
                       "66 {'EXPTIME': 1.5} s"]
        assert seg.array[2, 3] == -1 and seg.generation == 2
        assert seg.keywords["BY"] == "child"


def test_fd__open_fd_in_this_process():
    with shmap.create("memfd:", 8, "u1") as seg:
        seg.array[:] = range(8)
        with shmap.open_fd(seg.fileno()) as ro:
            assert ro.readonly and not ro.array.flags.writeable
            assert list(ro.array) == list(range(8))
        with shmap.open_fd(seg, readonly=False) as rw:  # an object with fileno()
            rw.array[0] = 42
        assert seg.array[0] == 42
        with shmap.open_fd(seg.fileno(), private=True) as cow:  # copy-on-write
            assert cow.private and cow.array.flags.writeable
            cow.array[1] = 99
        assert seg.array[1] == 1
        dup = os.dup(seg.fileno())  # the caller's own copy, closed when it likes
        try:
            with shmap.open_fd(dup) as again:
                os.close(dup)  # the Segment duplicated it: its memory stays
                dup = -1
                assert again.array[0] == 42
        finally:
            if dup >= 0:
                os.close(dup)


def test_fd__open_fd_of_a_file(tmp_path):
    path = tmp_path / "seg"
    with shmap.create("file:%s" % path, 4, "i2", keep=True) as seg:
        seg.array[:] = [1, -2, 3, -4]
    fd = os.open(path, os.O_RDONLY)
    try:
        with shmap.open_fd(fd) as seg:
            assert seg.name == "file:%s" % path and seg.store == "file"
            assert list(seg.array) == [1, -2, 3, -4]
            assert seg.fileno() >= 0 and seg.fileno() != fd  # a duplicate, its own
        with pytest.raises(PermissionError):
            shmap.open_fd(fd, readonly=False)  # opened O_RDONLY
    finally:
        os.close(fd)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("hold", [False, True])
def test_fd__fileno_of_open_fd_when_the_file_is_mapped_by_name(tmp_path, hold):
    """open_fd() of a file this process already maps by name gives another reference to that
    mapping, which keeps no descriptor: the Segment keeps a duplicate of the one it was
    given, so that fileno() works as documented, and closes it at close()."""
    path = tmp_path / "seg"
    before = open_fds()
    with shmap.create("file:%s" % path, 2, "f4") as seg:
        seg.array[:] = [1.5, 2.5]
        fd = os.open(path, os.O_RDWR)
        try:
            g = shmap.open_fd(fd, readonly=False, hold=hold)
        finally:
            os.close(fd)  # the caller's: the Segment keeps its own
        with g:
            n = g.fileno()
            assert n >= 0 and n == g.fileno()
            assert os.fstat(n).st_ino == os.stat(path).st_ino
            assert os.get_inheritable(n) is False  # close-on-exec, as a memfd's
            with shmap.open_fd(n) as again:  # and it attaches as documented
                assert list(again.array) == [1.5, 2.5]
            d = g.dup()
            assert os.fstat(d.fileno()).st_ino == os.stat(path).st_ino
            d.close()
            with pytest.raises(io.UnsupportedOperation):
                seg.fileno()  # opened by name: none, as before
        with pytest.raises(ValueError, match="closed"):
            g.fileno()
    assert open_fds() == before


def test_fd__hold_through_a_descriptor():
    with shmap.create("memfd:", 4, "u1") as seg:
        with shmap.open_fd(seg.fileno(), readonly=False, hold=True, timeout=5) as held:
            assert held.held and held.locked
            with pytest.raises(BlockingIOError) as exc:
                shmap.open_fd(seg.fileno(), hold=True, timeout=0)
            assert "descriptor %d" % seg.fileno() in str(exc.value)
        with shmap.open_fd(seg.fileno(), hold=True, timeout=0) as held:
            assert held.held


def test_fd__stores_without_a_descriptor(name, sysv_names, tmp_path):
    """POSIX, System V and file segments opened by name keep no descriptor: fileno() raises
    io.UnsupportedOperation, as a file object without one does, with the library's code."""
    made = [shmap.create(name, 1, "u1")]
    try:
        made.append(shmap.create(sysv_names(), 1, "u1"))
    except PermissionError:
        pass  # no System V shared memory here
    made.append(shmap.create("file:%s" % (tmp_path / "seg"), 1, "u1"))
    try:
        for seg in made:
            with pytest.raises(io.UnsupportedOperation) as exc:
                seg.fileno()
            e = exc.value
            assert isinstance(e, OSError) and isinstance(e, ValueError)
            assert e.code == shmap.ESTORE and e.errname == "SHMAP_ESTORE"
            assert str(e).startswith(seg.name + ": ") and "shmap.open_fd()" in str(e)
    finally:
        for seg in made:
            seg.close()
    with pytest.raises(ValueError, match="closed"):
        made[0].fileno()


def test_fd__bad_descriptors(tmp_path):
    with pytest.raises(OSError) as exc:
        shmap.open_fd(1 << 20)  # not open
    assert exc.value.errno == errno.EBADF
    r, w = os.pipe()
    try:
        with pytest.raises(shmap.Error) as exc:
            shmap.open_fd(r)
        assert exc.value.errno == errno.EINVAL and "descriptor %d" % r in str(exc.value)
    finally:
        os.close(r)
        os.close(w)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x5a" * 8192)
    with open(junk, "rb") as f:
        with pytest.raises(shmap.Error) as exc:
            shmap.open_fd(f)
        assert exc.value.code == shmap.EFORMAT
    for bad in ("3", 2.0, None):
        with pytest.raises(TypeError):
            shmap.open_fd(bad)
    with pytest.raises(ValueError):
        shmap.open_fd(-1)
    with pytest.raises(TypeError):
        shmap.open_fd(0, timeout=1)  # a timeout without hold
    with pytest.raises(ValueError):
        shmap.open_fd(0, readonly=True, private=True)


def test_fd__fork_child_attaches_through_the_descriptor():
    """A child made by fork() inherits the descriptor: the way SPEC names for memfd."""
    out = run_python(
        "import os, shmap\n"
        "seg = shmap.create('memfd:', 4, 'u4')\n"
        "seg.array[:] = [7, 8, 9, 10]\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    child = shmap.open_fd(seg.fileno(), readonly=False)\n"
        "    child.array[0] = int(child.array.sum())\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(list(seg.array))\n")
    assert out.stdout.strip() == "[34, 8, 9, 10]"


def test_fd__documented():
    assert "pass_fds" in shmap.Segment.fileno.__doc__
    assert "UnsupportedOperation" in shmap.Segment.fileno.__doc__
    doc = shmap.open_fd.__doc__
    for word in ("memfd", "pass_fds", "readonly", "private", "hold", "timeout", "EBADF"):
        assert word in doc, word
    assert "open_fd" in shmap.__doc__ and "'memfd:'" in shmap.create.__doc__


def test_fd__a_memfd_segment_refuses_to_pickle():
    """It has no name to open it again by: pickling fails at once, saying to pass the
    descriptor, rather than in the process that loads the pickle."""
    with shmap.create("memfd:frames", 4, "u1") as seg:
        with pytest.raises(TypeError, match=r"memfd segment 'memfd:frames'.*fileno\(\).*"
                                            r"shmap\.open_fd\(fd\)"):
            pickle.dumps(seg)
        with shmap.open_fd(seg.fileno()) as again:  # opened by descriptor: the same
            with pytest.raises(TypeError, match="open_fd"):
                pickle.dumps(again)
    with pytest.raises(TypeError, match="memfd"):  # closed, still no name
        pickle.dumps(seg)
