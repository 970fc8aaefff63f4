"""Fixtures shared by the Python binding's tests.

Every segment a test makes is named by the `names` fixture, from a prefix unique to this run
(`pyt<pid>`, or $SHMAP_PYTEST_PREFIX, which the C test runner gives), and is removed when the
test ends, passed or failed. test_zz_leftovers.py checks at the end that nothing with the
prefix is left in /dev/shm.
"""
import errno
import json
import os
import select
import subprocess
import sys
import threading
import time

import pytest

import shmap
from procstate import wait_asleep

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PREFIX = os.environ.get("SHMAP_PYTEST_PREFIX") or "pyt%d" % os.getpid()
SHM_DIR = "/dev/shm"

# The upper bound, in seconds, on what the library promises to do at once or within a
# fraction of a second: wake a waiter when a lock is let go, find a lock holder that was
# killed, tell a waiter its segment is gone or closed, end a wait on a signal, fail a call
# with timeout=0. Those take 10-50 ms here, and a few times that under a sanitizer; the bound
# is loose so that a loaded machine cannot fail it, and still fails when the mechanism is
# broken and the wait runs to its timeout, which must then be well above it (10 s in these
# tests). The C tests use the same bound, UTIL_PROMPT_S in tests/util.h.
PROMPT = 3.0


def shmap_bin():
    """The `shmap` command: $SHMAP_BIN, else build/shmap in the repository."""
    return os.environ.get("SHMAP_BIN") or os.path.join(REPO, "build", "shmap")


def run_cli(*args, check=True):
    """Run the shmap command; returns the CompletedProcess (text mode)."""
    proc = subprocess.run([shmap_bin(), *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError("shmap %s failed (%d): %s" % (" ".join(args), proc.returncode,
                                                           proc.stderr))
    return proc


# Members the command's segment objects have that shmap.info() and list() do not: none now.
# cli_json() would leave them out, so that the rest could be compared whole.
CLI_ONLY_MEMBERS = ()


def _python_members(obj):
    if isinstance(obj, dict) and obj.get("shmap") is True:
        return {k: v for k, v in obj.items() if k not in CLI_ONLY_MEMBERS}
    return obj


def as_listed(info):
    """info()'s dict as a listing has it: what info() alone looks at (/proc, the frame write)
    is None there."""
    return dict(info, write=None, mapped_by=None, mapped_by_unseen=None)


def cli_json(*args):
    """The command's JSON output, its segment objects without CLI_ONLY_MEMBERS."""
    out = json.loads(run_cli(*args).stdout)
    return [_python_members(o) for o in out] if isinstance(out, list) else _python_members(out)


def python_env(env=None):
    """The environment of a child interpreter that imports the same shmap module, and the
    helpers of this directory (procstate)."""
    full_env = dict(os.environ)
    module_dir = os.path.dirname(os.path.abspath(shmap.__file__))
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (module_dir, HERE, os.environ.get("PYTHONPATH", "")) if p)
    if env:
        full_env.update(env)
    return full_env


def run_python(code, check=True, env=None):
    """Run Python code in a fresh interpreter that imports the same shmap module."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=python_env(env))
    if check and proc.returncode != 0:
        raise AssertionError("child failed (%d):\nstdout: %s\nstderr: %s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def run_python_as_nobody(code, *args):
    """Run Python code, with arguments, as the user nobody (uid and gid 65534, no other
    groups) in a fresh interpreter that imports the same shmap module. Needs root (the
    caller skips otherwise); skips the test when nobody cannot read the build directory."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, env=python_env(), timeout=60, user=65534, group=65534,
                          extra_groups=[])
    if "Permission denied" in proc.stderr and "shmap" not in proc.stderr:
        pytest.skip("the build directory is not readable by nobody")
    return proc


def delete_refused_while_held(name, pid):
    """delete(name) while process `pid` holds its lock: a try is busy and a 0.25 s wait times
    out, both naming `pid`, and the segment is still there."""
    with pytest.raises(BlockingIOError) as exc:
        shmap.delete(name, timeout=0)
    assert exc.value.errno == errno.EBUSY
    assert "pid %d" % pid in str(exc.value)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError) as exc:
        shmap.delete(name, timeout=0.25)
    assert 0.25 <= time.monotonic() - t0 < 0.25 + PROMPT
    assert "timed out after 0.25 s" in str(exc.value)
    assert "held by pid %d" % pid in str(exc.value)
    assert shmap.info(name)["name"] == name  # still there


def remove(name):
    """Remove a name at once, whoever holds its lock, segment or not."""
    try:
        shmap.delete(name, force=True)
    except FileNotFoundError:
        pass


@pytest.fixture
def names():
    """A factory of fresh segment names; every name made is removed at teardown."""
    made = []

    def new():
        name = shmap.unique_name(PREFIX)
        made.append(name)
        return name

    yield new
    for name in made:
        remove(name)


@pytest.fixture
def name(names):
    """One fresh segment name, removed at teardown."""
    return names()


_sysv_keys = iter(range(0x10, 0x40))  # test_perm and test_list_state use others


@pytest.fixture
def sysv_names():
    """A factory of System V names ('sysv://0x2PPPPPNN', from this run's pid) that no segment
    has yet; every name made is removed at teardown."""
    made = []

    def new():
        key = 0x20000000 | (os.getpid() & 0x3fffff) << 8 | next(_sysv_keys)
        made.append("sysv://0x%08x" % key)
        remove(made[-1])
        return made[-1]

    yield new
    for n in made:
        remove(n)


@pytest.fixture
def child():
    """A factory of Python processes running in the background (subprocess.Popen with binary
    pipes), for tests that signal or kill them; each is killed and reaped at teardown."""
    procs = []

    def start(code):
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                env=python_env())
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def read_line(proc, timeout=30):
    """The next line a child made by `child` prints (it must flush), without its newline."""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError("no line from pid %d within %g s (so far %r)"
                                 % (proc.pid, timeout, line))
        byte = os.read(fd, 1)
        if not byte:
            proc.wait(timeout=30)
            raise AssertionError("pid %d exited (%s) after %r; stderr: %s"
                                 % (proc.pid, proc.returncode, line, proc.stderr.read().decode()))
        line += byte
    return line.decode().rstrip("\n")


def spin(seconds):
    """Run Python bytecode for a while (no sleeping, no I/O): it makes progress only when no
    other thread holds the GIL. Returns how many rounds it made."""
    rounds = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rounds += 1
    return rounds


def ended_wait(call, catch, end, join=10):
    """Run call(), a blocking call, in a thread; once the thread is asleep in the call's wait,
    run end(), which should end the call, and wait at most `join` seconds for the thread.
    AssertionError if the call never blocked or the thread is still running. Returns the
    exceptions of class `catch` the call raised (a list) and the seconds from end() to the
    thread's end."""
    got = []

    def wait():
        try:
            call()
        except catch as e:
            got.append(e)

    t = threading.Thread(target=wait)
    t.start()
    blocked = wait_asleep(t)
    t0 = time.monotonic()
    end()  # even if the call did not block: it must not be left waiting
    t.join(join)
    elapsed = time.monotonic() - t0
    if not blocked:
        raise AssertionError("%r did not block before %r (raised %r)" % (call, end, got))
    if t.is_alive():
        raise AssertionError("%r did not end within %g s of %r" % (call, join, end))
    return got, elapsed


@pytest.fixture
def foreign(names):
    """A factory of shared-memory objects that are not shmap segments (raw files in
    /dev/shm), removed at teardown like segments."""

    def make(data):
        n = names()
        with open(os.path.join(SHM_DIR, n), "wb") as f:
            f.write(data)
        return n

    return make


def pytest_sessionfinish(session, exitstatus):
    """Whatever happened, leave /dev/shm as it was found."""
    try:
        for entry in os.listdir(SHM_DIR):
            if entry.startswith(PREFIX):
                remove(entry)
    except OSError:
        pass
