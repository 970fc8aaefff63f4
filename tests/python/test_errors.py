"""Library failures become the right exceptions, carrying the code and a message naming the
segment."""
import copy
import errno
import os
import pickle
import re

import pytest

import shmap
from conftest import REPO, run_cli, run_python, run_python_as_nobody


def test_errors__survive_a_pickle_whole():
    """A pool of processes returns an exception pickled: its class, message, code, errname
    and errno come back, the library's own codes as the system's."""
    for call in (lambda: shmap.parse_dtype("zz"), lambda: shmap.open("no-such-segment-x")):
        with pytest.raises(OSError) as exc:
            call()
        e = exc.value
        # Once, twice (to a worker and back), and from a copy.
        once = pickle.loads(pickle.dumps(e))
        twice = pickle.loads(pickle.dumps(once))
        for back in (once, twice, pickle.loads(pickle.dumps(copy.copy(e)))):
            assert type(back) is type(e) and str(back) == str(e) and back.args == e.args
            assert (back.errno, back.code, back.errname) == (e.errno, e.code, e.errname)
    assert e.errno == errno.ENOENT


def test_errors__every_shmap_exception_is_raised_with_its_code():
    """The docs promise code, errname and errno on every shmap.Error, so the binding raises
    its classes only through raise_msg() (raise_text(), raise_as(), raise_fmt()), never with
    a bare PyErr_Format() or PyErr_SetString(), which would leave them out. Some such sites
    cannot be reached from Python (a record field list the library already checked, read
    back wrong): the source is checked for all of them."""
    with open(os.path.join(REPO, "python", "shmapmodule.c")) as f:
        source = f.read()
    classes = "Error|DtypeError|ArgumentError|OutOfMemoryError|ReadOnlyError"
    bare = re.findall(r"PyErr_(?:Format|SetString|SetObject|SetNone)\(\s*(?:%s)\b" % classes,
                      source)
    assert bare == []


def test_errors__hierarchy():
    assert issubclass(shmap.Error, OSError)
    assert issubclass(shmap.DtypeError, shmap.Error) and issubclass(shmap.DtypeError, TypeError)
    assert issubclass(shmap.ArgumentError, shmap.Error)
    assert issubclass(shmap.ArgumentError, ValueError)
    assert shmap.EPENDING == -30013
    assert shmap.EFORMAT == -30003
    assert shmap.EBADNAME == -30001


def test_errors__not_found(name):
    with pytest.raises(FileNotFoundError) as exc:
        shmap.open(name)
    e = exc.value
    assert e.errno == errno.ENOENT
    assert e.code == -errno.ENOENT
    assert e.errname == "ENOENT"
    assert name in str(e)
    for fn in (shmap.info, shmap.delete):
        with pytest.raises(FileNotFoundError, match=name):
            fn(name)


def test_errors__name_given_with_a_prefix_is_named_once(name):
    with pytest.raises(FileNotFoundError) as exc:
        shmap.open("shm://" + name)
    assert str(exc.value).count(name) == 1


def test_errors__exists(name):
    with shmap.create(name, 1, "u1"):
        with pytest.raises(FileExistsError) as exc:
            shmap.create(name, 1, "u1")
        assert exc.value.errno == errno.EEXIST and exc.value.errname == "EEXIST"
        assert name in str(exc.value)


@pytest.mark.parametrize("bad", ["", "a/b", ".", "..", ".shmap-x", "x" * 300, "a\x01b"])
def test_errors__bad_names(bad):
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.open(bad)
    assert isinstance(exc.value, ValueError)
    assert exc.value.code == shmap.EBADNAME
    assert exc.value.errno == shmap.EBADNAME
    assert exc.value.errname == "SHMAP_EBADNAME"
    assert str(exc.value)
    # A name too long is quoted cut short, once: not put whole in front besides.
    assert len(str(exc.value)) < 200


def test_errors__argument_types():
    with pytest.raises(TypeError):
        shmap.open(bytearray(b"name"))  # names are str or bytes (see test_names.py)
    with pytest.raises(TypeError):
        shmap.open(3)
    with pytest.raises(ValueError):
        shmap.open("a\0b")
    with pytest.raises(TypeError):
        shmap.create("x", 1)
    with pytest.raises(TypeError):
        shmap.delete("x", 1.0)  # timeout and force are keyword-only
    with pytest.raises(TypeError):
        shmap.open("x", True, "f4")  # so are the raw options
    for bad in (-1, float("nan"), "1"):
        with pytest.raises((TypeError, ValueError)):
            shmap.delete("x", timeout=bad)


def test_errors__unknown_store():
    with pytest.raises(shmap.Error) as exc:
        shmap.open("nosuchstore://frames")
    assert exc.value.code == shmap.EBADNAME
    assert "nosuchstore://" in str(exc.value)


def test_errors__not_a_segment(foreign):
    junk = foreign(b"\x5a" * 8192)
    with pytest.raises(shmap.Error) as exc:
        shmap.open(junk)
    assert type(exc.value) is shmap.Error
    assert exc.value.code == shmap.EFORMAT
    assert junk in str(exc.value)
    tiny = foreign(b"x")
    with pytest.raises(shmap.Error) as exc:
        shmap.info(tiny)
    assert exc.value.code in (shmap.EFORMAT, shmap.ETRUNCATED)


def test_errors__corrupt_header(name):
    shmap.create(name, 16, "u1", keep=True).close()
    path = "/dev/shm/" + name
    with open(path, "r+b") as f:  # change a field the checksum covers
        raw = bytearray(f.read(4096))
        for off in range(8, 64, 4):
            raw[off] ^= 0xFF
        f.seek(0)
        f.write(raw)
    with pytest.raises(shmap.Error) as exc:
        shmap.open(name)
    assert exc.value.code < -30000
    assert name in str(exc.value)


def test_errors__pending(name):
    with shmap.create(name, 4, "u1") as seg:
        with shmap.open(name) as ro:
            a = ro.array
            ro.unmap()
            with pytest.raises(shmap.Error) as exc:
                shmap.open(name)
            assert exc.value.code == shmap.EPENDING
            assert exc.value.errname == "SHMAP_EPENDING"
            assert name in str(exc.value)
            del a
        assert seg.array[0] == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_errors__permission_denied(name):
    """A user without permission to a 0600 segment gets PermissionError."""
    shmap.create(name, 1, "u1", keep=True, mode=0o600).close()
    code = (
        "import shmap, sys\n"
        "for fn in (shmap.open, shmap.info):\n"
        "    try:\n"
        "        fn(%r)\n"
        "    except PermissionError as e:\n"
        "        assert e.code == -13 and e.errname == 'EACCES' and %r in str(e), e\n"
        "    else:\n"
        "        sys.exit('no PermissionError from ' + fn.__name__)\n"
        "print('ok')\n" % (name, name))
    proc = run_python_as_nobody(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_errors__keyword_full_is_shmap_error(name):
    with shmap.create(name, 1, "u1", keyword_capacity=1, keywords={"A": 1}) as seg:
        with pytest.raises(shmap.Error) as exc:
            seg.keywords["B"] = 2
        assert type(exc.value) is shmap.Error
        assert exc.value.code == shmap.EKEYFULL
        assert name in str(exc.value)


def test_errors__message_survives_other_threads(name):
    """The detail message is read in the thread that failed, not another's."""
    out = run_python(
        "import shmap, threading\n"
        "msgs = []\n"
        "def f(n):\n"
        "    for _ in range(200):\n"
        "        try:\n"
        "            shmap.open(n)\n"
        "        except FileNotFoundError as e:\n"
        "            msgs.append((n, str(e)))\n"
        "ts = [threading.Thread(target=f, args=('%s-%%d' %% i,)) for i in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "assert all(n in m for n, m in msgs) and len(msgs) == 800, msgs[:3]\n"
        "print('ok')\n" % name)
    assert out.stdout.strip() == "ok"


def _meminfo_bytes(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def test_errors__out_of_memory_carries_the_message(sysv_names):
    """A System V segment larger than memory and swap is ENOMEM, refused before shmget: an
    OSError with errno and the library's message (the CLI's), and still a MemoryError."""
    with open("/proc/sys/vm/overcommit_memory") as f:
        if f.read().strip() == "1":
            pytest.skip("overcommit_memory=1: shmget would accept it, and touching it would "
                        "call the OOM killer")
    name = sysv_names()
    n = (_meminfo_bytes("MemTotal") + _meminfo_bytes("SwapTotal")) // 2  # f4: twice that
    try:
        with pytest.raises(MemoryError) as exc:
            shmap.create(name, n, "f4")
    except PermissionError:
        pytest.skip("no System V shared memory here")
    e = exc.value
    assert isinstance(e, shmap.Error) and isinstance(e, OSError)
    assert type(e) is shmap.OutOfMemoryError
    assert e.errno == errno.ENOMEM and e.code == -errno.ENOMEM and e.errname == "ENOMEM"
    cli = run_cli("create", name, "f4", str(n), check=False)
    assert cli.returncode == 1
    # The same message, but for the memory available, which moves between the two.
    def steady(text):
        return re.sub(r"\d+ available", "N available", text)
    assert steady(cli.stderr.strip()) == steady("shmap: " + e.strerror)
    assert e.strerror.startswith(name + ": ")
    assert str(e) == "[Errno %d] %s" % (errno.ENOMEM, e.strerror)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)  # nothing was left behind


def test_errors__out_of_memory_is_documented():
    assert issubclass(shmap.OutOfMemoryError, shmap.Error)
    assert issubclass(shmap.OutOfMemoryError, MemoryError)
    assert "ENOMEM" in shmap.OutOfMemoryError.__doc__
    assert "OutOfMemoryError" in shmap.__doc__ and "OutOfMemoryError" in shmap.create.__doc__


def test_errors__writes_through_a_read_only_segment_are_permission_errors(name):
    """EREADONLY is a PermissionError (and still a shmap.Error): through a read-only Segment
    of a segment this user may write, the message says it is the handle, and how to open
    one that writes."""
    with shmap.create(name, 2, "u1", keywords={"A": 1}) as seg, shmap.open(name) as ro:
        for what, call in (("publish", ro.publish), ("write_begin", ro.write_begin),
                           ("set a keyword", lambda: ro.keywords.__setitem__("B", 2)),
                           ("delete a keyword", lambda: ro.keywords.__delitem__("A")),
                           ("clear keywords", ro.keywords.clear)):
            with pytest.raises(PermissionError) as exc:
                call()
            e = exc.value
            assert type(e) is shmap.ReadOnlyError and isinstance(e, shmap.Error), what
            assert e.code == e.errno == shmap.EREADONLY and e.errname == "SHMAP_EREADONLY"
            assert str(e).startswith(name + ": ") and "read-only" in str(e), what
            assert str(e).endswith("(this Segment was opened read-only: open the segment "
                                   "with readonly=False to write it)"), what
        with ro.lock(timeout=5):  # this user may write it: a read-only Segment locks
            pass
        assert dict(seg.keywords) == {"A": 1} and seg.generation == 0


def test_errors__read_only_error_documented():
    assert issubclass(shmap.ReadOnlyError, shmap.Error)
    assert issubclass(shmap.ReadOnlyError, PermissionError)
    doc = shmap.ReadOnlyError.__doc__
    assert "EREADONLY" in doc and "readonly=False" in doc and "why" in doc.lower()
    assert "ReadOnlyError" in shmap.__doc__ and "ReadOnlyError" in shmap.Segment.lock.__doc__


NUL_NAME = "pyt-a\0b"
NAME_CALLS = {
    "open": lambda n: shmap.open(n),
    "open raw": lambda n: shmap.open(n, dtype="u1", shape=1),
    "open hold": lambda n: shmap.open(n, hold=True, timeout=0),
    "open template": lambda n: shmap.open("pyt-x", template=n),
    "create": lambda n: shmap.create(n, 1, "u1"),
    "delete": lambda n: shmap.delete(n),
    "delete force": lambda n: shmap.delete(n, force=True),
    "info": lambda n: shmap.info(n),
    "info raw": lambda n: shmap.info(n, dtype="u1", shape=1),
    "perm": lambda n: shmap.perm(n),
    "chmod": lambda n: shmap.chmod(n, 0o600),
    "chown": lambda n: shmap.chown(n, -1, -1),
    "check_name": lambda n: shmap.check_name(n),
    "unique_name": lambda n: shmap.unique_name(n),
    "gc": lambda n: shmap.gc(n, dry_run=True),
}


@pytest.mark.parametrize("call", sorted(NAME_CALLS))
@pytest.mark.parametrize("bad", [NUL_NAME, os.fsencode(NUL_NAME)])
def test_errors__a_nul_in_a_name_is_an_argument_error_everywhere(call, bad):
    """As the docs promise and check_name() always did: shmap.ArgumentError (a ValueError and
    a shmap.Error), code EBADNAME, from every function that takes a name."""
    with pytest.raises(shmap.ArgumentError) as exc:
        NAME_CALLS[call](bad)
    e = exc.value
    assert isinstance(e, ValueError) and isinstance(e, shmap.Error)
    assert e.code == e.errno == shmap.EBADNAME and e.errname == "SHMAP_EBADNAME"
    assert "NUL" in str(e)


SHAPE_CALLS = {
    "create": lambda n, shape: shmap.create(n, shape, "u1"),
    "open raw": lambda n, shape: shmap.open(n, dtype="u1", shape=shape),
    "info raw": lambda n, shape: shmap.info(n, dtype="u1", shape=shape),
}


@pytest.mark.parametrize("call", sorted(SHAPE_CALLS))
@pytest.mark.parametrize("shape,text", [
    ((), "shape has 0 dimensions: 1 to 8 are allowed"),
    ((1,) * 9, "shape has 9 dimensions: 1 to 8 are allowed"),
    (-1, "shape[0] is out of range (dimensions are 1 to 2**64-1)"),
    ((2, 2 ** 64), "shape[1] is out of range (dimensions are 1 to 2**64-1)"),
    (0, "dimension 0 is zero"),
])
def test_errors__a_bad_shape_is_an_argument_error_everywhere(name, call, shape, text):
    with pytest.raises(shmap.ArgumentError) as exc:
        SHAPE_CALLS[call](name, shape)
    e = exc.value
    assert isinstance(e, ValueError) and isinstance(e, shmap.Error)
    assert e.code == e.errno == shmap.ESHAPE and e.errname == "SHMAP_ESHAPE"
    assert text in str(e)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


C_NAMES = ("shmap_fd", "shmap_open_fd", "shmap_lock_holders", "(2)")


def test_errors__a_memfd_label_too_long_is_named_once():
    """The library quotes a memfd label over 200 bytes cut to its first 40 bytes and '...';
    the message is that, not the whole name put in front of it besides."""
    for name in ("memfd:" + "a" * 201, "memfd:" + "b" * 250 + "/x"):
        for call in (lambda n: shmap.create(n, 4, "f4"), shmap.check_name):
            with pytest.raises(shmap.ArgumentError) as exc:
                call(name)
            msg = str(exc.value)
            assert exc.value.code == shmap.EBADNAME
            assert msg == ("'%s...': a memfd label is at most 200 bytes with no '/'"
                           % name[:40]), msg


def test_errors__messages_speak_python_and_give_the_name_as_given(tmp_path):
    """Messages name the Python calls to use, never the C library's functions, and the name
    as the user gave it ('memfd:', not the library's default label)."""
    for name in ("memfd:", "memfd:frames"):
        for call in (shmap.open, shmap.info, shmap.delete):
            with pytest.raises(shmap.Error) as exc:
                call(name)
            msg = str(exc.value)
            assert not any(c in msg for c in C_NAMES), msg
            assert "memfd:shmap" not in msg and name in msg, msg
            assert "seg.fileno()" in msg and "shmap.open_fd()" in msg, msg
        for call in (shmap.perm, lambda n: shmap.chmod(n, 0o600)):
            with pytest.raises(shmap.Error) as exc:
                call(name)
            msg = str(exc.value)
            assert not any(c in msg for c in C_NAMES), msg
            assert "memfd:shmap" not in msg and name in msg, msg
            assert "os.fchmod()" in msg and "seg.fileno()" in msg, msg
    with pytest.raises(shmap.Error) as exc:
        shmap.open("memfd:")
    assert str(exc.value).startswith("'memfd:': ")
    path = tmp_path / "plain"
    path.write_bytes(b"x" * 16)
    with shmap.open("file:%s" % path, dtype="u1", shape=16) as raw:
        with pytest.raises(shmap.Error) as exc:
            raw.lock_holders()
        assert exc.value.code == shmap.ERAW
        assert str(exc.value) == ("file:%s: raw mapping has no header: lock_holders() needs "
                                  "a described segment" % path)
    fd = os.open(path, os.O_RDONLY)
    os.close(fd)  # a descriptor that is not open
    with pytest.raises(OSError) as exc:
        shmap.open_fd(fd)
    assert exc.value.errno == errno.EBADF
    assert str(exc.value) == ("[Errno 9] shmap.open_fd(): descriptor %d: Bad file descriptor"
                              % fd)


def test_errors__messages_escape_what_would_break_a_line_or_a_terminal(name):
    """Control characters and undecodable bytes in a name are spelled in the message as
    repr() spells them, so printing one never moves the cursor or fails."""
    for bad in ("x\n", "a\x1b[31m", "b\x07\t"):
        with pytest.raises(shmap.ArgumentError) as exc:
            shmap.open(bad)
        assert repr(bad)[1:-1] in str(exc.value)
        assert str(exc.value).isprintable()
    # What else repr() escapes: a line separator, a no-break space, a format character.
    for odd in ("\u2028", "\xa0", "\u200b", "\U000e0001"):
        with pytest.raises(FileNotFoundError) as exc:
            shmap.open(name + odd)
        assert name + repr(odd)[1:-1] + ": no such segment" in str(exc.value)
        assert str(exc.value).isprintable()
    odd = name + os.fsdecode(b"\xff\xfe")
    with pytest.raises(FileNotFoundError) as exc:
        shmap.open(odd)
    assert name + "\\udcff\\udcfe: no such segment" in str(exc.value)
    str(exc.value).encode("utf-8")  # no lone surrogate left to fail on
    # Messages the binding makes itself too.
    with shmap.create(odd, 4, "u1") as seg:
        pass
    with pytest.raises(ValueError) as exc:
        seg.array
    assert repr(odd) in str(exc.value) and str(exc.value).isprintable()
