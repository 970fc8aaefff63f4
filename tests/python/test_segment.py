"""Segment objects: attributes, create options, open modes, read-only arrays, publish."""
import inspect
import os
import pickle
import sys
import threading
import time

import numpy as np
import pytest

import shmap
from conftest import run_cli, run_python


def test_segment__attributes(name):
    with shmap.create(name, (3, 4), "f8") as seg:
        assert seg.name == name
        assert seg.dtype == np.float64
        assert seg.shape == (3, 4)
        assert seg.ndim == 2
        assert seg.nbytes == 96
        assert seg.store == "posix"
        assert seg.os_handle == "/" + name
        assert seg.generation == 0
        assert seg.readonly is False
        assert seg.closed is False
        assert repr(seg) == ("<shmap.Segment '%s' dtype=dtype('float64') shape=(3, 4) "
                             "read-write>" % name)
    assert seg.closed is True
    assert repr(seg) == "<shmap.Segment '%s' closed>" % name
    assert seg.name == name and seg.shape == (3, 4)  # the description stays


def test_segment__cannot_be_instantiated():
    with pytest.raises(TypeError):
        shmap.Segment()


def test_segment__array_is_zero_copy(name):
    with shmap.create(name, (2, 3), "i4") as seg:
        a = seg.array
        b = seg.array
        assert a is not b
        assert np.shares_memory(a, b)
        assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
        assert not a.flags.owndata
        a[1, 2] = 42
        assert b[1, 2] == 42
        with shmap.open(name) as other:
            assert other.array[1, 2] == 42
        with shmap.open(name, readonly=False) as rw:
            rw.array[0, 0] = -7
        assert a[0, 0] == -7


@pytest.mark.parametrize("form", ["{}", "/{}", "shm://{}", "shmem://{}", "shm:///{}"])
def test_segment__name_forms(name, form):
    with shmap.create(name, 1, "u1", keep=True) as seg:
        seg.array[0] = 9
    with shmap.open(form.format(name)) as seg:
        assert seg.name == name
        assert seg.os_handle == "/" + name
        assert seg.array[0] == 9


def test_segment__readonly_array_refuses_writes(name):
    shmap.create(name, (2, 2), "f4", keep=True).close()
    with shmap.open(name) as ro:
        assert ro.readonly is True
        assert repr(ro).endswith("read-only>")
        a = ro.array
        assert not a.flags.writeable
        with pytest.raises(ValueError, match="assignment destination is read-only"):
            a[0, 0] = 1.0
        with pytest.raises(ValueError, match="read-only"):
            a += 1
        with pytest.raises(ValueError):
            a.flags.writeable = True
        with pytest.raises(ValueError, match="read-only"):
            np.asarray(ro)[0, 0] = 1


def test_segment__readonly_by_default_readwrite_on_request(name):
    shmap.create(name, 3, "u2", keep=True).close()
    with shmap.open(name) as ro, shmap.open(name, readonly=False) as rw:
        assert ro.readonly and not rw.readonly
        rw.array[:] = [1, 2, 3]
        assert list(ro.array) == [1, 2, 3]
    # None is the default, as a wrapper that passes its own None on means it.
    with shmap.open(name, readonly=None) as seg:
        assert seg.readonly


def test_segment__publish_bumps_generation(name):
    with shmap.create(name, 1, "u1") as seg, shmap.open(name) as ro:
        assert seg.generation == 0
        seg.publish()
        seg.publish()
        assert seg.generation == 2
        assert ro.generation == 2
        assert shmap.info(name)["generation"] == 2
        with pytest.raises(shmap.Error) as exc:
            ro.publish()
        assert exc.value.code == shmap.EREADONLY


def test_segment__context_manager_closes(name):
    with shmap.create(name, 1, "u1", keep=True) as seg:
        assert not seg.closed
    assert seg.closed
    with pytest.raises(ValueError, match="closed"):
        seg.array
    seg.close()  # closing again does nothing


def test_segment__closed_refuses_everything(name):
    seg = shmap.create(name, 2, "u1")
    seg.close()
    for attr in ("array", "info", "generation", "os_handle", "store"):
        with pytest.raises(ValueError, match="closed"):
            getattr(seg, attr)
    with pytest.raises(ValueError, match="closed"):
        seg.publish()
    with pytest.raises(ValueError, match="closed"):
        memoryview(seg)
    with pytest.raises(ValueError, match="closed"):
        seg.keywords["A"] = 1
    with pytest.raises(ValueError, match="closed"):
        with seg:
            pass


def test_segment__pickles_as_a_reference(name):
    with shmap.create(name, 2, "i2", keep=True) as seg:
        seg.array[:] = [5, 6]
        copy = pickle.loads(pickle.dumps(seg))
        assert copy is not seg
        assert copy.name == name and copy.readonly is False
        assert list(copy.array) == [5, 6]
        copy.close()
    with shmap.open(name) as ro:
        copy = pickle.loads(pickle.dumps(ro))
        assert copy.readonly is True
        copy.close()


def test_segment__a_closed_segment_refuses_to_pickle(name):
    """A closed Segment is refused, as dup() refuses it: its pickle would open whatever
    holds the name by then (it did, silently)."""
    seg = shmap.create(name, 2, "i2", keep=True)
    seg.close()
    with pytest.raises(ValueError, match="segment '%s' is closed" % name):
        pickle.dumps(seg)


# ---------------------------------------------------------------------------------------
# create() options


def test_create__exclusive_by_default(name):
    with shmap.create(name, 1, "u1"):
        with pytest.raises(FileExistsError) as exc:
            shmap.create(name, 1, "u1")
        assert name in str(exc.value)


def test_create__exist_ok_opens_a_matching_segment(name):
    with shmap.create(name, (2, 2), "f4") as seg:
        seg.array[:] = 3
        with shmap.create(name, (2, 2), "float32", exist_ok=True) as again:
            assert again.array[1, 1] == 3
            assert not again.readonly
        with pytest.raises(shmap.Error) as exc:
            shmap.create(name, (2, 3), "f4", exist_ok=True)
        assert exc.value.code == shmap.EMISMATCH
        assert exc.value.errname == "SHMAP_EMISMATCH"


def test_create__exist_ok_sets_its_keywords_all_or_none(name, child):
    """The segment exist_ok finds (made by another process) gets the keywords set on it; a
    value without a comment keeps the keyword's comment. When they do not all fit, none is
    set, as `shmap create --exist-ok` does."""
    proc = child("import shmap\n"
                 "shmap.create(%r, 4, 'u1', keep=True,\n"
                 "             keywords={'A': (1, 'first'), 'KEEP': 'x'}).close()\n" % name)
    assert proc.wait(30) == 0
    try:
        with shmap.create(name, 4, "u1", exist_ok=True,
                          keywords={"A": 2, "B": (3, "bee")}) as seg:
            assert not seg.created
            kw = seg.keywords
            assert dict(kw) == {"A": 2, "KEEP": "x", "B": 3}
            assert kw.comments() == {"A": "first", "B": "bee"}
            room = seg.info["keyword_capacity"] - len(kw)
            kw.update({"FILL%d" % i: i for i in range(room - 1)})
            with pytest.raises(shmap.Error) as exc:
                shmap.create(name, 4, "u1", exist_ok=True,
                             keywords={"A": 5, "N1": 1, "N2": 2})
            assert "slot" in str(exc.value)
            assert kw["A"] == 2 and "N1" not in kw and "N2" not in kw
    finally:
        shmap.delete(name)


def test_create__created_tells_the_outcomes_of_exist_ok(name, names):
    """created says whether this process made the segment, where creator_pid cannot: a
    segment this process made, let go of and opened again has its pid as creator."""
    with shmap.create(name, 4, "u1", exist_ok=True, keep=True) as seg:
        assert seg.created is True
        with shmap.open(name, readonly=False) as same:  # the creator's mapping, shared
            assert same.created is True
        with shmap.open(name) as ro:  # a mapping of its own, opened
            assert ro.created is False
        with shmap.open(name, dtype="u1", shape=4) as raw:
            assert raw.created is False
    assert seg.created is True  # stays after close
    with shmap.create(name, 4, "u1", exist_ok=True) as again:
        assert again.created is False
        assert again.info["creator_pid"] == os.getpid()
    other = names()
    run_cli("create", other, "u1", "4")
    with shmap.create(other, 4, "u1", exist_ok=True) as seg:
        assert seg.created is False
    with shmap.create("memfd:", 4, "u1") as anon:
        assert anon.created is True
    assert "exist_ok" in shmap.Segment.created.__doc__


def test_create__created_is_the_mappings_for_exist_ok_in_the_creating_process(name):
    """An exist_ok create() of a segment this process made and still maps read-write shares
    that mapping, and with it created (True): the docs say so where they offer created to
    tell exist_ok's outcomes apart."""
    with shmap.create(name, 4, "u1") as seg:
        with shmap.create(name, 4, "u1", exist_ok=True) as again:
            assert again.created is True
    for doc in (shmap.Segment.created.__doc__, shmap.create.__doc__):
        assert "still maps it read-write" in doc, doc


def test_create__replace(name):
    with shmap.create(name, 1, "u1", keep=True) as old:
        old.array[0] = 1
        with shmap.create(name, 4, "f8", replace=True, keep=True) as new:
            assert new.shape == (4,)
        assert old.array[0] == 1  # the old memory stays for who maps it
    with shmap.open(name) as seg:
        assert seg.dtype == np.float64 and seg.shape == (4,)


def test_create__replace_refuses_what_is_not_a_segment(name):
    """replace=True replaces segments: another program's object under the name stays."""
    path = "/dev/shm/" + name
    with open(path, "wb") as f:
        f.write(b"not ours")
    try:
        with pytest.raises(shmap.Error) as exc:
            shmap.create(name, 4, "u1", replace=True)
        assert exc.value.code == shmap.EFORMAT
        assert "not a shmap segment: refusing to replace it" in str(exc.value)
        with open(path, "rb") as f:
            assert f.read() == b"not ours"
    finally:
        os.unlink(path)


def test_create__replace_and_exist_ok_exclude_each_other(name):
    with pytest.raises(ValueError):
        shmap.create(name, 1, "u1", replace=True, exist_ok=True)


def test_create__mode(name, names):
    with shmap.create(name, 1, "u1", mode=0o640):
        assert shmap.info(name)["mode"] == "0640"
    other = names()
    with shmap.create(other, 1, "u1"):
        assert shmap.info(other)["mode"] == "0600"
    for bad, text in ((-1, "-0o1"), (0o10000, "0o10000"), (2**70, oct(2**70))):
        with pytest.raises(shmap.ArgumentError) as exc:
            shmap.create(name, 1, "u1", mode=bad)
        assert str(exc.value) == ("mode=%s is not a set of permission bits (0o1 to 0o777: "
                                  "set-user-id, set-group-id and sticky bits cannot be set)"
                                  % text)
    for bad in ("0600", 0.5):
        with pytest.raises(TypeError, match="mode must be an int"):
            shmap.create(name, 1, "u1", mode=bad)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


@pytest.mark.parametrize("bad", [0o4777, 0o2755, 0o1777, 0o1000, 0o7777, 0o4000])
def test_create__mode_refuses_set_id_and_sticky_bits(name, bad):
    """As `shmap create --mode` does: a segment is never set-user-id, set-group-id or
    sticky, whatever the library would do with those bits."""
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.create(name, 1, "u1", mode=bad)
    e = exc.value
    assert isinstance(e, ValueError) and e.code == shmap.EINVAL
    assert str(e) == ("mode=%s is not a set of permission bits (0o1 to 0o777: set-user-id, "
                      "set-group-id and sticky bits cannot be set)" % oct(bad))
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    with shmap.create(name, 1, "u1", mode=0o777):  # the widest mode, less the umask
        assert int(shmap.info(name)["mode"], 8) == 0o777 & ~_umask()


def _umask():
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.parametrize("cap", [-1, 4097, 2**32 + 3, 2**40, 2**64, -2**70])
def test_create__keyword_capacity_out_of_range(name, cap):
    """Refused whatever its size, naming the argument; it used to wrap modulo 2**32."""
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.create(name, 1, "u1", keyword_capacity=cap)
    assert str(exc.value).startswith("keyword_capacity=%d is out of range: 0 " % cap)
    assert "4096" in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_create__keyword_capacity_bounds(names):
    for cap, slots in ((0, 32), (1, 1), (4096, 4096)):
        n = names()
        with shmap.create(n, 1, "u1", keyword_capacity=cap):
            assert shmap.info(n)["keyword_capacity"] == slots
    with pytest.raises(TypeError, match="keyword_capacity must be an int, not float"):
        shmap.create(names(), 1, "u1", keyword_capacity=2.0)


def test_create__transient_prefault_capacity(name):
    with shmap.create(name, 1000, "u1", transient=True, prefault=True, keyword_capacity=40):
        info = shmap.info(name)
        assert info["transient"] is True
        assert info["flags"] & 1
        assert info["keyword_capacity"] == 40


def test_create__keywords(name):
    with shmap.create(name, 1, "u1", keywords={"EXPTIME": 1.5, "object": ("M31", "target"),
                                                "N": 3, "OK": True}) as seg:
        assert dict(seg.keywords) == {"EXPTIME": 1.5, "OBJECT": "M31", "N": 3, "OK": True}
        assert seg.keywords.comment("OBJECT") == "target"


@pytest.mark.parametrize("bad", [[("A", 1)], (("A", 1),), "AB", 5])
def test_create__keywords_not_a_mapping(name, bad):
    with pytest.raises(TypeError, match="keywords must be a mapping") as exc:
        shmap.create(name, 1, "u1", keywords=bad)
    assert type(bad).__name__ in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_create__keywords_any_mapping(name):
    """Anything with items() will do; items that are not pairs are a TypeError."""
    class Items:
        def __init__(self, items):
            self._items = items

        def items(self):
            return self._items

    with shmap.create(name, 1, "u1", keywords=Items([("A", 1), ("B", ("x", "c"))])) as seg:
        assert dict(seg.keywords) == {"A": 1, "B": "x"}
    for bad in ([("A", 1, 2)], [["A", 1]], ["AB"]):
        with pytest.raises(TypeError, match=r"\(name, value\) pairs"):
            shmap.create(name, 1, "u1", keywords=Items(bad))
        with pytest.raises(FileNotFoundError):
            shmap.open(name)


def test_create__bad_keywords_leave_nothing(name):
    with pytest.raises(TypeError):
        shmap.create(name, 1, "u1", keywords={"A": [1]})
    with pytest.raises(ValueError):
        shmap.create(name, 1, "u1", keywords={"BAD NAME": 1}, keep=True)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


@pytest.mark.parametrize("shape,expect", [(5, (5,)), ((5,), (5,)), ([2, 3], (2, 3)),
                                          (np.int64(4), (4,)), ((np.uint8(2), 3), (2, 3)),
                                          ((1,) * 8, (1,) * 8), (np.array(3), (3,)),
                                          (np.array([2, 3]), (2, 3))])
def test_create__shapes(name, shape, expect):
    with shmap.create(name, shape, "u1") as seg:
        assert seg.shape == expect
        assert seg.array.shape == expect


@pytest.mark.parametrize("shape,exc", [(0, ValueError), ((2, 0), ValueError),
                                       (-1, ValueError), ((), ValueError),
                                       ((1,) * 9, ValueError), ("ab", TypeError),
                                       ((2.5,), TypeError), (None, TypeError),
                                       ((2 ** 64,), ValueError), ((2 ** 62, 2 ** 62), ValueError),
                                       # as numpy refuses them: b"4" is not (52,), a set
                                       # has no order, a bool is no size
                                       (b"4", TypeError), ("4", TypeError), ({3, 2}, TypeError),
                                       ({"a": 1}, TypeError), (memoryview(b"ab"), TypeError),
                                       ((True,), TypeError), ((np.bool_(True),), TypeError),
                                       (iter([2]), TypeError)])
def test_create__bad_shapes(name, shape, exc):
    with pytest.raises(exc):
        shmap.create(name, shape, "u1")
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_asarray__of_a_closed_segment_raises(name):
    """numpy.asarray() of a closed Segment raises, as .array does, where numpy would
    otherwise make an object array holding it; open, it is the array, zero copy."""
    seg = shmap.create(name, (2, 3), "f4")
    a = np.asarray(seg)
    assert a.shape == (2, 3) and np.shares_memory(a, seg.array)
    assert np.asarray(seg, dtype="f8").dtype == np.float64
    assert not np.shares_memory(np.array(seg), a)
    assert not np.shares_memory(seg.__array__(copy=True), a)
    assert np.shares_memory(seg.__array__("f4", copy=False), a)
    with pytest.raises(ValueError, match="copy=False"):
        seg.__array__("f8", copy=False)  # numpy's "never copy"
    del a
    seg.close()
    for make in (np.asarray, np.array):
        with pytest.raises(ValueError, match="closed"):
            make(seg)


def test_create__destroyed_when_last_reference_goes(name):
    seg = shmap.create(name, 1, "u1")
    again = shmap.open(name, readonly=False)
    seg.close()
    assert shmap.info(name)["name"] == name  # a reference is left
    again.close()
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_create__keep(name):
    shmap.create(name, 1, "u1", keep=True).close()
    shmap.open(name).close()
    assert shmap.info(name)["name"] == name


def test_create__set_destroy(name, names):
    seg = shmap.create(name, 1, "u1")
    seg.set_destroy(False)
    seg.close()
    shmap.open(name).close()
    # an attached segment is destroyed on request
    seg = shmap.open(name)
    seg.set_destroy(True)
    seg.close()
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_create__dealloc_closes(name):
    seg = shmap.create(name, 1, "u1")
    del seg
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_threads__create_open_close_concurrently(names):
    errors = []
    todo = [names() for _ in range(40)]

    def work(batch):
        try:
            for n in batch:
                with shmap.create(n, (64, 64), "f4") as seg:
                    seg.array[:] = 1
                    with shmap.open(n) as ro:
                        assert ro.array.sum() == 64 * 64
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(todo[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in todo:
        assert not os.path.exists("/dev/shm/" + n)


def test_threads__gil_released_during_create(name):
    """Another thread runs while one creates (and reserves, and prefaults) a segment.

    With a switch interval of 100 s the interpreter never takes the GIL from the main thread
    by force, so the ticker can count during create() only if create() releases it."""
    ticks = [0]
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.0002)

    old = sys.getswitchinterval()
    t = threading.Thread(target=ticker)
    t.start()
    sys.setswitchinterval(100)
    during = 0
    try:
        for _ in range(20):
            before = ticks[0]
            seg = shmap.create(name, 32 << 20, "u1", prefault=True)
            during += ticks[0] - before
            seg.close()
            if during:
                break
    finally:
        sys.setswitchinterval(old)
        stop.set()
        t.join()
    assert during > 0


CLOSE_UNDER_READERS = r"""
import shmap, threading, time
name = NAME
owner = shmap.create(name, (4,), "f8")  # keeps the name, and its own mapping, alive
bad = []
for i in range(ROUNDS):
    seg = shmap.open(name)  # read-only: a mapping of its own, which close() unmaps
    stop = False

    def reader():
        while not stop:
            for attr in ("info", "attached", "lock_info", "generation", "write_state"):
                try:
                    getattr(seg, attr)
                except ValueError as e:  # closed: what the docs promise
                    if "closed" not in str(e):
                        bad.append(repr(e))
                except Exception as e:
                    bad.append(repr(e))

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.002)
    seg.close()  # lets go of the handle while the reader may be in a call on it
    stop = True
    t.join()
owner.close()
print("bad:", bad[:3])
"""


def test_threads__attributes_read_while_another_thread_closes(name):
    """A Segment shared between threads: reading info (which lets the GIL go while it reads
    /proc) while another thread closes the Segment raises ValueError (closed) or gives the
    value, never a use of the freed handle. Run in a child, so that a crash fails this test
    only."""
    code = CLOSE_UNDER_READERS.replace("NAME", repr(name)).replace("ROUNDS", "150")
    proc = run_python(code, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "bad: []"


# ---------------------------------------------------------------------------------------
# create(hugepages=True)

def _meminfo(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


no_huge_pages_configured = pytest.mark.skipif(
    _meminfo("HugePages_Total") > 0, reason="this system has huge pages configured")


@no_huge_pages_configured
def test_create__hugepages_none_configured(sysv_names):
    """With vm.nr_hugepages at 0, a memfd or System V segment in huge pages is refused with
    the library's message, which says how to reserve some; the CLI says the same."""
    for name in ("memfd:", sysv_names()):
        with pytest.raises(shmap.Error) as exc:
            shmap.create(name, 4096, "u1", hugepages=True)
        e = exc.value
        assert type(e) is shmap.Error and e.code == shmap.ESTORE
        assert "no huge pages are configured" in str(e) and "vm.nr_hugepages=" in str(e)
        assert name in str(e)
        if name.startswith("sysv://"):
            cli = run_cli("create", name, "u1", "4096", "--hugepages", check=False)
            assert cli.returncode == 1 and cli.stderr.strip() == "shmap: " + str(e)
            with pytest.raises(FileNotFoundError):
                shmap.open(name)


def test_create__hugepages_not_for_posix_names(name):
    """tmpfs has no huge pages to ask for: a POSIX name is refused, and nothing is made."""
    with pytest.raises(shmap.Error) as exc:
        shmap.create(name, 4096, "u1", hugepages=True)
    assert exc.value.code == shmap.ESTORE
    assert name in str(exc.value) and "huge=within_size" in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    with shmap.create(name, 4096, "u1", hugepages=False):  # False is the default
        pass


@pytest.mark.skipif(_meminfo("HugePages_Free") == 0, reason="no free huge pages "
                    "(HugePages_Free is 0 in /proc/meminfo)")
def test_create__hugepages_memfd():
    page = _meminfo("Hugepagesize") * 1024
    with shmap.create("memfd:", (3, 1000), "f8", hugepages=True, prefault=True) as seg:
        assert seg.store == "memfd"
        info = seg.info
        assert info["size"] % page == 0 and info["size"] >= info["data_offset"] + 24000
        seg.array[:] = 2.5
        assert seg.array.sum() == 2.5 * 3000


def test_create__flags_documented():
    params = inspect.signature(shmap.create).parameters
    for flag in ("hugepages", "prefault", "transient"):
        assert params[flag].default is False and params[flag].kind == params[flag].KEYWORD_ONLY
    doc = shmap.create.__doc__
    for word in ("\nhugepages ", "\nprefault ", "\ntransient ", "vm.nr_hugepages",
                 "MFD_HUGETLB", "SHM_HUGETLB", "hugetlbfs", "ESTORE"):
        assert word in doc, word
