"""Lifetimes: arrays keep their mapping alive; closing under a live array is safe; attaching
never removes anything; the destroy policy at close and at exit."""
import copy
import gc
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest

import shmap
from conftest import PROMPT, delete_refused_while_held, ended_wait, read_line, run_python


def mapped(name):
    """The mappings of this process for a segment, per shmap.mappings()."""
    return [m for m in shmap.mappings() if m["name"] == name]


def in_proc_maps(name):
    """Is the segment's object mapped in this process, per the kernel?"""
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith("/dev/shm/" + name) for line in f)


def test_lifetime__array_outlives_close(name):
    seg = shmap.create(name, (100, 100), "f8")
    a = seg.array
    a[:] = 2.0
    seg.close()
    assert seg.closed
    assert a.sum() == 20000.0  # still mapped
    a[5, 5] = 3.0  # and still writable
    assert a[5, 5] == 3.0
    m = mapped(name)
    assert len(m) == 1 and m[0]["refs"] == 1 and m[0]["destroy"]
    assert shmap.info(name)["name"] == name  # not destroyed while the array lives
    assert in_proc_maps(name)
    del a
    gc.collect()
    assert mapped(name) == []
    assert not in_proc_maps(name)
    with pytest.raises(FileNotFoundError):  # created here without keep: destroyed at last
        shmap.open(name)


def test_lifetime__views_and_slices_keep_it(name):
    seg = shmap.create(name, (10, 10), "i4", keep=True)
    seg.array[:] = np.arange(100).reshape(10, 10)
    view = seg.array[2:4, ::3].T
    del seg
    gc.collect()
    assert view.tolist() == [[20, 30], [23, 33], [26, 36], [29, 39]]
    assert mapped(name)[0]["refs"] == 1
    del view
    assert mapped(name) == []


def test_lifetime__many_arrays_one_mapping(name):
    seg = shmap.create(name, 8, "u1", keep=True)
    arrays = [seg.array for _ in range(50)]
    assert mapped(name)[0]["refs"] == 51
    seg.close()
    assert mapped(name)[0]["refs"] == 50
    arrays[7][3] = 9
    assert all(a[3] == 9 for a in arrays)
    del arrays
    assert mapped(name) == []


def test_lifetime__buffers_outlive_close(name):
    seg = shmap.create(name, 4, "u2")
    seg.array[:] = [1, 2, 3, 4]
    m = memoryview(seg)
    n = np.asarray(seg)
    seg.close()
    assert m.tolist() == [1, 2, 3, 4]
    assert n.tolist() == [1, 2, 3, 4]
    assert mapped(name)[0]["refs"] == 2
    m.release()
    assert mapped(name)[0]["refs"] == 1
    del n
    gc.collect()
    assert mapped(name) == []
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_lifetime__close_under_live_arrays_is_unmap_pending(name):
    seg = shmap.create(name, 2, "u1", keep=True)
    a = seg.array
    seg.close()
    assert mapped(name)[0]["pending"] is True
    with pytest.raises(shmap.Error) as exc:  # SPEC: no new references while pending
        shmap.open(name, readonly=False)
    assert exc.value.code == shmap.EPENDING
    a[0] = 4  # the array still owns the mapping
    del a
    with shmap.open(name) as again:  # the last array went: the mapping is gone
        assert again.array[0] == 4
    shmap.delete(name)


def test_lifetime__unmap_pending_until_last_array(name):
    shmap.create(name, 3, "u1", keep=True).close()
    seg = shmap.open(name)
    a = seg.array
    seg.unmap()
    assert seg.closed
    m = mapped(name)
    assert m[0]["pending"] is True and m[0]["refs"] == 1
    with pytest.raises(shmap.Error) as exc:
        shmap.open(name)
    assert exc.value.code == shmap.EPENDING
    with shmap.open(name, readonly=False) as rw:  # another access mode: another mapping
        rw.array[1] = 8
    assert a[1] == 8  # the pending mapping still reads the memory
    del a
    assert mapped(name) == []
    shmap.open(name).close()  # no longer pending


def test_lifetime__pending_refuses_the_same_access_only(name):
    """Mappings are per access (include/shmap.h): a read-write mapping left pending refuses
    read-write opens, and a read-only open gets a mapping of its own."""
    seg = shmap.create(name, 3, "i4", keep=True)
    a = seg.array
    seg.close()
    with pytest.raises(shmap.Error) as exc:
        shmap.open(name, readonly=False)
    assert exc.value.code == shmap.EPENDING
    with shmap.open(name) as ro:
        a[2] = 7
        assert ro.array[2] == 7
        assert sorted(m["writable"] for m in mapped(name)) == [False, True]
    del a
    assert mapped(name) == []


def test_lifetime__pending_message_says_what_happened_and_what_to_do(name):
    """close() of a Segment whose array lives on leaves the mapping unmap-pending, as SPEC's
    rule says, though another Segment (here the creator's) lives too: the error of the
    next open tells a Python user why and what to do, and the docs of close() and open()
    say it."""
    with shmap.create(name, 4, "f4") as owner:
        tmp = shmap.open(name, readonly=False)  # another reference to owner's mapping
        a = tmp.array
        tmp.close()  # its array lives: pending
        with pytest.raises(shmap.Error) as exc:
            shmap.open(name, readonly=False)
        e = exc.value
        assert e.code == shmap.EPENDING and e.errname == "SHMAP_EPENDING"
        msg = str(e)
        assert msg.startswith(name + ": ")
        for words in ("close()", "arrays", "with", "every", "dup()"):
            assert words in msg, (words, msg)
        d = owner.dup()  # dup() still works meanwhile, as the message says
        d.__exit__(None, None, None)
        del a
    with shmap.create(name, 4, "f4") as owner:
        with shmap.open(name, readonly=False):  # a with block's exit leaves nothing pending
            pass
        with shmap.open(name, readonly=False) as again:
            assert again.shape == (4,)
    for doc in (shmap.Segment.close.__doc__, shmap.open.__doc__):
        assert "EPENDING" in doc and "with" in doc, doc


def test_lifetime__close_beside_other_segments_leaves_nothing_pending(name):
    """Other Segments on the mapping are not the closed Segment's arrays: an open() ...
    close() pair beside a Segment that lives on (a helper, another thread, a pickle's
    copy) drops its reference and keeps no later open out. unmap() still marks it."""
    with shmap.create(name, (64, 64), "f4") as owner:
        for _ in range(3):
            r = shmap.open(name)
            r.array.sum()  # an array, gone before the close
            r.close()
        rw = shmap.open(name, readonly=False)
        rw.close()
        s2 = pickle.loads(pickle.dumps(owner))
        s2.close()
        copy.deepcopy(owner).close()
        assert [m["pending"] for m in mapped(name)] == [False]
        errors = []

        def reader():
            for _ in range(200):
                try:
                    s = shmap.open(name)
                    s.array.sum()
                    s.close()
                except shmap.Error as e:
                    errors.append(e.errname)

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        u = shmap.open(name, readonly=False)
        u.unmap()  # IDL's SHMUNMAP: pending while owner lives
        with pytest.raises(shmap.Error) as exc:
            shmap.open(name, readonly=False)
        assert exc.value.code == shmap.EPENDING


def test_delete__while_read_write_mapping_pending(name):
    """delete() takes the lock through a mapping of its own when this process's read-write
    one is pending, and the arrays keep working on the nameless memory."""
    seg = shmap.create(name, (3,), "i4", keep=True)
    a = seg.array
    seg.close()
    shmap.delete(name)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    a[:] = [1, 2, 3]
    assert a.tolist() == [1, 2, 3]
    assert mapped(name)[0]["pending"] is True
    del a
    assert mapped(name) == []


def test_delete__while_read_only_mapping_pending(name):
    shmap.create(name, 3, "u1", keep=True).close()
    seg = shmap.open(name)
    a = seg.array
    seg.close()
    shmap.delete(name)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    assert a.tolist() == [0, 0, 0]
    del a
    assert mapped(name) == []


def test_delete__while_pending_wakes_waiters(name):
    """The removal is announced through the deletion's own read-write mapping of the
    header: a wait in this process's read-only mapping ends at once."""
    seg = shmap.create(name, 4, "u1", keep=True)
    ro = shmap.open(name)
    a = seg.array
    seg.close()
    got, elapsed = ended_wait(lambda: ro.wait(timeout=10), shmap.Error,
                              lambda: shmap.delete(name))
    assert elapsed < PROMPT  # told at once, not at the 10 s timeout
    assert [e.code for e in got] == [shmap.EREMOVED]
    ro.close()
    del a
    assert mapped(name) == []


def both_pending(name, dtype="u1"):
    """A kept segment whose two mappings in this process, read-write and read-only, are
    both unmap-pending: each Segment closed under a live array. Returns the two arrays."""
    seg = shmap.create(name, 3, dtype, keep=True)
    a = seg.array
    seg.close()
    ro = shmap.open(name)
    b = ro.array
    ro.close()
    assert [m["pending"] for m in mapped(name)] == [True, True]
    for readonly in (False, True):
        with pytest.raises(shmap.Error) as exc:
            shmap.open(name, readonly=readonly)
        assert exc.value.code == shmap.EPENDING
    del exc  # its traceback holds this frame, and with it the arrays
    return a, b


def test_delete__both_mappings_pending(name):
    """With both of this process's mappings pending, delete() locks through a mapping of
    its own: the name goes, the arrays keep the memory, and nothing is revived."""
    a, b = both_pending(name)
    a[:] = [4, 5, 6]
    shmap.delete(name)
    with pytest.raises(FileNotFoundError):
        shmap.info(name)
    with pytest.raises(FileNotFoundError):
        shmap.delete(name)
    assert b.tolist() == [4, 5, 6]
    a[0] = 9
    assert b[0] == 9
    m = mapped(name)
    assert len(m) == 2 and all(x["pending"] and x["refs"] == 1 for x in m)
    del a, b
    assert mapped(name) == []
    assert not in_proc_maps(name)


HOLDER = """
import shmap, signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
seg = shmap.open(%r, readonly=False)
with seg.lock(exclusive=True):
    print("locked", flush=True)
    signal.sigwait({signal.SIGUSR1})
    time.sleep(0.3)
print("released", flush=True)
"""


def test_delete__both_mappings_pending_waits_for_another_process(name, child):
    """The deletion through its own mapping still waits for other processes' locks: it
    fails naming the holder and changes nothing, or waits until the holder lets go."""
    a, b = both_pending(name)
    holder = child(HOLDER % name)
    assert read_line(holder) == "locked"
    delete_refused_while_held(name, holder.pid)
    assert [m["pending"] for m in mapped(name)] == [True, True]
    t0 = time.monotonic()  # before the holder's 0.3 s can start
    os.kill(holder.pid, signal.SIGUSR1)
    shmap.delete(name, timeout=10)
    assert time.monotonic() - t0 >= 0.25  # the holder's 0.3 s
    assert read_line(holder) == "released"
    assert holder.wait(10) == 0
    with pytest.raises(FileNotFoundError):
        shmap.info(name)
    a[1] = 2
    assert b.tolist() == [0, 2, 0]
    del a, b
    assert mapped(name) == []


def test_lifetime__other_segments_keep_working_while_pending(name):
    """Closing one Segment under a live array makes the shared mapping unmap-pending; the
    other Segments of it in this process still hold their references, and everything
    they do (arrays, locks, waits, frames) keeps working."""
    a = shmap.create(name, 4, "f4", keep=True)
    b = shmap.open(name, readonly=False)
    arr = a.array
    a.close()
    assert mapped(name)[0]["pending"] is True
    with b.lock(exclusive=True, timeout=1.0):
        b.array[0] = 5
        b.publish()
    assert arr[0] == 5
    assert b.wait(timeout=1.0) == 1
    with pytest.raises(TimeoutError):
        b.wait(timeout=0.05)
    del arr
    b.close()
    assert mapped(name) == []
    shmap.delete(name)


def test_lifetime__unmap_with_no_other_reference(name):
    seg = shmap.create(name, 3, "u1", keep=True)
    seg.unmap()
    assert mapped(name) == []
    shmap.open(name).close()


def test_lifetime__delete_while_mapped(name):
    seg = shmap.create(name, 3, "u1", keep=True)
    a = seg.array
    shmap.delete(name)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    a[:] = 5  # the memory stays until unmapped
    assert a.sum() == 15
    seg.close()
    del a


CHILD_CLOSE_UNDER_ARRAYS = """
import gc, sys
import numpy as np
import shmap
name = sys.argv[1] if len(sys.argv) > 1 else %r
seg = shmap.create(name, (256, 256), 'f4', keep=True)
a = seg.array
a[:] = 1.5
m = memoryview(seg)
n = np.asarray(seg)
v = a[10:20, 10:20]
seg.close()
seg.close()
assert a.sum() == 1.5 * 256 * 256
assert n[3, 3] == 1.5 and m.tolist()[0][0] == 1.5
del seg
gc.collect()
a[0, 0] = 7
assert v.shape == (10, 10)
# objects still alive at interpreter exit: must not crash either
keep_alive = (a, m, n, v)
print('ok')
"""


def test_lifetime__close_under_live_arrays_in_a_child(name):
    proc = run_python(CHILD_CLOSE_UNDER_ARRAYS % name)
    assert proc.stdout.strip() == "ok"
    assert proc.stderr == ""
    with shmap.open(name) as seg:  # keep=True: the child left it, with its writes
        assert seg.array[0, 0] == 7 and seg.array[1, 1] == 1.5


def test_lifetime__child_exits_without_closing_keep(name):
    run_python("import shmap\n"
               "seg = shmap.create(%r, 4, 'i8', keep=True)\n"
               "seg.array[:] = [1, 2, 3, 4]\n"
               "a = seg.array\n" % name)
    with shmap.open(name) as seg:
        assert seg.array.tolist() == [1, 2, 3, 4]
    run_python("import os, shmap\n"
               "seg = shmap.create(%r, 4, 'i8', replace=True, keep=True)\n"
               "seg.array[:] = 9\n"
               "os._exit(0)\n" % name)
    with shmap.open(name) as seg:
        assert seg.array.tolist() == [9, 9, 9, 9]


def test_lifetime__child_created_without_keep_destroyed_at_exit(name):
    """IDL's default: what a process created goes when it ends, arrays or not."""
    run_python("import shmap\n"
               "seg = shmap.create(%r, 4, 'u1')\n"
               "a = seg.array\n"
               "b = memoryview(seg)\n"
               "c = shmap.create(%r + 'x', 1, 'u1')\n"
               "arr = [a, b, c]\n" % (name, name))
    for n in (name, name + "x"):
        with pytest.raises(FileNotFoundError):
            shmap.open(n)


def test_lifetime__attaching_never_unlinks(name):
    shmap.create(name, 4, "u1", keep=True).close()
    run_python("import shmap\n"
               "seg = shmap.open(%r, readonly=False)\n"
               "seg.array[:] = 3\n"
               "ro = shmap.open(%r)\n"
               "a = ro.array\n"
               "seg.close()\n" % (name, name))
    run_python("import os, shmap\n"
               "seg = shmap.open(%r)\n"
               "os._exit(0)\n" % name)
    with shmap.open(name) as seg:
        assert seg.array.tolist() == [3, 3, 3, 3]


def test_lifetime__forked_child_never_destroys(name):
    seg = shmap.create(name, 2, "u1")  # this process would destroy it
    a = seg.array
    pid = os.fork()
    if pid == 0:  # the child closes everything and exits through atexit
        code = 0
        try:
            a[0] = 5
            seg.close()
            shmap._atexit()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert a[0] == 5
    assert shmap.info(name)["name"] == name
    seg.close()
    del a
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_lifetime__a_forked_child_created_nothing(name):
    """created is the creating process's: a Segment carried into a child by fork() says
    False there, as does one the child opens, while the parent's still says True."""
    seg = shmap.create(name, 2, "u1")
    assert seg.created
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with shmap.open(name) as again:
                code = 0 if (not seg.created and not again.created) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert seg.created
    seg.close()
    assert seg.created  # stays after close()


def test_lifetime__forked_child_exiting_normally(name):
    """A forked child that ends normally runs the exit hook on inherited handles; the
    segment is the parent's to destroy, and it does, at its own exit."""
    proc = run_python("import os, sys, shmap\n"
                      "seg = shmap.create(%r, 2, 'u1')\n"
                      "a = seg.array\n"
                      "pid = os.fork()\n"
                      "if pid == 0:\n"
                      "    sys.exit(0)\n"
                      "_, status = os.waitpid(pid, 0)\n"
                      "assert status == 0\n"
                      "print(shmap.info(%r)['name'])\n" % (name, name))
    assert proc.stdout.strip() == name
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
