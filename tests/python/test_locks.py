"""Segment.lock(): shared and exclusive locks as context managers, across threads and
processes; timeouts, a holder killed with SIGKILL, read-only and raw segments, lock_info,
attached, and shmap.delete(), which waits for the lock."""
import contextlib
import errno
import faulthandler
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import shmap
from conftest import (PROMPT, delete_refused_while_held, ended_wait, python_env, read_line,
                      run_python, run_python_as_nobody, shmap_bin, spin)
from procstate import wait_asleep, wait_sleeps

# A child that opens the segment read-write, takes a lock, says so and waits to be killed.
HOLDER = """
import shmap, sys, time
seg = shmap.open(%r, readonly=False)
lk = seg.lock(exclusive=%r)
print("locked", flush=True)
time.sleep(60)
"""


def test_lock__shared_by_default_in_a_with_block(name):
    with shmap.create(name, 4, "u1") as seg:
        assert seg.locked is False
        with seg.lock() as lk:
            assert isinstance(lk, shmap.Lock)
            assert lk.held is True and lk.exclusive is False and lk.owner_died is None
            assert lk.name == name
            assert repr(lk) == "<shmap.Lock shared on '%s' held>" % name
            assert seg.locked is True
            info = seg.lock_info
            assert info == {"writer": None, "writer_alive": False, "writer_waiting": False,
                            "shared": 1, "waiters": False, "owner_died": False, "dead_pid": None,
                            "writer_other_pidns": False}
        assert lk.held is False
        assert repr(lk) == "<shmap.Lock shared on '%s' released>" % name
        assert seg.locked is False and seg.lock_info["shared"] == 0


def test_lock__taken_at_the_call__released_by_release(name):
    with shmap.create(name, 4, "u1") as seg:
        lk = seg.lock(exclusive=True)
        assert lk.held and lk.exclusive
        assert seg.lock_info["writer"] == os.getpid()
        assert seg.lock_info["writer_alive"] is True
        mine = [a for a in seg.attached if a["pid"] == os.getpid()]
        assert mine and mine[0]["writer"] is True
        lk.release()
        assert not lk.held and seg.lock_info["writer"] is None
        lk.release()  # a second release does nothing
        with pytest.raises(ValueError, match="released"):
            with lk:
                pass
        with seg.lock(exclusive=True, timeout=0) as again:  # free again
            assert again.held
            again.release()  # inside the block: the exit does nothing more
        assert not seg.locked


def test_lock__released_when_the_lock_object_goes(name):
    with shmap.create(name, 4, "u1") as seg:
        lk = seg.lock(exclusive=True)
        del lk
        assert not seg.locked
        seg.lock(exclusive=True)  # never kept: taken and released at once
        assert not seg.locked


def test_lock__timeout_argument(name):
    with shmap.create(name, 1, "u1") as seg:
        for bad in (-1, -0.5, float("nan")):
            with pytest.raises(ValueError, match="timeout"):
                seg.lock(timeout=bad)
        with pytest.raises(TypeError):
            seg.lock(timeout="1")
        with seg.lock(timeout=float("inf")):  # inf waits for ever, like None
            pass
        # A number first is a timeout meant, not an exclusive lock waiting for ever; a
        # string is no bool either.
        for bad in (2.0, 5, 0, "no", None):
            with pytest.raises(TypeError, match="timeout="):
                seg.lock(bad)
        with seg.lock(True) as lk:
            assert lk.exclusive
        with seg.lock(np.bool_(False)) as lk:
            assert not lk.exclusive
    with pytest.raises(ValueError, match="closed"):
        seg.lock()


def locked_in_a_thread(seg, exclusive=False):
    """A Lock of `seg` taken by a thread of its own, which has ended: for the calling thread
    it is another thread's, which it waits for (any thread may release it)."""
    got = []
    t = threading.Thread(target=lambda: got.append(seg.lock(exclusive=exclusive)))
    t.start()
    t.join(10)
    assert not t.is_alive() and got[0].held
    return got[0]


def test_lock__threads_share__exclusive_excludes(name):
    with shmap.create(name, 4, "u1") as seg:
        a = locked_in_a_thread(seg)
        b = locked_in_a_thread(seg)  # a second shared hold through the same Segment
        assert seg.lock_info["shared"] == 2
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as exc:  # no upgrade: waits for our own readers
            seg.lock(exclusive=True, timeout=0.2)
        assert 0.2 <= time.monotonic() - t0 < 0.2 + PROMPT
        assert exc.value.errno == errno.ETIMEDOUT and exc.value.code == -errno.ETIMEDOUT
        assert "timed out after 0.2 s" in str(exc.value)
        assert "shared hold by pid %d (this process)" % os.getpid() in str(exc.value)
        with pytest.raises(BlockingIOError) as exc:
            seg.lock(exclusive=True, timeout=0)
        assert exc.value.errno == errno.EBUSY and exc.value.errname == "EBUSY"
        assert name in str(exc.value)
        a.release()
        b.release()
        writer = locked_in_a_thread(seg, exclusive=True)
        with pytest.raises(BlockingIOError):
            seg.lock(timeout=0)  # readers wait for the writer, this process's too
        writer.release()


def test_lock__timeout_is_kept(name):
    with shmap.create(name, 1, "u1") as seg, locked_in_a_thread(seg, exclusive=True):
        for timeout in (0.05, 0.12, 0.31):
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                seg.lock(timeout=timeout)
            elapsed = time.monotonic() - t0
            assert timeout <= elapsed < timeout + PROMPT, (timeout, elapsed)


def kind(exclusive):
    return "exclusive" if exclusive else "shared"


@pytest.mark.parametrize("timeout", [0, PROMPT + 1])  # beyond PROMPT: a wait would show
@pytest.mark.parametrize("outer,inner", [(True, True), (True, False), (False, True),
                                         (False, False)])
def test_lock__nested_in_one_thread_on_one_segment_fails_at_once_with_edeadlk(
        name, outer, inner, timeout):
    """A thread that holds a lock taken through a Segment and asks that Segment for another
    would wait for itself: for ever after an exclusive lock, and for an exclusive lock after
    a shared one (there is no upgrade); a shared lock after a shared one waits for ever as
    soon as a writer queues between the two. Each fails at once with EDEADLK, as the library
    refuses a second lock on one handle; the lock held stays held."""
    with shmap.create(name, 4, "u1") as seg:
        with seg.lock(exclusive=outer) as held:
            t0 = time.monotonic()
            with pytest.raises(shmap.Error) as exc:
                seg.lock(exclusive=inner, timeout=timeout)
            assert time.monotonic() - t0 < PROMPT
            e = exc.value
            assert isinstance(e, OSError)
            assert e.errno == errno.EDEADLK and e.errname == "EDEADLK"
            assert e.code == -errno.EDEADLK
            assert "%s: this thread already holds the %s lock on this Segment" \
                % (name, kind(outer)) in str(e)
            assert held.held
            assert seg.lock_info["shared"] == (0 if outer else 1)
            assert seg.lock_info["writer"] == (os.getpid() if outer else None)
        with seg.lock(exclusive=inner, timeout=0):  # released: the thread may lock again
            pass


NESTED_WITHOUT_TIMEOUT = """
import errno, shmap, sys
seg = shmap.create(sys.argv[1], 4, "f4")
with seg.lock(exclusive=sys.argv[2] == "exclusive"):
    try:
        with seg.lock(exclusive=True):
            print("granted")
    except OSError as e:
        print(e.errno == errno.EDEADLK, e)
seg.close()
"""


@pytest.mark.parametrize("outer", ["exclusive", "shared"])
def test_lock__exclusive_nested_without_timeout_fails_instead_of_hanging(name, outer):
    """The hang users met: `with seg.lock(...): with seg.lock(exclusive=True):` with no
    timeout. Run in a child the test kills if it hangs."""
    try:
        proc = subprocess.run([sys.executable, "-c", NESTED_WITHOUT_TIMEOUT, name, outer],
                              capture_output=True, text=True, timeout=PROMPT + 10,
                              env=python_env())
    except subprocess.TimeoutExpired:
        pytest.fail("the nested lock waited for ever")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True [Errno %d] %s: this thread already holds the %s lock "
                                  "on this Segment" % (errno.EDEADLK, name, outer)), proc.stdout


def test_lock__another_thread_holding_it_through_the_same_segment_is_waited_for(name):
    """Only this thread's own locks fail at once: one that another thread holds through the
    same Segment is waited for (until the timeout, or until that thread lets go)."""
    with shmap.create(name, 4, "u1") as seg:
        ready, done = threading.Event(), threading.Event()
        got = []

        def hold():
            with seg.lock(exclusive=True) as lk:
                got.append(lk)
                ready.set()
                done.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert ready.wait(10)
            t0 = time.monotonic()
            with pytest.raises(TimeoutError) as exc:
                seg.lock(exclusive=True, timeout=0.3)
            assert 0.3 <= time.monotonic() - t0 < 0.3 + PROMPT
            assert "held by pid %d" % os.getpid() in str(exc.value)
            with pytest.raises(BlockingIOError):
                seg.lock(timeout=0)
            main = threading.current_thread()
            releaser = threading.Thread(target=lambda: (wait_asleep(main), done.set()))
            releaser.start()
            t0 = time.monotonic()
            with seg.lock(exclusive=True, timeout=10) as lk:  # granted once it lets go
                assert lk.held and time.monotonic() - t0 < 10
            releaser.join(10)
        finally:
            done.set()
            holder.join(10)
        assert not got[0].held


def test_lock__held_by_this_thread_through_another_segment_is_waited_for(name):
    """Another Segment (dup(), another open) locks on its own, like another process: the
    lock it holds is waited for, whichever thread holds it, since any thread may release
    it."""
    with shmap.create(name, 4, "u1") as seg, seg.dup() as other:
        with other.lock(exclusive=True):
            with pytest.raises(BlockingIOError):
                seg.lock(timeout=0)
            with pytest.raises(TimeoutError):
                seg.lock(exclusive=True, timeout=0.1)


def test_lock__other_process_waits_for_ours(name):
    with shmap.create(name, 4, "u1") as seg, seg.lock(exclusive=True):
        out = run_python(
            "import shmap, time\n"
            "seg = shmap.open(%r, readonly=False)\n"
            "try:\n"
            "    seg.lock(timeout=0)\n"
            "except BlockingIOError as e:\n"
            "    print('busy', e.errno, e)\n"
            "t0 = time.monotonic()\n"
            "try:\n"
            "    seg.lock(exclusive=True, timeout=0.3)\n"
            "except TimeoutError as e:\n"
            "    print('timeout %%.2f' %% (time.monotonic() - t0), e)\n" % name)
        busy, timeout = out.stdout.splitlines()
        assert busy.startswith("busy %d " % errno.EBUSY)
        assert "held by pid %d" % os.getpid() in busy
        assert 0.3 <= float(timeout.split()[1]) < 0.3 + PROMPT, timeout
        assert "timed out after 0.3 s" in timeout
        assert "held by pid %d" % os.getpid() in timeout


def test_lock__another_thread_runs_while_one_waits(name):
    """The wait releases the GIL: a thread that needs it to release the lock gets it."""
    with shmap.create(name, 4, "u1") as seg:
        holder = locked_in_a_thread(seg, exclusive=True)
        rounds = []

        def release_later():
            rounds.append(spin(0.3))  # Python code: runs only if the waiter let the GIL go
            holder.release()

        t = threading.Thread(target=release_later)
        t0 = time.monotonic()
        t.start()
        try:
            with seg.lock(exclusive=True, timeout=10) as lk:
                waited = time.monotonic() - t0
                assert lk.held and lk.owner_died is None
        finally:
            t.join(10)
        assert rounds and rounds[0] > 1000
        assert 0.25 <= waited < 0.3 + PROMPT  # the 0.3 s spin, then a prompt wake


def test_lock__closing_the_segment_ends_a_wait_in_it(name):
    seg = shmap.create(name, 4, "u1")
    other = shmap.open(name, readonly=False)
    holder = other.lock(exclusive=True)
    try:
        got, _ = ended_wait(lambda: seg.lock(timeout=10), ValueError, seg.close, join=5)
    finally:
        holder.release()
        other.close()
    assert [str(e) for e in got] == ["segment '%s' was closed while waiting" % name]


def test_lock__a_waiting_thread_other_than_the_main_one_leaves_the_gil_alone(name):
    # Only the main thread runs signal handlers: another thread's wait wakes every 10 ms to
    # check, without queueing for the GIL each time behind busy threads.
    with shmap.create(name, 4, "u1") as seg, shmap.open(name, readonly=False) as other:
        holder = other.lock(exclusive=True)
        got = []
        waiter = threading.Thread(target=lambda: got.append(seg.lock(timeout=10)))
        before = shmap._gil_checks()
        waiter.start()
        assert wait_asleep(waiter)
        assert wait_sleeps(waiter, 10)  # ten slices of the wait, each with its check
        assert waiter.is_alive() and shmap._gil_checks() == before
        holder.release()
        waiter.join(10)
        assert not waiter.is_alive() and got[0].held
        got[0].release()
        # The main thread's wait does take the GIL to look at signals.
        holder = other.lock(exclusive=True)
        main = threading.current_thread()
        blocked = []

        def release_once_main_waits():
            blocked.append(wait_asleep(main))
            holder.release()

        releaser = threading.Thread(target=release_once_main_waits)
        releaser.start()
        before = shmap._gil_checks()
        with seg.lock(timeout=10):
            pass
        releaser.join(10)
        assert blocked == [True]
        assert shmap._gil_checks() > before


IMPORTED_IN_A_THREAD = """
import os, signal, sys, threading, time
from procstate import wait_asleep
got = {}
t = threading.Thread(target=lambda: got.update(m=__import__("shmap")))
t.start()
t.join()
shmap = got["m"]
name = sys.argv[1]

def interrupted_wait():
    seg = shmap.create(name, 4, "u1")
    other = shmap.open(name, readonly=False)
    holder = other.lock(exclusive=True)
    waiter = threading.get_native_id()

    def interrupt():  # Ctrl-C, once this thread waits
        wait_asleep(waiter)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    t0 = time.monotonic()
    try:
        seg.lock(timeout=30)
        return "not interrupted"
    except KeyboardInterrupt:
        return "interrupted after %.1f s" % (time.monotonic() - t0)
    finally:
        holder.release()
        other.close()
        seg.close()

if sys.argv[2] == "here":
    print(interrupted_wait(), flush=True)
else:  # in a child forked from another thread, whose only thread is now the main one
    out = {}
    def fork_and_wait():
        pid = os.fork()
        if pid == 0:
            print(interrupted_wait(), flush=True)
            os._exit(0)
        out["status"] = os.waitpid(pid, 0)[1]
    t = threading.Thread(target=fork_and_wait)
    t.start()
    t.join()
    assert out["status"] == 0, out
"""


@pytest.mark.parametrize("where", ["here", "forked"])
def test_lock__ctrl_c_ends_a_wait_of_the_main_thread_when_imported_elsewhere(name, where):
    # Signal handlers run in the main thread, whichever thread imported the module, and in
    # a child forked from another thread that thread is the main one.
    proc = subprocess.run([sys.executable, "-c", IMPORTED_IN_A_THREAD, name, where],
                          capture_output=True, text=True, timeout=120, env=python_env())
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith("interrupted after"), (line, proc.stderr)
    assert float(line.split()[2]) < 10


def test_lock__outlives_close_of_its_segment(name):
    seg = shmap.create(name, 4, "u1", keep=True)
    lk = seg.lock(exclusive=True)
    seg.close()
    assert lk.held
    with shmap.open(name) as ro:
        assert ro.lock_info["writer"] == os.getpid()
        lk.release()
        assert ro.locked is False


def test_lock__forked_child_holds_nothing(name):
    with shmap.create(name, 4, "u1") as seg:
        lk = seg.lock(exclusive=True)
        pid = os.fork()
        if pid == 0:  # the child: the lock is its parent's
            ok = False
            try:
                ok = lk.held is False
                try:  # the parent's lock, not this thread's: busy, not EDEADLK
                    seg.lock(timeout=0)
                    ok = False
                except BlockingIOError:
                    pass
                lk.release()  # drops the child's reference only
                ok = ok and shmap.open(name).lock_info["writer"] == os.getppid()
            finally:
                os._exit(0 if ok else 1)  # never back into pytest
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lk.held and seg.lock_info["writer"] == os.getpid()
        lk.release()


def test_lock__repr_in_a_forked_child_follows_held(name):
    """In a child made by fork() the lock is the parent's: held is False there, and the repr
    says so rather than 'held'."""
    with shmap.create(name, 4, "u1") as seg:
        lk = seg.lock(exclusive=True)
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = (lk.held is False and
                      repr(lk) == "<shmap.Lock exclusive on %r not held (the parent's)>" % name)
                lk.release()
                ok = ok and repr(lk) == "<shmap.Lock exclusive on %r released>" % name
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert lk.held and repr(lk) == "<shmap.Lock exclusive on %r held>" % name
        lk.release()


def test_lock__holder_killed__next_writer_told(name, child):
    with shmap.create(name, (2, 2), "f4") as seg:
        proc = child(HOLDER % (name, True))
        assert read_line(proc) == "locked"
        assert seg.lock_info["writer"] == proc.pid
        assert seg.locked is True
        proc.kill()
        proc.wait(30)
        info = seg.lock_info
        assert info["writer"] == proc.pid and info["writer_alive"] is False
        assert [a["alive"] for a in seg.attached if a["pid"] == proc.pid] == [False]
        t0 = time.monotonic()
        with pytest.warns(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
            lk = seg.lock(exclusive=True, timeout=10)
        assert time.monotonic() - t0 < PROMPT  # at once, not at the 10 s timeout
        assert lk.held and lk.owner_died == proc.pid
        assert seg.lock_info["dead_pid"] == proc.pid
        lk.release()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with seg.lock(exclusive=True, timeout=0) as again:  # told once only
                assert again.owner_died is None


def test_lock_info__a_writer_waiting_for_readers_is_told_from_one_holding(name, child):
    with shmap.create(name, 4, "u1") as seg:
        with seg.lock():
            proc = child(HOLDER % (name, True))
            deadline = time.monotonic() + 30
            while seg.lock_info["writer"] != proc.pid and time.monotonic() < deadline:
                time.sleep(0.005)
            info = seg.lock_info
            assert info["writer"] == proc.pid and info["writer_alive"] is True
            assert info["writer_waiting"] is True and info["shared"] == 1
            assert info["waiters"] is True
            assert shmap.info(name)["lock"] == info
            assert seg.locked is True
        assert read_line(proc) == "locked"
        info = seg.lock_info
        assert info["writer"] == proc.pid and info["writer_waiting"] is False
        assert info["shared"] == 0


def test_lock__owner_died_warning_made_an_error_releases(name, child):
    with shmap.create(name, 4, "u1") as seg:
        proc = child(HOLDER % (name, True))
        assert read_line(proc) == "locked"
        proc.kill()
        proc.wait(30)
        with warnings.catch_warnings():
            warnings.simplefilter("error", shmap.OwnerDiedWarning)
            with pytest.raises(shmap.OwnerDiedWarning):
                seg.lock(exclusive=True, timeout=10)
        assert seg.locked is False
        # The caller repaired nothing: the next writer is told of the same death.
        assert seg.lock_info["owner_died"] is True
        with pytest.warns(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
            with seg.lock(exclusive=True, timeout=10) as lk:
                assert lk.owner_died == proc.pid
        assert seg.lock_info["owner_died"] is False


def test_lock__release_writer_died_tells_the_next_writer_in_another_process(name):
    with shmap.create(name, 4, "u1") as seg:
        writer = subprocess.Popen(["sleep", "30"])
        with seg.lock(exclusive=True, timeout=10) as lk:
            writer.kill()
            writer.wait(30)
            lk.release(writer_died=np.int32(writer.pid))  # any int, numpy's too
            assert lk.held is False and seg.locked is False
        info = seg.lock_info
        assert info["owner_died"] is True and info["dead_pid"] == writer.pid
        code = ("import shmap, warnings\n"
                "with warnings.catch_warnings(record=True) as w:\n"
                "    warnings.simplefilter('always')\n"
                "    with shmap.open(%r, readonly=False) as seg:\n"
                "        with seg.lock(exclusive=True, timeout=10) as lk:\n"
                "            print(lk.owner_died, [str(x.message) for x in w])\n" % name)
        out = subprocess.run([sys.executable, "-c", code], env=python_env(),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("%d [" % writer.pid)
        assert "previous writer (pid %d) died while holding the lock" % writer.pid in out.stdout
        assert seg.lock_info["owner_died"] is False  # told once


def test_lock__release_writer_died_refuses_what_records_nothing(name):
    with shmap.create(name, 4, "u1") as seg:
        for bad, error in [(0, ValueError), (-3, ValueError), (2 ** 40, ValueError),
                           (True, TypeError), (1.0, TypeError), ("12", TypeError)]:
            with seg.lock(exclusive=True, timeout=0) as lk:
                with pytest.raises(error, match="writer_died"):
                    lk.release(writer_died=bad)
                assert lk.held  # nothing released
        with seg.lock(timeout=0) as lk:
            with pytest.raises(ValueError, match="shared lock, and readers write nothing"):
                lk.release(writer_died=os.getpid())
            assert lk.held
        with pytest.raises(ValueError, match="released already"):
            lk.release(writer_died=os.getpid())
        with pytest.raises(TypeError):
            lk.release(os.getpid())  # keyword only
        assert seg.lock_info["owner_died"] is False


def test_lock__dead_reader_is_dropped_quietly(name, child):
    with shmap.create(name, 4, "u1") as seg:
        proc = child(HOLDER % (name, False))
        assert read_line(proc) == "locked"
        assert seg.lock_info["shared"] == 1
        proc.kill()
        proc.wait(30)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with seg.lock(exclusive=True, timeout=10) as lk:
                assert lk.owner_died is None
        assert all(a["pid"] != proc.pid for a in seg.attached)


def test_lock__read_only_segment_locks_when_its_user_may_write(name):
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name) as ro:
        assert ro.attached == []  # a read-only open writes nothing
        with ro.lock() as lk:
            assert lk.held
            me = [a for a in ro.attached if a["pid"] == os.getpid()]
            assert me == [{"pid": os.getpid(), "alive": True, "shared": 1, "writer": False,
                           "start": me[0]["start"], "writable": False, "other_pidns": False}]
            assert me[0]["start"] > 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_lock__read_only_without_permission_is_refused(name):
    with shmap.create(name, 4, "u1", keep=True, mode=0o644) as seg:
        seg.array[:] = 7
        seg.publish()
    code = (
        "import shmap\n"
        "seg = shmap.open(%r)\n"
        "print(int(seg.array.sum()), seg.lock_info['shared'], seg.locked)\n"
        "try:\n"
        "    seg.lock()\n"
        "except PermissionError as e:\n"
        "    print(type(e).__name__, isinstance(e, shmap.Error), e.errname,\n"
        "          e.code == e.errno == shmap.EREADONLY)\n"
        "    print(e)\n" % name)
    proc = run_python_as_nobody(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "28 0 False", "ReadOnlyError True SHMAP_EREADONLY True",
        "%s: opened read-only, and this user may not write the segment's lock table" % name]


# ---------------------------------------------------------------------------------------
# shmap.delete(): CFITSIO's deletion, which waits for lock holders


# A reader that holds the shared lock 0.2 s at a time and, between holds, tries to take it
# again and again (timeout=0), so it gets in the moment a writer lets new readers in.
CYCLING_READER = """
import shmap, time
seg = shmap.open(%r, readonly=False)
first = True
while True:
    try:
        lk = seg.lock(timeout=0)
    except BlockingIOError:
        continue
    with lk:
        if first:
            print("in", flush=True)
            first = False
        time.sleep(0.2)
"""


def start_overlapping_readers(name, child):
    """Two processes whose 0.2 s shared holds overlap (staggered by 0.1 s), so at every
    moment at least one holds the lock: only a writer that keeps new readers out for its
    whole wait gets in."""
    readers = []
    for _ in range(2):
        readers.append(child(CYCLING_READER % name))
        assert read_line(readers[-1]) == "in"
        time.sleep(0.1)
    return readers


def test_lock__a_writer_is_not_starved_by_overlapping_readers(name, child):
    with shmap.create(name, 4, "u1") as seg:
        start_overlapping_readers(name, child)
        assert seg.lock_info["shared"] >= 1
        t0 = time.monotonic()
        with seg.lock(exclusive=True, timeout=10) as lk:
            waited = time.monotonic() - t0
            assert lk.held and seg.lock_info["shared"] == 0
        # The readers drain in one hold (0.2 s); a writer that gave its place back every
        # few ms would wait for a moment when neither holds, which may never come.
        assert waited < 0.2 + PROMPT, waited


def lock_word(name):
    """The lock word, read from the object itself (docs/FORMAT.md: a u32 at byte 512)."""
    with open("/dev/shm/" + name, "rb") as f:
        return int.from_bytes(os.pread(f.fileno(), 4, 512), sys.byteorder)


def test_lock__a_waiting_writer_keeps_its_claim_for_the_whole_wait(name, child):
    """One claim, not one per few ms: GEN (bits 16-28 of the word), which every claim bumps,
    stays put while the writer waits for a reader, and WRITER stays set throughout."""
    with shmap.create(name, 4, "u1") as seg:
        proc = child(HOLDER % (name, False))
        assert read_line(proc) == "locked"
        got = []
        t = threading.Thread(target=lambda: got.append(seg.lock(exclusive=True, timeout=10)))
        t.start()
        try:
            deadline = time.monotonic() + 10
            while not lock_word(name) & (1 << 31) and time.monotonic() < deadline:
                time.sleep(0.01)
            words = [lock_word(name)]
            woken = []
            for _ in range(5):
                woken.append(wait_sleeps(t, 5))  # some slices of its wait have ended
                words.append(lock_word(name))
            proc.kill()  # the reader dies: its hold is dropped and the writer gets in
        finally:
            t.join(10)
        assert all(woken), woken
        assert all(w & (1 << 31) for w in words), [hex(w) for w in words]
        assert len({(w >> 16) & 0x1FFF for w in words}) == 1, [hex(w) for w in words]
        assert got and got[0].held
        got[0].release()


# A process whose daemon threads are waiting in shmap calls when it exits. It starts one
# at a time, and goes on once it is asleep in its wait: only the new one can be waiting for
# the GIL, which wait_asleep() lets go while it reads /proc.
DAEMON_WAITERS = """
import shmap, threading
from procstate import wait_asleep
seg = shmap.open(%r, readonly=False)
# delete() first: it waits for the holder in another process, while a lock this process
# holds or is taking (the waiting lock() below) would make it fail at once.
for call in (lambda: shmap.delete(%r), lambda: seg.lock(exclusive=True), seg.wait):
    t = threading.Thread(target=call, daemon=True)
    t.start()
    assert wait_asleep(t), call
print("exiting", flush=True)
"""


def test_lock__daemon_threads_waiting_at_exit_leave_no_claim(name, child):
    """The interpreter stops daemon threads at exit; one stopped while waiting for the
    exclusive lock must not leave its claim behind for others to take for a dead writer."""
    with shmap.create(name, 4, "u1") as seg:
        holder = child(HOLDER % (name, False))
        assert read_line(holder) == "locked"
        t0 = time.monotonic()
        proc = run_python(DAEMON_WAITERS % (name, name))
        assert proc.stdout == "exiting\n" and proc.stderr == ""
        assert time.monotonic() - t0 < 10
        info = seg.lock_info
        assert info["writer"] is None and not info["owner_died"] and info["dead_pid"] is None
        holder.kill()
        holder.wait(10)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an OwnerDiedWarning would fail the test
            with seg.lock(exclusive=True, timeout=10) as lk:
                assert lk.owner_died is None


LATE_DAEMON_WAITER = """
import atexit, threading, time
go = threading.Event()
def late():
    go.wait()
    import shmap
    shmap.open(%r, readonly=False).lock(exclusive=True)
# Registered before shmap is imported, so it runs after shmap's exit hook, and lets the
# daemon thread begin its wait then.
atexit.register(lambda: (go.set(), time.sleep(0.5)))
import shmap
threading.Thread(target=late, daemon=True).start()
print("exiting", flush=True)
"""


def test_lock__a_daemon_thread_that_begins_waiting_after_the_exit_hook_leaves_no_claim(
        name, child):
    """Only the exiting thread's own waits after the hook run to their end: a daemon
    thread's, begun while a later exit handler lets the GIL go, is ended as those begun
    before, rather than cut off at finalization with its claim on the lock."""
    with shmap.create(name, 4, "u1") as seg:
        holder = child(HOLDER % (name, False))
        assert read_line(holder) == "locked"
        proc = run_python(LATE_DAEMON_WAITER % name)
        assert proc.stdout == "exiting\n" and proc.stderr == ""
        info = seg.lock_info
        assert info["writer"] is None and not info["writer_waiting"], info
        holder.kill()
        holder.wait(10)


def test_lock__a_child_forked_while_a_thread_waits_exits_at_once(name):
    """The child has no waiting thread, so its exit hook has no wait to end. Were it to wait
    for the parent's, it would look 200 times, 5 ms apart (1 s): the child would go to sleep
    some 200 times, which no load brings about, where its exit takes one sleep or two."""
    with shmap.create(name, 4, "u1"):
        proc = run_python("""
import os, shmap, sys, threading, time
from procstate import wait_asleep
seg = shmap.open(%r, readonly=False)
t = threading.Thread(target=seg.wait, daemon=True)
t.start()
assert wait_asleep(t)
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    sys.exit(0)
usage = os.wait4(pid, 0)[2]
print(round(time.monotonic() - t0, 3), usage.ru_nvcsw)
""" % name)
    seconds, sleeps = proc.stdout.split()
    assert int(sleeps) < 50, proc.stdout
    assert float(seconds) < PROMPT, proc.stdout


def test_lock__a_wait_that_begins_after_the_exit_hook_ends_as_any_other(name, child):
    """Exit handlers registered before shmap was imported run after its exit hook, and so do
    __del__ methods at shutdown: a lock, wait or delete they start must end on its own terms
    (here a timeout, then the lock once the holder lets go), not park the exiting thread for
    ever."""
    seg = shmap.create(name, 4, "u1", keep=True)
    holder = child(SIGNALLED_HOLDER % (name, True))
    assert read_line(holder) == "locked"
    try:
        proc = run_python("""
import atexit, time
def late():
    import shmap
    s = shmap.open(%r, readonly=False)
    t0 = time.monotonic()
    try:
        with s.lock(timeout=0.3):
            print("locked")
    except TimeoutError:
        print("timed out", time.monotonic() - t0)
    s.close()
atexit.register(late)
import shmap
""" % name)
        said, waited = proc.stdout.strip().rsplit(" ", 1)
        assert said == "timed out" and 0.3 <= float(waited) < 0.3 + PROMPT, proc.stdout
    finally:
        os.kill(holder.pid, signal.SIGUSR1)
        assert read_line(holder) == "released"
    seg.close()
    shmap.delete(name)


def test_delete__is_not_starved_by_overlapping_readers(name, child):
    seg = shmap.create(name, 4, "u1", keep=True)
    start_overlapping_readers(name, child)
    t0 = time.monotonic()
    shmap.delete(name, timeout=10)
    assert time.monotonic() - t0 < 0.2 + PROMPT  # the readers drain in one hold (0.2 s)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    seg.close()


# Holds the lock until SIGUSR1. The holders delete() waits for are other processes': a
# lock this process holds makes delete() fail at once (see the next tests).
SIGNALLED_HOLDER = """
import shmap, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
seg = shmap.open(%r, readonly=False)
with seg.lock(exclusive=%r):
    print("locked", flush=True)
    signal.sigwait({signal.SIGUSR1})
print("released", flush=True)
"""


def test_delete__waits_for_a_lock_holder(name, child):
    seg = shmap.create(name, 4, "u1", keep=True)
    holder = child(SIGNALLED_HOLDER % (name, False))
    assert read_line(holder) == "locked"
    rounds = []

    def release_later():
        rounds.append(spin(0.3))  # runs only while delete() lets the GIL go
        os.kill(holder.pid, signal.SIGUSR1)

    t = threading.Thread(target=release_later)
    t0 = time.monotonic()
    t.start()
    try:
        shmap.delete(name, timeout=10)
    finally:
        t.join(10)
    assert 0.25 <= time.monotonic() - t0 < 0.3 + PROMPT  # the 0.3 s spin, then a prompt wake
    assert rounds and rounds[0] > 1000
    assert read_line(holder) == "released"
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    seg.array[:] = 3  # the memory stays until unmapped
    seg.close()


def test_delete__busy_and_timeout(name, child):
    with shmap.create(name, 4, "u1"):
        holder = child(SIGNALLED_HOLDER % (name, True))
        assert read_line(holder) == "locked"
        delete_refused_while_held(name, holder.pid)
        shmap.delete(name, force=True)  # force does not wait
        with pytest.raises(FileNotFoundError):
            shmap.info(name)


def os_threads():
    with open("/proc/self/status") as f:
        return int(f.read().split("Threads:")[1].split()[0])


@pytest.mark.parametrize("how", ["lock", "hold"])
def test_delete__own_lock_fails_at_once_with_edeadlk(name, how):
    """A lock this process holds (a Lock, or a Segment opened with hold=True), with no other
    Python thread to release it, would make delete() wait for itself: it fails at once, with
    errno EDEADLK, the shmap.Error that Segment.lock() raises on a Segment that holds the lock
    already."""
    assert threading.active_count() == 1
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, hold=True) as held, pytest.raises(shmap.Error) as locked:
        held.lock()  # what a lock that would wait for this process's own hold raises
    with shmap.open(name, readonly=False, hold=(how == "hold")) as seg, \
            (seg.lock(exclusive=True) if how == "lock" else contextlib.nullcontext()):
        t0 = time.monotonic()
        with pytest.raises(shmap.Error) as exc:
            shmap.delete(name, timeout=PROMPT + 1)  # beyond PROMPT: a wait would show
        assert time.monotonic() - t0 < PROMPT
        e = exc.value
        assert type(e) is type(locked.value) is shmap.Error
        assert e.errno == locked.value.errno == errno.EDEADLK
        assert e.code == -errno.EDEADLK and e.errname == "EDEADLK"
        assert name in str(e)
        assert shmap.info(name)["name"] == name  # nothing was removed
    shmap.delete(name, timeout=0)  # released: nothing left to wait for
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


def test_delete__own_lock_fails_at_once_beside_threads_that_are_not_python(name):
    """A thread that is not Python's (faulthandler's watchdog here; a BLAS pool, say) cannot
    release a shmap.Lock: with no other Python thread, delete() still fails at once, though
    the process has more than one thread."""
    faulthandler.dump_traceback_later(600)
    try:
        assert threading.active_count() == 1 and os_threads() > 1
        with shmap.create(name, 4, "u1") as seg, seg.lock():
            t0 = time.monotonic()
            with pytest.raises(shmap.Error) as exc:
                shmap.delete(name, timeout=PROMPT + 1)
            assert time.monotonic() - t0 < PROMPT
            assert exc.value.errno == errno.EDEADLK and name in str(exc.value)
    finally:
        faulthandler.cancel_dump_traceback_later()


def test_delete__own_lock_waits_while_another_thread_may_let_go(name):
    """Another thread of this process, which might release the lock: the deletion waits for
    this process's own lock, and says who holds it when it gives up."""
    idle = threading.Event()
    t = threading.Thread(target=idle.wait, daemon=True)
    t.start()
    try:
        with shmap.create(name, 4, "u1") as seg, seg.lock(exclusive=True):
            with pytest.raises(BlockingIOError) as exc:
                shmap.delete(name, timeout=0)
            assert exc.value.errno == errno.EBUSY
            assert "pid %d" % os.getpid() in str(exc.value)
            t0 = time.monotonic()
            with pytest.raises(TimeoutError) as exc:
                shmap.delete(name, timeout=0.25)
            assert 0.25 <= time.monotonic() - t0 < 0.25 + PROMPT
            assert "held by pid %d" % os.getpid() in str(exc.value)
            assert shmap.info(name)["name"] == name  # still there
    finally:
        idle.set()
        t.join(10)


def test_delete__locked_removes_the_name_under_this_process_lock(name):
    """locked=True under the exclusive lock this process holds: the name goes at once, the
    Segment and its array work on under the lock, which is released as usual."""
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, readonly=False) as seg:
        with seg.lock(exclusive=True):
            t0 = time.monotonic()
            shmap.delete(name, locked=True, timeout=PROMPT + 1)
            assert time.monotonic() - t0 < PROMPT
            with pytest.raises(FileNotFoundError):
                shmap.info(name)
            seg.array[:] = 7
            assert seg.lock_info["writer"] == os.getpid()
        assert list(seg.array) == [7] * 4
        assert seg.lock_info["writer"] is None


def test_delete__locked_without_the_exclusive_lock_raises_enolck_and_keeps_it(name):
    """locked=True with no exclusive lock held (none, or only a shared one of this
    process): shmap.Error with errno ENOLCK at once, and nothing removed. force overrides."""
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, readonly=False) as seg:
        for held in (contextlib.nullcontext(), seg.lock()):
            with held:
                with pytest.raises(shmap.Error) as exc:
                    shmap.delete(name, locked=True)
                e = exc.value
                assert e.errno == errno.ENOLCK and e.errname == "ENOLCK"
                assert e.strerror == ("%s: nobody holds its exclusive lock, which a delete under "
                                  "the lock needs: take it first" % name)
                assert shmap.info(name)["name"] == name
    shmap.delete(name, locked=True, force=True)
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


def test_delete__locked_under_shmap_lock_write_of_the_command_line(name):
    """A Python program run by `shmap lock --write` deletes the segment under that hold;
    under --read, the shared hold is no exclusive lock: ENOLCK, and the segment is kept."""
    shmap.create(name, 4, "u1", keep=True).close()
    code = ("import shmap, sys\n"
            "try:\n"
            "    shmap.delete(%r, locked=True)\n"
            "except shmap.Error as e:\n"
            "    print(e.errname)\n"
            "    sys.exit(3)\n" % name)
    cmd = [shmap_bin(), "lock", name, "--read", "--", sys.executable, "-c", code]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=python_env())
    assert (proc.returncode, proc.stdout) == (3, "ENOLCK\n"), proc.stderr
    assert shmap.info(name)["name"] == name
    # Without locked=True it would wait for its ancestor in vain: said so.
    plain = ("import shmap\n"
             "try:\n"
             "    shmap.delete(%r, timeout=0)\n"
             "except BlockingIOError as e:\n"
             "    print(e)\n" % name)
    proc = subprocess.run([shmap_bin(), "lock", name, "--", sys.executable, "-c", plain],
                          capture_output=True, text=True, timeout=60, env=python_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("(an ancestor of this process: to delete under its hold, pass "
                                "locked=True)\n")
    cmd[3] = "--write"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=python_env())
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


def test_delete__refuses_a_foreign_object_unless_forced(foreign):
    junk = foreign(b"\x00" * 8192)
    with pytest.raises(shmap.Error) as exc:
        shmap.delete(junk)
    assert exc.value.code == shmap.EFORMAT and "force" in str(exc.value)
    assert os.path.exists("/dev/shm/" + junk)
    shmap.delete(junk, force=True)
    assert not os.path.exists("/dev/shm/" + junk)
    with pytest.raises(FileNotFoundError):
        shmap.delete(junk, force=True)


# ---------------------------------------------------------------------------------------
# Ctrl-C: a process blocked in a call gets KeyboardInterrupt at once

BLOCKED = """
import shmap, sys, time
seg = shmap.open(%(name)r, readonly=False)
print("waiting", flush=True)
try:
    %(call)s
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
print("returned", flush=True)
"""

CALLS = {
    "wait": "seg.wait()",
    "read_frame": "seg.read_frame()",
    "lock": "seg.lock(exclusive=True)",
    "delete": "shmap.delete(%(name)r)",
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_sigint__interrupts_a_blocked_call(name, child, call):
    with shmap.create(name, (64, 64), "f4") as seg, seg.lock():  # lock and delete wait
        proc = child(BLOCKED % {"name": name, "call": CALLS[call] % {"name": name}})
        assert read_line(proc) == "waiting"
        assert wait_asleep(proc)  # blocked in the call
        assert proc.poll() is None
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        assert read_line(proc, timeout=10) == "interrupted"
        latency = time.monotonic() - t0
        assert proc.wait(10) == 3
        assert latency < PROMPT, latency  # the signal ends the wait, which has no timeout
        assert seg.lock_info["writer"] is None  # the interrupted lock was not taken
        assert shmap.info(name)["generation"] == 0  # nor was anything deleted or published
