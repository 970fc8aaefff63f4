"""create(..., hidden=True) and Segment.finish_create(): a segment filled before it has its
name, so that nobody opens it half-filled; given up or killed, it leaves nothing under it."""
import os
import signal

import numpy as np
import pytest

import shmap
from conftest import run_python


def hidden_of(pid):
    """The hidden objects of creations by process `pid` in /dev/shm."""
    return [f for f in os.listdir("/dev/shm") if f.startswith(".shmap-tmp-%d-" % pid)]


def test_hidden__filled_then_named(name):
    seg = shmap.create(name, (2, 3), "i4", keep=True, hidden=True,
                       keywords={"STAGE": "filled"})
    seg.array[:] = np.arange(6).reshape(2, 3)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    assert len(hidden_of(os.getpid())) == 1
    seg.finish_create()
    assert hidden_of(os.getpid()) == []
    with pytest.raises(shmap.Error, match="finished already") as e:
        seg.finish_create()
    assert e.value.errno == shmap.EINVAL
    seg.close()
    with shmap.open(name) as r:
        assert r.array.tolist() == [[0, 1, 2], [3, 4, 5]]
        assert r.keywords["STAGE"] == "filled"


def test_hidden__a_system_v_segment_opens_once_finished(sysv_names):
    name = sysv_names()
    seg = shmap.create(name, 4, "u1", keep=True, hidden=True)
    seg.array[:] = 9
    seg.finish_create()
    seg.close()
    with shmap.open(name) as r:
        assert r.array.tolist() == [9, 9, 9, 9]


def test_hidden__closed_unfinished_it_is_gone_even_kept(name):
    seg = shmap.create(name, 4, "u1", keep=True, hidden=True)
    seg.close()
    assert hidden_of(os.getpid()) == []
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_hidden__the_name_taken_meanwhile_is_left_alone(name):
    seg = shmap.create(name, 4, "u1", keep=True, hidden=True)
    other = shmap.create(name, 2, "f8", keep=True)
    other.close()
    with pytest.raises(FileExistsError):
        seg.finish_create()
    seg.close()
    assert hidden_of(os.getpid()) == []
    assert shmap.info(name)["dtype"] == "f64"
    with pytest.raises(FileExistsError):
        shmap.create(name, 4, "u1", hidden=True)  # said at once
    with pytest.raises(ValueError, match="hidden and exist_ok"):
        shmap.create(name, 4, "u1", hidden=True, exist_ok=True)
    # With replace, finishing replaces it.
    with shmap.create(name, 4, "u1", keep=True, hidden=True, replace=True) as seg:
        seg.array[:] = 1
        seg.finish_create()
    assert shmap.info(name)["dtype"] == "u8"


def test_hidden__a_killed_creator_leaves_nothing_under_the_name(name):
    proc = run_python("import os, shmap\n"
                      "seg = shmap.create(%r, 4, 'f4', keep=True, hidden=True)\n"
                      "print(os.getpid(), flush=True)\n"
                      "os.kill(os.getpid(), 9)\n" % name, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pid = int(proc.stdout)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    assert len(hidden_of(pid)) == 1
    events = list(shmap.gc(".shmap-tmp-%d-" % pid))
    assert [e.action for e in events] == ["removed_leftover"]
    assert hidden_of(pid) == []


def test_hidden__documented():
    assert "hidden" in shmap.create.__doc__
    assert "finish_create" in shmap.create.__doc__
    assert "renamed into place" in shmap.Segment.finish_create.__doc__
