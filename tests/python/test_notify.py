"""Change notification from Python: publish, wait, seen, write_begin and read_frame (rings
included), across threads, processes and the `shmap` command."""
import errno
import threading
import time
import warnings

import numpy as np
import pytest

import shmap
from conftest import PROMPT, ended_wait, read_line, run_cli, spin
from procstate import wait_asleep


def test_wait__returns_the_new_generation(name):
    with shmap.create(name, 4, "u1") as w, shmap.open(name) as r:
        assert r.seen == 0 and w.seen == 0
        w.publish()
        w.publish()
        assert r.wait(timeout=0) == 2  # published since: at once
        assert r.seen == 2
        with pytest.raises(BlockingIOError) as exc:
            r.wait(timeout=0)
        assert exc.value.errno == errno.EAGAIN and name in str(exc.value)
        t0 = time.monotonic()
        with pytest.raises(TimeoutError) as exc:
            r.wait(timeout=0.2)
        assert 0.2 <= time.monotonic() - t0 < 0.2 + PROMPT
        assert exc.value.errno == errno.ETIMEDOUT
        assert "timed out after 0.2 s waiting for a generation newer than 2" in str(exc.value)
        assert r.seen == 2
        r.seen = 0  # back: the next wait returns at once
        assert r.wait() == 2


def test_wait__seen_starts_at_the_generation_at_open(name):
    with shmap.create(name, 4, "u1") as w:
        for _ in range(3):
            w.publish()
        with shmap.open(name) as r:
            assert r.seen == 3 == r.generation
            with pytest.raises(BlockingIOError):
                r.wait(timeout=0)
            with pytest.raises(ValueError):
                r.seen = -1
            with pytest.raises(AttributeError):
                del r.seen
            with pytest.raises(TypeError):
                r.seen = 1.5


def refs(name):
    """The reference counts of the mappings of this process for a segment, sorted."""
    return sorted(m["refs"] for m in shmap.mappings() if m["name"] == name)


def test_wait__second_open_in_this_process_starts_at_its_own_generation(name):
    """A later open shares the mapping of an earlier one (same access), yet its seen is the
    generation at its own open, not at the mapping's: what came before it is not new."""
    with shmap.create(name, 4, "u1") as w, shmap.open(name) as first:
        assert first.seen == 0
        w.publish()
        w.publish()
        with shmap.open(name) as later:
            assert refs(name) == [1, 2]  # the creator's mapping, and first's shared by later
            assert later.seen == 2 == later.generation
            with pytest.raises(BlockingIOError):
                later.wait(timeout=0)
            w.publish()
            assert later.wait(timeout=0) == 3
        assert first.wait(timeout=0) == 3  # first's own seen is still its own


def test_wait__exist_ok_of_an_existing_segment_starts_at_the_generation_now(name):
    with shmap.create(name, 4, "u1") as w:
        for _ in range(3):
            w.publish()
        with shmap.create(name, 4, "u1", exist_ok=True) as again:
            assert refs(name) == [2]  # the creator's mapping, shared
            assert again.seen == 3 == again.generation
            with pytest.raises(BlockingIOError):
                again.wait(timeout=0)


def test_read_frame__ring_later_opener_gets_only_later_frames(name):
    with shmap.create(name, (4, 2), "i2", ring=True) as w, shmap.open(name) as first:
        for k in range(3):
            w.write_begin()[:] = k
            w.publish()
        with shmap.open(name) as later:
            assert refs(name) == [1, 2]
            with pytest.raises(BlockingIOError):
                later.read_frame(timeout=0)  # frames 0-2 came before it
            w.write_begin()[:] = 3
            w.publish()
            f = later.read_frame(timeout=0)
            assert (f.number, f.missed) == (3, 0) and (f.data == 3).all()
        assert first.read_frame(timeout=0).number == 0  # the first opener had them all


def test_wait__another_thread_runs_and_publishes(name):
    with shmap.create(name, 4, "u1") as seg, shmap.open(name) as r:
        rounds = []

        def publish_later():
            rounds.append(spin(0.3))  # needs the GIL, which the waiter must have let go
            seg.publish()

        t = threading.Thread(target=publish_later)
        t0 = time.monotonic()
        t.start()
        try:
            assert r.wait(timeout=10) == 1
        finally:
            t.join(10)
        assert 0.25 <= time.monotonic() - t0 < 0.3 + PROMPT  # the 0.3 s spin, a prompt wake
        assert rounds[0] > 1000


def test_wait__wakes_for_a_publish_from_the_cli(name):
    with shmap.create(name, 3, "i4", keep=True) as seg:
        got = []
        t = threading.Thread(target=lambda: got.append(seg.wait(timeout=10)))
        t.start()
        assert wait_asleep(t)  # waiting already: the publish must wake it
        run_cli("set", name, "1", "5")
        t.join(10)
        assert got == [1]
        assert seg.array.tolist() == [0, 5, 0]


def test_wait__deleted_segment_ends_the_wait(name):
    seg = shmap.create(name, 4, "u1", keep=True)
    got, elapsed = ended_wait(lambda: seg.wait(timeout=10), shmap.Error,
                              lambda: shmap.delete(name))
    assert elapsed < PROMPT  # told at once, not at the 10 s timeout
    seg.close()
    assert len(got) == 1
    assert got[0].code == shmap.EREMOVED and got[0].errname == "SHMAP_EREMOVED"
    assert name in str(got[0])


def test_wait__closing_the_segment_ends_a_wait_in_it(name):
    seg = shmap.create(name, 4, "u1")
    got, _ = ended_wait(lambda: seg.wait(timeout=10), ValueError, seg.close, join=5)
    assert [str(e) for e in got] == ["segment '%s' was closed while waiting" % name]


def test_write_begin__plain_segment_is_the_whole_array(name):
    with shmap.create(name, (2, 3), "f4") as seg:
        frame = seg.write_begin()
        assert frame.shape == (2, 3) and frame.dtype == np.float32
        assert frame.flags.writeable and np.shares_memory(frame, seg.array)
        with pytest.raises(shmap.Error) as exc:
            seg.write_begin()  # one write at a time
        assert exc.value.errno == errno.EALREADY
        frame[:] = 4
        seg.publish()
        assert seg.generation == 1
        with shmap.open(name) as r:
            r.seen = 0
            f = r.read_frame(timeout=0)
            assert isinstance(f, shmap.Frame) and isinstance(f, tuple)
            assert f.number == 0 and f.missed == 0 and f.torn is False
            assert f.data.shape == (2, 3) and (f.data == 4).all()
            assert f.data.flags.owndata and f.data.flags.writeable  # a copy
            data, number, missed, torn = f
            assert number == 0 and r.seen == 1
            with pytest.raises(shmap.Error) as exc:
                r.write_begin()
            assert exc.value.code == shmap.EREADONLY


def test_read_frame__ring_reports_missed_frames(name):
    with shmap.create(name, (4, 2, 3), "i2", ring=True) as w, shmap.open(name) as r:
        assert w.ring and r.ring and r.shape == (4, 2, 3)
        for k in range(10):
            frame = w.write_begin()
            assert frame.shape == (2, 3)
            assert np.shares_memory(frame, w.array[k % 4])
            frame[:] = k
            w.publish()
        f = r.read_frame(timeout=1)  # frames 0-5 are overwritten: 6 is the oldest left
        assert (f.number, f.missed) == (6, 6)
        assert f.data.shape == (2, 3) and (f.data == 6).all()
        for k in (7, 8, 9):
            f = r.read_frame(timeout=1)
            assert (f.number, f.missed) == (k, 0) and (f.data == k).all()
        with pytest.raises(BlockingIOError):
            r.read_frame(timeout=0)
        with pytest.raises(TimeoutError, match="waiting for a frame after 10"):
            r.read_frame(timeout=0.1)
        r.seen = 0
        assert r.read_frame().number == 6


def test_read_frame__python_writer_process__never_torn(name, child):
    """A writer process writes frames as fast as it can; every frame read is whole."""
    n = 300
    with shmap.create(name, (4, 128, 128), "f4", ring=True):
        r = shmap.open(name)
        proc = child(
            "import shmap\n"
            "seg = shmap.open(%r, readonly=False)\n"
            "print('ready', flush=True)\n"
            "for k in range(%d):\n"
            "    frame = seg.write_begin()\n"
            "    frame[:] = k\n"
            "    seg.publish()\n"
            "print('done', flush=True)\n" % (name, n))
        assert read_line(proc) == "ready"
        numbers, missed = [], 0
        while not numbers or numbers[-1] < n - 1:
            f = r.read_frame(timeout=10)
            assert f.data.min() == f.data.max() == f.number, "torn frame %d" % f.number
            assert not numbers or f.number > numbers[-1]
            numbers.append(f.number)
            missed += f.missed
        assert read_line(proc) == "done"
        assert proc.wait(10) == 0
        assert len(numbers) + missed == n
        r.close()


def test_read_frame__cli_writer(name):
    run_cli("create", name, "i32", "2", "3")
    with shmap.open(name) as r:
        run_cli("fill", name, "7")
        f = r.read_frame(timeout=5)
        assert f.number == 0 and f.data.tolist() == [[7, 7, 7], [7, 7, 7]]
        run_cli("fill", name, "ramp")
        f = r.read_frame(timeout=5)
        assert f.number == 1 and f.data.ravel().tolist() == [0, 1, 2, 3, 4, 5]


def test_read_frame__writer_died_mid_frame(name, child):
    with shmap.create(name, 16, "u1") as seg:
        seg.publish()
        proc = child(
            "import shmap, time\n"
            "seg = shmap.open(%r, readonly=False)\n"
            "frame = seg.write_begin()\n"
            "frame[:8] = 9\n"
            "print('writing', flush=True)\n"
            "time.sleep(60)\n" % name)
        assert read_line(proc) == "writing"
        proc.kill()
        proc.wait(30)
        seg.seen = 0
        with pytest.warns(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
            f = seg.read_frame(timeout=10)
        assert f.torn is True and f.number == 0
        assert f.data[:8].tolist() == [9] * 8


def test_read_frame__clean_frames_issue_no_warning(name):
    with shmap.create(name, 4, "u1") as seg:
        seg.write_begin()[:] = 1
        seg.publish()
        seg.seen = 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert seg.read_frame(timeout=1).torn is False


def test_notify__closed_segment(name):
    seg = shmap.create(name, 4, "u1")
    seg.close()
    for call in (seg.wait, seg.read_frame, seg.write_begin, seg.publish):
        with pytest.raises(ValueError, match="closed"):
            call()
