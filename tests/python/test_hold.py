"""open(..., hold=True): CFITSIO's hold-while-open. A read-only open holds the shared lock and
a read-write open the exclusive one until close, so opens wait for each other, across
processes: waits, timeouts, Ctrl-C, killed holders, and what close() releases."""
import errno
import os
import pickle
import select
import signal
import threading
import time
import warnings

import pytest

import shmap
from conftest import PROMPT, read_line, run_cli, run_python, run_python_as_nobody
from procstate import wait_asleep, wait_sleeps

# A child that opens the segment with a hold, says when it waits and when it holds, keeps
# the hold for `keep` seconds (or until killed) and closes it, then says when (the monotonic
# clock, which all processes share) it began to close.
HOLDER = """
import shmap, time
print("opening", flush=True)
seg = shmap.open(%(name)r, readonly=%(readonly)r, hold=True, timeout=%(timeout)r)
print("held", seg.held, flush=True)
time.sleep(%(keep)r)
closing = time.monotonic()
seg.close()
print("closed", closing, flush=True)
"""


def holder(child, name, readonly, keep=60, timeout=None):
    return child(HOLDER % {"name": name, "readonly": readonly, "keep": keep,
                           "timeout": timeout})


def silent(proc, seconds):
    """True if the child prints nothing and keeps running for `seconds`."""
    ready = select.select([proc.stdout.fileno()], [], [], seconds)[0]
    return not ready and proc.poll() is None


def test_hold__read_write_excludes_another_process_until_close(name, child):
    with shmap.create(name, 4, "u1") as seg:
        held = shmap.open(name, readonly=False, hold=True)
        assert held.held is True and held.readonly is False
        assert seg.lock_info["writer"] == os.getpid()
        proc = holder(child, name, readonly=True)
        assert read_line(proc) == "opening"
        assert wait_asleep(proc) and silent(proc, 0)  # the read-only hold waits for ours
        t0 = time.monotonic()
        held.close()
        assert held.held is False
        assert read_line(proc, timeout=10) == "held True"
        assert time.monotonic() - t0 < PROMPT  # woken by the release, not by a poll
        assert seg.lock_info["shared"] == 1 and seg.lock_info["writer"] is None


def test_hold__waits_in_this_process_for_another_processes_hold(name, child):
    with shmap.create(name, 4, "u1") as seg:
        proc = holder(child, name, readonly=False, keep=0.5)
        assert read_line(proc) == "opening"
        assert read_line(proc) == "held True"
        t0 = time.monotonic()
        held_at = []
        for readonly in (True, False):
            with shmap.open(name, readonly=readonly, hold=True) as mine:
                held_at.append(time.monotonic())
                assert mine.held
                assert (seg.lock_info["shared"], seg.lock_info["writer"]) == (
                    (1, None) if readonly else (0, os.getpid()))
        closed, closing = read_line(proc).split()
        assert closed == "closed"
        assert float(closing) < held_at[0]  # the first hold waited for the child's close
        assert held_at[0] - t0 < 0.5 + PROMPT  # its 0.5 s, and a prompt wake
    assert not seg.held  # a Segment opened without hold never holds


def test_hold__read_only_holds_share(name):
    with shmap.create(name, 4, "u1") as seg, shmap.open(name, hold=True) as mine:
        assert mine.held and mine.readonly
        assert seg.lock_info["shared"] == 1
        out = run_python(
            "import shmap\n"
            "a = shmap.open(%r, hold=True, timeout=0)\n"
            "b = shmap.open(%r, hold=True, timeout=0)\n"
            "print(a.held, b.held, a.lock_info['shared'])\n"
            "try:\n"
            "    shmap.open(%r, readonly=False, hold=True, timeout=0)\n"
            "except BlockingIOError as e:\n"
            "    print('busy', e.errno)\n" % (name, name, name))
        assert out.stdout.splitlines() == ["True True 3", "busy %d" % errno.EBUSY]
        assert seg.lock_info["shared"] == 1


def test_hold__timeout_0_fails_at_once_when_busy(name):
    with shmap.create(name, 4, "u1") as seg, \
            shmap.open(name, readonly=False, hold=True) as mine:
        for readonly in (True, False):
            t0 = time.monotonic()
            with pytest.raises(BlockingIOError) as exc:
                shmap.open(name, readonly=readonly, hold=True, timeout=0)
            assert time.monotonic() - t0 < PROMPT
            assert exc.value.errno == errno.EBUSY and exc.value.errname == "EBUSY"
            assert name in str(exc.value) and "timeout=0" in str(exc.value)
            assert "held by pid %d" % os.getpid() in str(exc.value)
        assert mine.held and seg.lock_info["writer"] == os.getpid()
        assert seg.lock_info["shared"] == 0  # the failed opens left nothing held


def test_hold__timeout_names_the_holders(name, child):
    with shmap.create(name, 4, "u1") as seg:
        proc = holder(child, name, readonly=False)
        assert read_line(proc) == "opening"
        assert read_line(proc) == "held True"
        for readonly, timeout in ((True, 0.3), (False, 0.12)):
            t0 = time.monotonic()
            with pytest.raises(TimeoutError) as exc:
                shmap.open(name, readonly=readonly, hold=True, timeout=timeout)
            elapsed = time.monotonic() - t0
            assert timeout <= elapsed < timeout + PROMPT, elapsed
            assert exc.value.errno == errno.ETIMEDOUT
            msg = str(exc.value)
            assert "timed out after %g s" % timeout in msg
            assert "the exclusive lock is held by pid %d" % proc.pid in msg
        assert seg.lock_info["writer"] == proc.pid  # still the child's
        assert seg.lock_info["writer_waiting"] is False


def test_hold__a_timeout_keeps_the_writers_claim_while_it_waits(name, child):
    # A read-write hold that waits for readers keeps new readers out, as lock() does.
    with shmap.create(name, 4, "u1") as seg, shmap.open(name, hold=True) as mine:
        proc = holder(child, name, readonly=False, timeout=30)
        assert read_line(proc) == "opening"
        deadline = time.monotonic() + 10
        while not seg.lock_info["writer_waiting"] and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seg.lock_info["writer"] == proc.pid and seg.lock_info["writer_waiting"]
        with pytest.raises(BlockingIOError):
            shmap.open(name, hold=True, timeout=0)  # a new reader queues behind the writer
        mine.close()
        assert read_line(proc, timeout=10) == "held True"


@pytest.mark.parametrize("timeout", [None, 10])
def test_hold__the_wait_lets_other_threads_run(name, timeout):
    # Another held open in this process waits like one in another process; the waiting
    # thread releases the GIL (the main thread runs and closes the hold) and, not being the
    # main thread, does not take it back to look for signals.
    with shmap.create(name, 4, "u1") as seg:
        held = shmap.open(name, readonly=False, hold=True)
        got = []
        waiter = threading.Thread(
            target=lambda: got.append(shmap.open(name, hold=True, timeout=timeout)))
        before = shmap._gil_checks()
        waiter.start()
        assert wait_asleep(waiter)
        assert wait_sleeps(waiter, 10)  # ten slices of the wait, each with its check
        assert waiter.is_alive() and not got
        assert shmap._gil_checks() == before
        assert seg.lock_info["shared"] == 0
        held.close()
        waiter.join(10)
        assert not waiter.is_alive() and got[0].held
        assert seg.lock_info["shared"] == 1
        got[0].close()
        assert not seg.locked


# Ctrl-C: a process blocked in a held open gets KeyboardInterrupt at once, and holds nothing
BLOCKED = """
import shmap, sys
print("waiting", flush=True)
try:
    shmap.open(%r, readonly=False, hold=True, timeout=%r)
except KeyboardInterrupt:
    print("interrupted", shmap.mappings() == [], flush=True)
    sys.exit(3)
print("returned", flush=True)
"""


@pytest.mark.parametrize("timeout", [None, 60])
def test_hold__sigint_interrupts_the_wait(name, child, timeout):
    with shmap.create(name, 4, "u1") as seg, shmap.open(name, hold=True):
        proc = child(BLOCKED % (name, timeout))
        assert read_line(proc) == "waiting"
        deadline = time.monotonic() + 10
        while not seg.lock_info["writer_waiting"] and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seg.lock_info["writer"] == proc.pid  # it waits, with its claim
        assert wait_asleep(proc)
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        assert read_line(proc, timeout=10) == "interrupted True"  # nothing left open
        latency = time.monotonic() - t0
        assert proc.wait(10) == 3
        assert latency < PROMPT, latency  # not the wait's 60 s (or for ever)
        info = seg.lock_info
        assert info["writer"] is None and info["shared"] == 1  # its claim was undone
        with shmap.open(name, hold=True, timeout=0) as again:  # readers are let in again
            assert again.held


@pytest.mark.parametrize("readonly", [True, False])
def test_hold__killed_holder_does_not_block_the_next(name, child, readonly):
    with shmap.create(name, (2, 2), "f4") as seg:
        proc = holder(child, name, readonly=readonly)
        assert read_line(proc) == "opening"
        assert read_line(proc) == "held True"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        for mine_readonly in (False, True):
            t0 = time.monotonic()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                mine = shmap.open(name, readonly=mine_readonly, hold=True, timeout=10)
            elapsed = time.monotonic() - t0
            assert elapsed < PROMPT, elapsed  # at once, not at the 10 s timeout
            assert mine.held
            died = [w for w in caught if issubclass(w.category, shmap.OwnerDiedWarning)]
            # Only the first exclusive holder after a dead writer is told.
            if not readonly and not mine_readonly:
                assert len(died) == 1 and "pid %d" % proc.pid in str(died[0].message)
                assert seg.lock_info["dead_pid"] == proc.pid
            else:
                assert died == []
            mine.close()
        assert all(a["pid"] != proc.pid for a in seg.attached)


def test_hold__owner_died_warning_made_an_error_closes(name, child):
    with shmap.create(name, 4, "u1") as seg:
        proc = holder(child, name, readonly=False)
        assert read_line(proc) == "opening"
        assert read_line(proc) == "held True"
        proc.kill()
        proc.wait(30)
        with warnings.catch_warnings():
            warnings.simplefilter("error", shmap.OwnerDiedWarning)
            with pytest.raises(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
                shmap.open(name, readonly=False, hold=True, timeout=10)
        assert seg.locked is False
        # Only seg's reference is left: the held open was closed.
        assert [m["refs"] for m in shmap.mappings() if m["name"] == name] == [1]
        # It repaired nothing: the next writer is told of the same death.
        out = run_cli("lock", name, "--", "true")
        assert "previous writer (pid %d) died" % proc.pid in out.stderr


def test_hold__close_releases__arrays_keep_the_memory_not_the_lock(name):
    with shmap.create(name, 4, "u1") as seg:
        held = shmap.open(name, readonly=False, hold=True)
        arr = held.array
        arr[:] = 5
        held.close()  # unmap-pending: the array keeps the mapping
        assert held.held is False and held.closed
        assert seg.locked is False
        out = run_python("import shmap\n"
                         "with shmap.open(%r, readonly=False, hold=True, timeout=0) as s:\n"
                         "    print(s.held, list(s.array))\n" % name)
        assert out.stdout == "True [5, 5, 5, 5]\n"
        assert list(arr) == [5, 5, 5, 5]  # the array still maps the memory
        del arr
        # The end of a with block, and dropping a Segment, release it too.
        assert seg.locked is False
        held = shmap.open(name, hold=True)
        assert seg.lock_info["shared"] == 1
        del held
        assert seg.locked is False


def test_hold__a_held_segment_refuses_lock(name):
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, readonly=False, hold=True) as held:
        for exclusive in (False, True):
            with pytest.raises(shmap.Error) as exc:
                held.lock(exclusive=exclusive, timeout=0)
            assert exc.value.errno == errno.EDEADLK
            assert "hold=True" in str(exc.value) and "exclusive lock" in str(exc.value)
        assert held.lock_info["writer"] == os.getpid()
    with shmap.open(name, hold=True) as held:  # read-only: the shared lock
        with pytest.raises(shmap.Error, match="shared lock until close"):
            held.lock()


def test_hold__arguments(name):
    with shmap.create(name, 4, "u1"):
        with pytest.raises(TypeError, match="hold=True"):
            shmap.open(name, timeout=1)
        shmap.open(name, timeout=None).close()  # None is the default: no hold needed
        for bad in (-1, float("nan")):
            with pytest.raises(ValueError, match="timeout"):
                shmap.open(name, hold=True, timeout=bad)
        with pytest.raises(ValueError, match="raw"):
            shmap.open(name, hold=True, dtype="u1", shape=4)
        with pytest.raises(ValueError, match=r"hold=True is refused with private=True: "
                                             r"holding the segment's lock while open needs "
                                             r"write access") as exc:
            shmap.open(name, hold=True, private=True)
        assert "Segment.lock()" in str(exc.value)  # which a private handle may still take
        with pytest.raises(TypeError):
            shmap.open(name, True, None, None)  # hold and timeout are keyword-only
        with shmap.open(name, hold=True, timeout=float("inf")) as held:  # inf: for ever
            assert held.held
            assert repr(held).endswith(" read-only held>")
        assert repr(held).endswith(" closed>")
        with shmap.open(name) as plain:
            assert plain.held is False and not repr(plain).endswith("held>")
    with pytest.raises(FileNotFoundError):
        shmap.open(name, hold=True, timeout=0)


def test_hold__pickles_as_a_plain_open(name):
    with shmap.create(name, 4, "u1"), shmap.open(name, readonly=False, hold=True) as held:
        copy = pickle.loads(pickle.dumps(held))  # a hold is this process's, not a name's
        try:
            assert copy.held is False and copy.readonly is False
        finally:
            copy.close()


def test_hold__forked_child_holds_nothing(name):
    with shmap.create(name, 4, "u1") as seg, \
            shmap.open(name, readonly=False, hold=True) as held:
        pid = os.fork()
        if pid == 0:  # the child: the hold is its parent's
            ok = False
            try:
                ok = held.held is False and "held" not in repr(held)
                held.close()  # drops the child's reference only
                ok = ok and seg.lock_info["writer"] == os.getppid()
            finally:
                os._exit(0 if ok else 1)  # never back into pytest
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert held.held and seg.lock_info["writer"] == os.getpid()


def test_hold__delete_waits_for_a_hold(name, child):
    """Another process's hold: a hold of this process makes delete() fail at once instead
    (below)."""
    shmap.create(name, 4, "u1", keep=True).close()
    holder = child("import shmap, signal\n"
                   "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
                   "with shmap.open(%r, hold=True):\n"
                   "    print('held', flush=True)\n"
                   "    signal.sigwait({signal.SIGUSR1})\n"
                   "print('closed', flush=True)\n" % name)
    assert read_line(holder) == "held"
    with pytest.raises(BlockingIOError) as exc:
        shmap.delete(name, timeout=0)
    assert str(exc.value).endswith("shared hold by pid %d" % holder.pid)
    os.kill(holder.pid, signal.SIGUSR1)
    assert read_line(holder) == "closed"
    shmap.delete(name, timeout=0)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_hold__delete_refuses_this_process_hold_at_once(name):
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, hold=True):
        # One thread: nobody else could let go, so it would wait for itself, for ever.
        assert threading.active_count() == 1
        with pytest.raises(shmap.Error) as exc:
            shmap.delete(name)
        assert exc.value.errno == errno.EDEADLK
        assert "this process holds 1 shared hold" in str(exc.value)
    shmap.delete(name, timeout=0)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to another user")
def test_hold__read_only_without_write_permission_is_refused(name):
    shmap.create(name, 4, "u1", keep=True, mode=0o644).close()
    code = (
        "import shmap\n"
        "try:\n"
        "    shmap.open(%r, hold=True)\n"
        "except PermissionError as e:\n"
        "    print(type(e).__name__, isinstance(e, shmap.Error), e.errname,\n"
        "          shmap.mappings() == [])\n" % name)
    proc = run_python_as_nobody(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["ReadOnlyError True SHMAP_EREADONLY True"]


def test_hold__documented():
    import inspect
    sig = inspect.signature(shmap.open)
    for arg, default in (("hold", False), ("timeout", None)):
        assert sig.parameters[arg].kind is inspect.Parameter.KEYWORD_ONLY
        assert sig.parameters[arg].default is default
    doc = shmap.open.__doc__
    for text in ("hold-while-open", "shared lock", "exclusive lock", "until close()",
                 "KeyboardInterrupt", "TimeoutError", "BlockingIOError", "OwnerDiedWarning"):
        assert text in doc, text
    assert "hold=True" in shmap.Segment.held.__doc__
    assert "hold=True" in shmap.Segment.lock.__doc__
