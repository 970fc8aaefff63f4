"""read_frame() and a writer killed in the middle of a frame: a try (timeout=0) and a wait
give the same answer, the torn frame with OwnerDiedWarning, rather than BlockingIOError for
a frame that will never come; a live writer in the middle of a frame still makes a try
raise BlockingIOError. `shmap watch` shows the torn frame's statistics, marked, and
Segment.write_state names the writer at work or the one that died."""
import errno
import os
import subprocess
import sys
import warnings

import pytest

import shmap
from conftest import python_env, read_line, run_cli

WRITER = ("import shmap, time\n"
          "seg = shmap.open(%r, readonly=False)\n"
          "frame = seg.write_begin()\n"
          "frame[:8] = 9\n"
          "print('writing', flush=True)\n"
          "time.sleep(60)\n")


@pytest.fixture
def mid_frame(name, child):
    """A published segment of 16 u1 (all 1), and a child caught writing 9 into the first 8
    of them: (segment, the child's Popen)."""
    with shmap.create(name, 16, "u1") as seg:
        seg.array[:] = 1
        seg.publish()
        proc = child(WRITER % name)
        assert read_line(proc) == "writing"
        yield seg, proc


def test_torn_frame__a_live_writer_makes_a_try_wait(mid_frame):
    seg, proc = mid_frame
    seg.seen = 0
    with pytest.raises(BlockingIOError) as exc:
        seg.read_frame(timeout=0)
    assert exc.value.errno == errno.EAGAIN
    assert "pid %d" % proc.pid in str(exc.value)
    assert seg.seen == 0


@pytest.mark.parametrize("timeout", [0, 0.001, 10])
def test_torn_frame__a_dead_writer_is_reported_by_a_try_as_by_a_wait(mid_frame, timeout):
    seg, proc = mid_frame
    proc.kill()
    proc.wait(30)
    with shmap.open(seg.name) as ro:
        for reader in (seg, ro):
            reader.seen = 0
            with pytest.warns(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
                f = reader.read_frame(timeout=timeout)
            # Frame 0, which the dead writer overwrote half of.
            assert f.torn is True and f.number == 0 and f.missed == 0
            assert f.data.tolist() == [9] * 8 + [1] * 8
            assert reader.seen == 1


def test_torn_frame__a_reader_waiting_for_the_next_frame_is_told(mid_frame):
    """A reader that had frame 0 and waits for frame 1 is told its writer died in it."""
    seg, proc = mid_frame
    seg.seen = 1
    with pytest.raises(TimeoutError):
        seg.read_frame(timeout=0.05)
    proc.kill()
    proc.wait(30)
    with pytest.warns(shmap.OwnerDiedWarning, match="pid %d" % proc.pid):
        f = seg.read_frame(timeout=10)
    assert f.torn is True and f.number == 1 and f.missed == 0
    assert seg.seen == 2
    with pytest.raises(BlockingIOError):
        seg.read_frame(timeout=0)


def test_torn_frame__the_frame_written_again_reaches_the_reader_given_it_torn(mid_frame,
                                                                             child):
    """The next writer (another process) takes the torn frame over and publishes it as frame
    2, frame 1 counting as lost: a reader given frame 1 torn and waiting for the next gets it
    whole, and one that had only frame 0 is told it missed one."""
    seg, proc = mid_frame
    proc.kill()
    proc.wait(30)
    with shmap.open(seg.name) as ro:
        ro.seen = 1
        with pytest.warns(shmap.OwnerDiedWarning):
            assert ro.read_frame(timeout=10).number == 1
        writer = child("import shmap, time\n"
                       "seg = shmap.open(%r, readonly=False)\n"
                       "time.sleep(0.2)\n"
                       "frame = seg.write_begin()\n"
                       "frame[:] = 7\n"
                       "seg.publish()\n" % seg.name)
        f = ro.read_frame(timeout=30)
        assert writer.wait(30) == 0
        assert f.torn is False and f.number == 2 and f.missed == 0
        assert f.data.tolist() == [7] * 16
        assert ro.generation == 3
        seg.seen = 1
        f = seg.read_frame(timeout=0)
        assert f.number == 2 and f.missed == 1 and f.data.tolist() == [7] * 16


def test_torn_frame__a_warning_made_an_error_gives_nothing(mid_frame):
    """With OwnerDiedWarning an error, read_frame raises and seen stays: the next call
    (warnings shown) is given the torn frame."""
    seg, proc = mid_frame
    proc.kill()
    proc.wait(30)
    with shmap.open(seg.name) as ro:
        ro.seen = 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", shmap.OwnerDiedWarning)
            with pytest.raises(shmap.OwnerDiedWarning):
                ro.read_frame(timeout=10)
        assert ro.seen == 1
        with pytest.warns(shmap.OwnerDiedWarning):
            f = ro.read_frame(timeout=10)
        assert f.torn is True and f.number == 1 and ro.seen == 2


def test_torn_frame__watch_shows_the_torn_statistics_marked(mid_frame):
    seg, proc = mid_frame
    out = run_cli("watch", seg.name, "--count", "1", "--interval", "0.1").stdout
    assert "no statistics yet: pid %d is writing a frame" % proc.pid in out
    proc.kill()
    proc.wait(30)
    out = run_cli("watch", seg.name, "--count", "1", "--interval", "0.1").stdout
    assert out.endswith("min 1  max 9  mean 5  torn: writer pid %d died mid-frame\n"
                        % proc.pid), out


def test_torn_frame__write_state_names_the_writer_then_says_it_died(mid_frame):
    """write_state tells a reader why there is no whole frame: a writer at work, then (killed
    with SIGKILL) one that abandoned the frame; through a read-only Segment too."""
    seg, proc = mid_frame
    with shmap.open(seg.name) as ro:
        assert seg.write_state == ro.write_state == ("in_progress", proc.pid)
        proc.kill()
        proc.wait(30)
        assert seg.write_state == ro.write_state == ("abandoned", proc.pid)
        frame = seg.write_begin()  # a writer takes over the frame
        assert seg.write_state == ("in_progress", os.getpid())
        frame[:] = 2
        seg.publish()
        assert seg.write_state == ro.write_state == ("none", None)


def test_torn_frame__write_state_of_a_quiet_segment(name):
    with shmap.create(name, 4, "u1") as seg:
        assert seg.write_state == ("none", None)
        seg.publish()
        assert seg.write_state == ("none", None)
        assert "abandoned" in shmap.Segment.write_state.__doc__
    with pytest.raises(ValueError, match="closed"):
        seg.write_state


def test_torn_frame__write_state_of_a_raw_mapping(foreign):
    with shmap.open(foreign(b"\0" * 16), dtype="u1", shape=16) as raw:
        with pytest.raises(shmap.Error) as exc:
            raw.write_state
        assert exc.value.code == shmap.ERAW


ABORTER = ("import shmap, sys\n"
           "seg = shmap.open(%r, readonly=False)\n"
           "frame = seg.write_begin()\n"
           "try:\n"
           "    frame[:8] = 9\n"
           "    raise OSError('camera gone')\n"
           "except OSError:\n"
           "    seg.write_abort()\n"
           "print('aborted', flush=True)\n"
           "sys.stdin.readline()\n"
           "frame = seg.write_begin()\n"
           "frame[:] = 3\n"
           "seg.publish()\n"
           "print('published', flush=True)\n"
           "sys.stdin.readline()\n")


def test_torn_frame__readers_wait_for_a_frame_its_writer_aborted_and_get_it_rewritten(name):
    """A writer whose frame fails half-way gives it up with write_abort(): readers wait for
    that frame as for one being written (never given it torn while its writer lives), the
    writer begins it again without being refused, and readers get it rewritten, whole."""
    with shmap.create(name, 16, "u1") as seg:
        seg.array[:] = 1
        seg.publish()
        proc = subprocess.Popen([sys.executable, "-c", ABORTER % name], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, bufsize=0, env=python_env())
        try:
            assert read_line(proc) == "aborted"
            assert seg.write_state == ("aborted", proc.pid)
            seg.seen = 1  # a reader that has had frame 0
            with pytest.raises(BlockingIOError, match="pid %d aborted it" % proc.pid):
                seg.read_frame(timeout=0)
            out = run_cli("watch", name, "--count", "1", "--interval", "0.1").stdout
            assert out.endswith("no statistics yet: pid %d aborted a frame\n" % proc.pid), out
            proc.stdin.write(b"\n")
            f = seg.read_frame(timeout=10)
            assert f.torn is False and f.number == 1 and f.missed == 0
            assert f.data.tolist() == [3] * 16
            assert read_line(proc) == "published"
            assert seg.write_state == ("none", None)
        finally:
            proc.kill()
            proc.wait(30)


def test_torn_frame__write_abort_without_a_write_is_refused(name):
    with shmap.create(name, 4, "u1") as seg:
        with pytest.raises(shmap.Error, match="no frame write in progress") as exc:
            seg.write_abort()
        assert exc.value.code == shmap.EINVAL
        seg.write_begin()
        seg.write_abort()
        with pytest.raises(shmap.Error):
            seg.write_abort()
        with shmap.open(name) as ro:
            with pytest.raises(shmap.ReadOnlyError):
                ro.write_abort()
        assert "write_abort" in shmap.Segment.write_begin.__doc__
    with pytest.raises(ValueError, match="closed"):
        seg.write_abort()
