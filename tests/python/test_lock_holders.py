"""Segment.lock_holders(): the library's sentence on who holds a segment's lock, as other
processes that hold it, die holding it, or share it make it read."""
import os

import pytest

import shmap
from conftest import read_line

# A child that opens the segment read-write, takes a lock, says so and waits to be killed.
HOLDER = """
import shmap, time
seg = shmap.open(%r, readonly=False)
lk = seg.lock(exclusive=%r)
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_holders__names_a_child_holding_the_exclusive_lock(name, child):
    with shmap.create(name, 4, "u1") as seg, shmap.open(name) as reader:
        proc = child(HOLDER % (name, True))
        assert read_line(proc) == "locked"
        expected = "the exclusive lock is held by pid %d" % proc.pid
        assert seg.lock_holders() == expected
        assert reader.lock_holders() == expected  # read-only Segments may ask too
        with pytest.raises(BlockingIOError) as exc:
            seg.lock(timeout=0)
        assert str(exc.value).endswith(": " + expected)  # the sentence the error ends with
        proc.kill()
        proc.wait(30)
        assert seg.lock_holders() == expected + " (dead)"


def test_lock_holders__names_every_reader(name, child):
    with shmap.create(name, 4, "u1") as seg:
        procs = [child(HOLDER % (name, False)) for _ in range(2)]
        for proc in procs:
            assert read_line(proc) == "locked"
        pids = sorted(p.pid for p in procs)
        text = seg.lock_holders()
        assert text.startswith("shared holds by pids ")
        assert sorted(int(p) for p in text[len("shared holds by pids "):].split(", ")) == pids
        with seg.lock():  # this process among them
            assert "%d (this process)" % os.getpid() in seg.lock_holders()
        procs[0].kill()
        procs[0].wait(30)
        # The dead one is left out, and one holder is named in the singular.
        assert seg.lock_holders() == "shared hold by pid %d" % procs[1].pid


def test_lock_holders__nobody(name):
    with shmap.create(name, 4, "u1") as seg:
        assert seg.locked is False
        assert seg.lock_holders() == "a lock holder that has just let go"


def test_lock_holders__refused_on_raw_and_closed(name):
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name, dtype="u1", shape=(4,)) as raw:
        with pytest.raises(shmap.Error) as exc:
            raw.lock_holders()
        assert exc.value.code == shmap.ERAW
    seg = shmap.open(name)
    seg.close()
    with pytest.raises(ValueError, match="closed"):
        seg.lock_holders()


def test_lock_holders__documented():
    assert "the exclusive lock is held by pid" in shmap.Segment.lock_holders.__doc__
