"""Segment.dup() and copy.copy(): another Segment on the same mapping, which closes on its own,
locks on its own (also across processes), and works for memfd segments and while the mapping
is unmap-pending, where opening again by name does not."""
import copy
import os
import pickle

import numpy as np
import pytest

import shmap
from conftest import SHM_DIR, run_python

# A child that tries the exclusive lock at once and says whether it got it.
TRY_LOCK = """
import shmap
with shmap.open(%r, readonly=False) as seg:
    try:
        seg.lock(exclusive=True, timeout=0).release()
        print("got it")
    except BlockingIOError as e:
        print("busy:", e)
"""


def mapped(name):
    """The mappings of this process for a segment, per shmap.mappings()."""
    return [m for m in shmap.mappings() if m["name"] == name]


def test_dup__same_mapping_same_memory(name):
    seg = shmap.create(name, (3, 4), "f4", keywords={"EXPTIME": 1.5})
    d = seg.dup()
    assert isinstance(d, shmap.Segment) and d is not seg
    assert (d.name, d.dtype, d.shape, d.readonly, d.created) == \
        (seg.name, seg.dtype, seg.shape, seg.readonly, seg.created)
    assert len(mapped(name)) == 1 and mapped(name)[0]["refs"] == 2  # no second mapping
    seg.array[1, 2] = 7.0
    assert d.array[1, 2] == 7.0
    d.publish()
    assert seg.generation == d.generation == 1
    assert dict(d.keywords) == {"EXPTIME": 1.5}
    d.close()
    seg.close()


def test_dup__closes_independently_and_the_last_destroys(name):
    seg = shmap.create(name, 8, "u1")  # not keep: destroyed when the last reference goes
    seg.array[:] = range(8)
    d = seg.dup()
    seg.close()
    assert seg.closed and not d.closed
    assert d.array.tolist() == list(range(8))
    assert os.path.exists(os.path.join(SHM_DIR, name))  # d still holds it
    d.close()
    assert not os.path.exists(os.path.join(SHM_DIR, name))
    assert mapped(name) == []


def test_dup__keeps_seen_access_and_the_raw_description(name):
    with shmap.create(name, 16, "u1", keep=True) as seg:
        seg.array[:] = range(16)
        seg.publish()
        seg.publish()
    with shmap.open(name) as r:
        r.seen = 1
        d = r.dup()
        assert d.readonly and d.seen == 1
        assert d.wait(timeout=0) == 2  # generation 2 is past seen: no wait
        d.close()
    offset = shmap.info(name)["data_offset"] + 4
    raw = shmap.open(name, dtype="<u2", shape=(2,), offset=offset, private=True)
    d = copy.copy(raw)
    assert (d.raw, d.private, d.dtype, d.shape, d.offset) == \
        (True, True, np.dtype("<u2"), (2,), offset)
    assert d.array.tolist() == raw.array.tolist() == [0x0504, 0x0706]
    d.close()
    raw.close()


def test_dup__a_closed_segment_is_refused(name):
    seg = shmap.create(name, 4, "u1")
    seg.close()
    with pytest.raises(ValueError, match="closed"):
        seg.dup()
    with pytest.raises(ValueError, match="closed"):
        copy.copy(seg)


def test_dup__copy_of_a_memfd_segment():
    """A memfd has no name to reopen it by: pickling refuses it, copy.copy() does not."""
    seg = shmap.create("memfd:", 4, "i4")
    seg.array[:] = [1, 2, 3, 4]
    with pytest.raises(TypeError, match="memfd"):
        pickle.dumps(seg)
    d = copy.copy(seg)
    assert d.fileno() == seg.fileno()  # the descriptor belongs to the one mapping
    seg.close()
    assert d.array.tolist() == [1, 2, 3, 4]
    d.close()


def test_dup__works_while_unmap_pending(name):
    """After close() of one Segment with an array alive, the mapping is unmap-pending: opening
    it again by name (which pickling, and so copy.copy() once, did) is refused; copies of a
    Segment still open are not."""
    seg = shmap.create(name, 4, "u1", keep=True)
    other = shmap.open(name, readonly=False)  # the same mapping
    arr = seg.array
    seg.close()
    with pytest.raises(shmap.Error) as exc:
        shmap.open(name, readonly=False)
    assert exc.value.code == shmap.EPENDING
    c = copy.copy(other)
    d = other.dup()
    other.close()
    d.array[0] = 9
    assert c.array[0] == 9 and arr[0] == 9
    c.close()
    d.close()
    del arr


def test_dup__locks_are_its_own(name):
    """Two Segments of one process exclude each other like two processes; closing the copy
    leaves the original's lock held."""
    seg = shmap.create(name, 4, "u1")
    d = seg.dup()
    with seg.lock(exclusive=True):
        with pytest.raises(BlockingIOError):
            d.lock(timeout=0)
        with pytest.raises(BlockingIOError):
            d.lock(exclusive=True, timeout=0)
    with d.lock(exclusive=True) as lk:
        assert lk.held and seg.locked
    d.close()
    seg.close()


def test_dup__of_a_held_segment_holds_nothing_and_closing_it_keeps_the_hold(name):
    """Across processes: the hold of open(hold=True) stays with the Segment that took it."""
    shmap.create(name, 4, "u1", keep=True).close()
    held = shmap.open(name, readonly=False, hold=True)
    d = held.dup()
    assert held.held and not d.held
    d.close()
    assert run_python(TRY_LOCK % name).stdout.startswith("busy:")
    held.close()
    assert run_python(TRY_LOCK % name).stdout == "got it\n"
