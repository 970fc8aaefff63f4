"""shmap.list() and shmap.gc() when the process runs out of descriptors or address space:
they raise (shmap.Error with errno EMFILE, shmap.OutOfMemoryError) with a message naming
the cause and the limit, where they returned [] as if there were nothing.

The limits are real, in a child interpreter: RLIMIT_NOFILE lowered and every free descriptor
but one taken (the one /dev/shm opens with), or RLIMIT_AS capped below a System V segment,
which is attached whole to be read: larger than the limit itself, that segment is its own
affair, listed apart and kept by gc. The address-space test skips under AddressSanitizer.
Every gc here is given a prefix that only this test's objects have, or is a dry run."""
import errno
import json
import os

import pytest

import shmap
from conftest import PREFIX, SHM_DIR, read_line, remove, run_python

# The child's helpers: `attempt(call, spare)` runs call() with `spare` descriptors free (None:
# as many as there are) and gives back what it returned or raised, as JSON-able values.
CHILD = r"""
import errno, json, os, resource, sys
import shmap

def take_all_but(spare):
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    fds = []
    while True:
        try:
            fds.append(os.open('/dev/null', os.O_RDONLY))
        except OSError as e:
            assert e.errno == errno.EMFILE, e
            break
    for _ in range(spare):
        os.close(fds.pop())
    return fds

def attempt(call, spare=1):
    fds = take_all_but(spare) if spare is not None else []
    try:
        res = call()
        out = {'returned': [e['name'] if isinstance(e, dict) else e.name for e in res]}
    except Exception as e:
        out = {'raised': [c.__name__ for c in type(e).__mro__],
               'errno': getattr(e, 'errno', None),
               'message': getattr(e, 'strerror', None) or str(e)}
    finally:
        for fd in fds:
            os.close(fd)
    return out
"""


@pytest.fixture
def family():
    """A prefix of this test's own; what is named with it is removed at teardown."""
    prefix = shmap.unique_name(PREFIX) + "-"
    yield prefix
    for entry in os.listdir(SHM_DIR):
        if entry.startswith(prefix):
            remove(entry)


def dead_transient(child, name, count=4):
    """A transient segment whose creator was killed: gc's to remove. Its creator's pid."""
    proc = child("import shmap, time\n"
                 "seg = shmap.create(%r, %d, 'u1', keep=True, transient=True)\n"
                 "print('made', flush=True)\n"
                 "time.sleep(60)\n" % (name, count))
    assert read_line(proc) == "made"
    proc.kill()
    proc.wait(30)
    return proc.pid


def in_child(code):
    """Run CHILD and then `code`, which prints one JSON document: what it printed."""
    return json.loads(run_python(CHILD + code).stdout)


def check_out_of_fds(got, what):
    assert "raised" in got, got
    assert "Error" in got["raised"] and "OSError" in got["raised"], got
    assert got["errno"] == errno.EMFILE, got
    assert got["message"].startswith("too many open files: " + what), got
    assert got["message"].endswith("(this process's limit, ulimit -n, is 64)"), got


def test_list__out_of_descriptors_raises_naming_the_limit(family):
    for suffix in ("a", "b"):
        shmap.create(family + suffix, 4, "f8", keep=True).close()
    got = in_child("print(json.dumps([attempt(shmap.list),\n"
                   "                  attempt(lambda: shmap.list(all=True)),\n"
                   "                  attempt(shmap.list, spare=2)]))\n")
    for g in got[:2]:
        check_out_of_fds(g, "cannot open /dev/shm/")
        assert " to list it (" in g["message"]
    # One descriptor beside /dev/shm's is all a listing needs.
    assert sorted(n for n in got[2]["returned"] if n.startswith(family)) == \
        [family + "a", family + "b"]


def test_gc__out_of_descriptors_raises_and_leaves_the_leftovers(family, child):
    name = family + "t"
    creator = dead_transient(child, name)
    got = in_child("p = %r\n"
                   "print(json.dumps([attempt(lambda: shmap.gc(p)),\n"
                   "                  attempt(lambda: shmap.gc(p, dry_run=True)),\n"
                   "                  attempt(lambda: shmap.gc(dry_run=True))]))\n" % family)
    for g in got:
        check_out_of_fds(g, "cannot open /dev/shm/")
    assert os.path.exists(os.path.join(SHM_DIR, name))
    (e,) = shmap.gc(family)
    assert (e.action, e.name, e.pid, e.status) == ("removed_transient", name, creator, 0)


@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer needs more address space than a cap would leave")
def test_gc__a_system_v_segment_out_of_address_space_is_kept_and_listed_apart(sysv_names,
                                                                             child):
    name = sysv_names()
    size = 192 << 20
    # The child caps itself 32 MiB above its own size, which is not more than this one's.
    with open("/proc/self/status") as status:
        vm_kb = [int(l.split()[1]) for l in status if l.startswith("VmSize:")][0]
    if (vm_kb + 32 * 1024) * 1024 >= size:
        pytest.skip("this interpreter is too large for a segment larger than the cap")
    creator = dead_transient(child, name, size)
    got = in_child(
        "def cap():\n"
        "    kb = [int(l.split()[1]) for l in open('/proc/self/status')\n"
        "          if l.startswith('VmSize:')][0]\n"
        "    limit = (kb + 32 * 1024) * 1024\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "p = %r\n"
        "got = [attempt(lambda: shmap.gc(p, dry_run=True))]\n"
        "cap()\n"
        "got += [attempt(lambda: shmap.gc(p, dry_run=True), None),\n"
        "        attempt(lambda: shmap.gc(p), None)]\n"
        "got += [[(e['name'], e['error']) for e in shmap.list() if e['name'] == p],\n"
        "        [(e['name'], e['error']) for e in shmap.list(all=True) if e['name'] == p]]\n"
        "got += [[(e.action, e.status, e.message) for e in shmap.gc(p)]]\n"
        "print(json.dumps(got))\n" % name)
    # No descriptor is needed for System V: out of them, a gc of its names goes on.
    assert got[0] == {"returned": [name]}, got
    # Larger than the address-space limit itself: listed apart: left out, or with why; the rest of the listing goes on.
    assert got[3] == [], got
    ((listed, error),) = got[4]
    assert listed == name and error.startswith("cannot attach its "), got
    assert "bytes to read it (past this process's address space limit, ulimit -v: " in error
    # gc too: kept, saying why, and gc goes on.
    assert got[1] == got[2] == {"returned": [name]}, got
    ((action, status, message),) = got[5]
    assert (action, status) == ("kept_unattached", -errno.ENOMEM), got
    assert message.startswith("%s: kept: cannot attach its " % name), got
    assert "past this process's address space limit, ulimit -v: " in message, got
    (e,) = shmap.gc(name)
    assert (e.action, e.name, e.pid, e.status) == ("removed_transient", name, creator, 0)
