"""What the kernel says a thread is doing (/proc), for tests that must act once another thread
or process is really blocked in a wait: a sleep that is long enough on an idle machine is too
short on a loaded one (and too long everywhere else).

conftest.py uses it, and so do the tests' child interpreters, which find it on their path
(conftest.python_env()): it needs only the standard library.
"""
import os
import threading
import time

# The waits below give up after this long, as the tests' other waits for an event do.
TIMEOUT = 10.0


def task_dir(who):
    """The /proc directory of one thread. `who` is a thread of this process, as a
    threading.Thread or as its native id (threading.get_native_id()), or a child process,
    as anything with a `pid` (subprocess.Popen), for its main thread."""
    if isinstance(who, threading.Thread):
        who = who.native_id
    if isinstance(who, int):
        return "/proc/self/task/%d" % who
    return "/proc/%d/task/%d" % (who.pid, who.pid)


def _read(path):
    with open(path) as f:  # open() and read() let the GIL go
        return f.read()


def asleep(who):
    """Whether the thread is asleep in a futex wait, as one blocked in a shmap wait is: in a
    futex function (wchan, where the kernel names it), then still in state S (stat); False
    once the thread has ended.

    A thread waiting for the GIL sleeps on a futex too, but only while another thread holds
    the GIL, and this call lets it go to read /proc: unless a third thread runs Python code
    meanwhile, a thread seen asleep is in a wait of its own."""
    d = task_dir(who)
    tells = _wchan_tells()
    try:
        wchan = _read(d + "/wchan") if tells else ""
        stat = _read(d + "/stat")
    except (FileNotFoundError, ProcessLookupError):
        return False
    # A running thread's wchan is "0": read before the state, it cannot be a wait that ended.
    return _state(stat) == "S" and ("futex" in wchan or not tells)


def _state(stat):
    return stat[stat.rindex(")") + 2]  # the command name may hold spaces and parentheses


_wchan = []


def _wchan_tells():
    """Whether this kernel names the function a sleeping thread waits in (wchan): whether a
    thread asleep on a lock shows a futex function there (some kernels and sandboxes have no
    wchan, or show "0" for every thread). If not, asleep() has only the state to go by."""
    if not _wchan:
        tells = False
        if os.path.exists("/proc/self/wchan"):
            lock = threading.Lock()
            lock.acquire()
            t = threading.Thread(target=lock.acquire)
            t.start()
            d = task_dir(t)
            deadline = time.monotonic() + TIMEOUT
            while _state(_read(d + "/stat")) != "S" and time.monotonic() < deadline:
                time.sleep(0.001)
            tells = "futex" in _read(d + "/wchan")  # it sleeps until the lock is let go
            lock.release()
            t.join()
        _wchan.append(tells)
    return _wchan[0]


def _ended(who):
    if isinstance(who, threading.Thread):
        return not who.is_alive()
    if isinstance(who, int):
        return not os.path.exists(task_dir(who))
    return who.poll() is not None


def wait_asleep(who, timeout=TIMEOUT):
    """Wait until asleep(who): True once it is; False if the thread ends first or `timeout`
    seconds pass."""
    deadline = time.monotonic() + timeout
    while not asleep(who):
        if _ended(who) or time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def sleeps(who):
    """How many times the thread has gone to sleep (its voluntary context switches). A thread
    in a shmap wait goes back to sleep after each slice of it (10 ms in a lock wait, 50 ms in
    a wait for a publish), woken or not."""
    with open(task_dir(who) + "/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise LookupError("no voluntary_ctxt_switches in %s/status" % task_dir(who))


def wait_sleeps(who, n, timeout=TIMEOUT):
    """Wait until the thread has gone to sleep `n` more times, so it has woken at least n - 1
    times meanwhile: True once it has; False if it ends first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    try:
        goal = sleeps(who) + n
        while sleeps(who) < goal:
            if _ended(who) or time.monotonic() > deadline:
                return False
            time.sleep(0.002)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return True
