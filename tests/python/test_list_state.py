"""shmap.list() gives each segment's attached processes and lock state, as info() and
`shmap ls --json` do: shared and exclusive holders in other processes, a writer waiting for
readers, a holder killed with SIGKILL (listed, not alive), and a System V segment."""
import os
import time

import pytest

import shmap
from conftest import as_listed, cli_json, read_line

# A child that opens the segment read-write, takes a lock (None: none), says so and waits
# to be killed.
HOLDER = """
import shmap, sys, time
seg = shmap.open(%r, readonly=False)
lk = None if %r is None else seg.lock(exclusive=%r)
print("ready", flush=True)
time.sleep(60)
"""


def hold(child, name, exclusive):
    proc = child(HOLDER % (name, exclusive, exclusive))
    assert read_line(proc) == "ready"
    return proc


def kill(proc):
    proc.kill()
    proc.wait(30)


def listed(name):
    found = [d for d in shmap.list() if d["name"] == name]
    assert len(found) == 1, found
    return found[0]


def same_as_info_and_cli(name):
    """list()'s entry equals info() and `shmap ls --json`'s; returns it."""
    entry = listed(name)
    assert entry == as_listed(shmap.info(name))
    assert entry == {d["name"]: d for d in cli_json("ls", "--json")}[name]
    return entry


def test_list_state__shared_and_exclusive_holders(names, child):
    shared, excl, idle = names(), names(), names()
    for n in (shared, excl, idle):
        shmap.create(n, 8, "u1", keep=True).close()
    r1, r2 = hold(child, shared, False), hold(child, shared, False)
    w = hold(child, excl, True)

    entry = same_as_info_and_cli(shared)
    assert sorted(a["pid"] for a in entry["attached"]) == sorted([r1.pid, r2.pid])
    assert all(a["alive"] and a["shared"] == 1 and not a["writer"] and a["writable"]
               for a in entry["attached"])
    assert entry["lock"] == {"writer": None, "writer_alive": False, "writer_waiting": False,
                             "shared": 2, "waiters": False, "owner_died": False,
                             "dead_pid": None, "writer_other_pidns": False}

    entry = same_as_info_and_cli(excl)
    assert [(a["pid"], a["writer"], a["alive"]) for a in entry["attached"]] == [
        (w.pid, True, True)]
    assert entry["lock"]["writer"] == w.pid and entry["lock"]["writer_alive"] is True
    assert entry["lock"]["writer_waiting"] is False

    entry = same_as_info_and_cli(idle)
    assert entry["attached"] == [] and entry["lock"]["writer"] is None
    assert entry["lock"]["shared"] == 0


def test_list_state__a_writer_waiting_for_readers(name, child):
    with shmap.create(name, 8, "u1") as seg:
        with seg.lock():
            w = child(HOLDER % (name, True, True))
            deadline = time.monotonic() + 30
            while seg.lock_info["writer"] != w.pid and time.monotonic() < deadline:
                time.sleep(0.005)
            entry = listed(name)
            assert entry["lock"] == seg.lock_info
            assert entry["lock"]["writer"] == w.pid
            assert entry["lock"]["writer_waiting"] is True and entry["lock"]["shared"] == 1
            assert sorted((a["pid"], a["writer"], a["shared"]) for a in entry["attached"]) == \
                sorted([(os.getpid(), False, 1), (w.pid, True, 0)])
        assert read_line(w) == "ready"
        entry = listed(name)
        assert entry["lock"]["writer"] == w.pid and entry["lock"]["writer_waiting"] is False


def test_list_state__killed_attachers_are_listed_dead(names, child):
    reader, writer = names(), names()
    for n in (reader, writer):
        shmap.create(n, 8, "u1", keep=True).close()
    r, w = hold(child, reader, False), hold(child, writer, True)
    kill(r)
    kill(w)
    for _ in range(2):  # the listing clears nothing
        entry = same_as_info_and_cli(reader)
        assert [(a["pid"], a["alive"], a["shared"]) for a in entry["attached"]] == [
            (r.pid, False, 1)]
        assert entry["lock"]["shared"] == 1
        entry = same_as_info_and_cli(writer)
        assert [(a["pid"], a["alive"], a["writer"]) for a in entry["attached"]] == [
            (w.pid, False, True)]
        assert entry["lock"]["writer"] == w.pid and entry["lock"]["writer_alive"] is False


def test_list_state__system_v_segment(child):
    name = "sysv://0x%08x" % (0x20000000 | (os.getpid() & 0x3fffff) << 8 | 1)
    try:
        shmap.create(name, 8, "u1", keep=True).close()
    except PermissionError:
        pytest.skip("no System V shared memory here")
    try:
        w, idle = hold(child, name, True), hold(child, name, None)
        entry = same_as_info_and_cli(name)
        assert entry["store"] == "sysv"
        assert sorted((a["pid"], a["writer"]) for a in entry["attached"]) == sorted(
            [(w.pid, True), (idle.pid, False)])
        assert entry["lock"]["writer"] == w.pid and entry["lock"]["writer_alive"] is True
        kill(idle)
        entry = same_as_info_and_cli(name)
        assert [a["alive"] for a in entry["attached"] if a["pid"] == idle.pid] == [False]
        kill(w)
    finally:
        shmap.delete(name, force=True)
