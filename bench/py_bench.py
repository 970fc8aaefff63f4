"""shmap's Python binding against multiprocessing.shared_memory, in the same run.

    py_bench.py [--quick] [--strict]

Run by `make bench` with the interpreter the binding was built for and PYTHONPATH pointing
at the built module. For a 4 KiB and a 64 MiB float32 array it measures, one operation per
sample, the cases of each comparison interleaved round by round (the order rotates), and
reports medians and 90th percentiles in microseconds:

  attach   shmap.open(name) + .array + del array + .close(), on a segment that exists,
           against SharedMemory(name=...) + numpy.ndarray(shape, dtype, buffer=shm.buf)
           + del array + shm.close() on an object of the standard library's own;
  create   shmap.create(name, shape, dtype) + .array + del array + .close() (the creator
           destroys the segment at close by default), against SharedMemory(create=True,
           size=...) + ndarray + del array + close() + unlink().

Target: shmap no slower than the standard library (ratio of medians <= 1.0), judged
against the standard library doing the same work as shmap:

  untracked    without its resource tracker. By default (before Python 3.13) SharedMemory
               registers every object it creates or attaches with a tracker process, one
               message on a pipe per call, which wakes that process: on these 2-CPU
               machines that costs 10 to 100 us and varies a lot, so it would decide the
               comparison by noise. The baseline is the standard library with track=False
               where the interpreter has it (3.13), else with SharedMemory's calls to the
               tracker replaced by a no-op for the run (see REAL_REGISTER). The "tracked"
               case, the default, is shown beside it with its ratio, for information;
  fallocate    (create) with os.posix_fallocate() of the object: shmap reserves the memory
               at create (a full /dev/shm is an error then, not a SIGBUS at the first write)
               and the standard library does not. The object made and reserved is as large
               as shmap's (its header page and keyword area included), as in the C
               benchmark: the same reservation on both sides. "no reserve" is the
               standard library as it is, shown with its ratio, for information: at 64
               MiB it sets a 64 MiB allocation against none.

The tracker in the tracked cases. It is started before any timing (it is a process of its
own). Every object the standard library side makes is unlinked through unlink(), which
unregisters the name (the repeated registrations of attaches are one entry in the tracker's
set, so that clears them too), and on an interruption the names still registered are
unregistered before exit: nothing is left for it to warn about or to unlink at exit.

Every object is named bench-<pid>-py-...; the first SIGINT/SIGTERM/SIGHUP stops the
measurements, and whatever is left under that prefix in /dev/shm is removed on the way out.
"""

import gc
import inspect
import os
import signal
import sys
import time

try:
    import numpy as np
    from multiprocessing import resource_tracker
    from multiprocessing.shared_memory import SharedMemory
    import shmap
except ImportError as e:
    print(f"Python bench not run: {e} (install python3-numpy; build the binding with make)")
    sys.exit(0)

KiB = 1024
MiB = 1024 * KiB
TARGET = 1.0
PREFIX = f"bench-{os.getpid()}-py"
SHM_DIR = "/dev/shm"
HAVE_TRACK = "track" in inspect.signature(SharedMemory).parameters

# Names the tracker holds for us right now (as the standard library spells them, with '/').
registered = set()
counter = 0


def fresh_name():
    global counter
    counter += 1
    return f"{PREFIX}-{counter}"


# Before Python 3.13 (no track=False), SharedMemory's own calls to the tracker are replaced
# by a no-op for the whole run (see main), and the tracked cases make the calls themselves,
# where SharedMemory makes them: so the untracked cases pay for nothing they do not do.
REAL_REGISTER = resource_tracker.register
REAL_UNREGISTER = resource_tracker.unregister


def _skip(name, rtype):
    pass


def std_attach(name, track):
    if HAVE_TRACK:
        shm = SharedMemory(name=name, track=track)
    else:
        shm = SharedMemory(name=name)
        if track:
            REAL_REGISTER(shm._name, "shared_memory")
    if track:
        registered.add(shm._name)
    return shm


def std_create(name, size, track):
    if HAVE_TRACK:
        shm = SharedMemory(name=name, create=True, size=size, track=track)
    else:
        shm = SharedMemory(name=name, create=True, size=size)
        if track:
            REAL_REGISTER(shm._name, "shared_memory")
    if track:
        registered.add(shm._name)
    return shm


def std_unlink(shm, track):
    shm.unlink()  # with track=True on 3.13, this unregisters too
    if track:
        if not HAVE_TRACK:
            REAL_UNREGISTER(shm._name, "shared_memory")
        registered.discard(shm._name)


# ---------------------------------------------------------------------------------------
# The operations: each does one complete attach or create cycle.


def op_shmap_attach(c):
    seg = shmap.open(c["name"])
    a = seg.array
    del a
    seg.close()


def _std_attach(c, track):
    shm = std_attach(c["std_name"], track)
    a = np.ndarray(c["shape"], c["dtype"], buffer=shm.buf)
    del a
    shm.close()


def op_std_attach(c):
    _std_attach(c, True)


def op_std_attach_untracked(c):
    _std_attach(c, False)


def op_shmap_create(c):
    seg = shmap.create(c["name"], c["shape"], c["dtype"])
    a = seg.array
    del a
    seg.close()


def _std_create(c, track, reserve):
    # Reserving, it makes and reserves an object of shmap's size (header page and keyword
    # area included), as the C benchmark's baseline does: the same reservation both sides.
    size = c["object_bytes"] if reserve else c["nbytes"]
    shm = std_create(c["std_name"], size, track)
    if reserve:
        os.posix_fallocate(shm._fd, 0, size)
    a = np.ndarray(c["shape"], c["dtype"], buffer=shm.buf)
    del a
    shm.close()
    std_unlink(shm, track)


def op_std_create(c):
    _std_create(c, True, False)


def op_std_create_untracked(c):
    _std_create(c, False, False)


def op_std_create_fallocate(c):
    _std_create(c, False, True)


# ---------------------------------------------------------------------------------------
# Measuring.


class Stop(Exception):
    pass


def on_signal(sig, frame):
    raise Stop()


def quantile(sorted_ns, q):
    pos = q * (len(sorted_ns) - 1)
    lo = int(pos)
    if lo + 1 >= len(sorted_ns):
        return sorted_ns[-1]
    return sorted_ns[lo] + (sorted_ns[lo + 1] - sorted_ns[lo]) * (pos - lo)


def run(cases, ctx, rounds, warmup):
    """Interleave the cases round by round; return {label: (median_us, p90_us)}."""
    samples = {label: [] for label, _ in cases}
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for r in range(warmup + rounds):
            for j in range(len(cases)):
                label, fn = cases[(j + r) % len(cases)]
                t0 = clock()
                fn(ctx)
                t1 = clock()
                if r >= warmup:
                    samples[label].append(t1 - t0)
    finally:
        gc.enable()
    out = {}
    for label, ns in samples.items():
        ns.sort()
        out[label] = (quantile(ns, 0.5) / 1e3, quantile(ns, 0.9) / 1e3)
    return out


# The cases of each comparison: (label, function, role). The first is shmap; "baseline"
# is what the target is judged against; "info" cases are shown with their ratios only.
ATTACH_CASES = [
    ("shmap.open(name)", op_shmap_attach, "shmap"),
    ("SharedMemory(name), untracked", op_std_attach_untracked, "baseline"),
    ("SharedMemory(name), tracked", op_std_attach, "info"),
]
CREATE_CASES = [
    ("shmap.create()", op_shmap_create, "shmap"),
    ("SharedMemory(create), fallocate", op_std_create_fallocate, "baseline"),
    ("SharedMemory(create), no reserve", op_std_create_untracked, "info"),
    ("SharedMemory(create), tracked", op_std_create, "info"),
]


def measure(shape, rounds_attach, rounds_create, create_warmup):
    dtype = np.dtype("float32")
    nbytes = int(np.prod(shape)) * dtype.itemsize
    ctx = {"shape": shape, "dtype": dtype, "nbytes": nbytes,
           "name": fresh_name(), "std_name": fresh_name()}
    results = {}

    # Attach: a kept shmap segment, and an object of the standard library's own.
    seg = shmap.create(ctx["name"], shape, dtype, keep=True)
    ctx["object_bytes"] = seg.info["size"]
    seg.close()
    owner = std_create(ctx["std_name"], nbytes, True)
    try:
        results["attach"] = run([(label, fn) for label, fn, _ in ATTACH_CASES],
                                ctx, rounds_attach, rounds_attach // 10)
    finally:
        owner.close()
        std_unlink(owner, True)
        shmap.delete(ctx["name"])
    results["create"] = run([(label, fn) for label, fn, _ in CREATE_CASES],
                            ctx, rounds_create, create_warmup)
    return nbytes, results


def sweep():
    """Remove anything of ours left in /dev/shm; return how many."""
    left = 0
    tmp = f".shmap-tmp-{os.getpid()}-"
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return 0
    for e in entries:
        if e.startswith(PREFIX + "-") or e.startswith(tmp):
            try:
                os.unlink(os.path.join(SHM_DIR, e))
                left += 1
            except OSError:
                pass
    return left


def fmt_size(n):
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def main(argv):
    quick = strict = False
    for a in argv[1:]:
        if a == "--quick":
            quick = True
        elif a == "--strict":
            strict = True
        else:
            print(f"usage: {argv[0]} [--quick] [--strict]", file=sys.stderr)
            return 2
    div = 10 if quick else 1
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    st = os.statvfs(SHM_DIR)
    room = st.f_bavail * st.f_frsize
    sizes = [((32, 32), 3000 // div, 2000 // div, 200 // div)]
    if room >= 4 * 65 * MiB:
        sizes.append(((4096, 4096), 2000 // div, max(30 // div, 5), 2))

    # Started now, so that its start is not timed (it is a process of its own).
    resource_tracker.ensure_running()
    if not HAVE_TRACK:
        resource_tracker.register = resource_tracker.unregister = _skip
    t0 = time.monotonic()
    rows = []
    rc = 0
    try:
        for shape, ra, rcr, wc in sizes:
            rows.append(measure(shape, ra, rcr, wc))
    except Stop:
        print("py_bench: interrupted", file=sys.stderr)
        rc = 1
    except Exception as e:
        print(f"py_bench: {type(e).__name__}: {e}", file=sys.stderr)
        rc = 1
    finally:
        for name in list(registered):
            REAL_UNREGISTER(name, "shared_memory")
        registered.clear()
        resource_tracker.register, resource_tracker.unregister = REAL_REGISTER, REAL_UNREGISTER
        left = sweep()
        if left:
            print(f"py_bench: removed {left} leftover object(s) of ours from {SHM_DIR}",
                  file=sys.stderr)
    elapsed = time.monotonic() - t0
    if rc:
        return rc

    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}: shmap against "
          "multiprocessing.shared_memory; medians and\n90th percentiles in microseconds, "
          "cases interleaved round by round in this run; float32\narrays; ratio = shmap's "
          "median / the case's\n")
    missed = 0
    titles = {"attach": "attach + array + close of an existing segment",
              "create": "create + array + close + delete"}
    for op, cases in (("attach", ATTACH_CASES), ("create", CREATE_CASES)):
        print(titles[op] + ":")
        print(f"{'size':>7}  {'case':<33} {'median':>9} {'(p90)':>9} {'ratio':>8}  target")
        for nbytes, results in rows:
            r = results[op]
            sm = r[cases[0][0]][0]
            for i, (label, _, role) in enumerate(cases):
                med, p90 = r[label]
                line = f"{fmt_size(nbytes) if i == 0 else '':>7}  {label:<33} {med:9.1f} {p90:9.1f}"
                if role != "shmap":
                    line += f" {sm / med:7.3f}x"
                if role == "baseline":
                    ok = sm / med <= TARGET
                    missed += not ok
                    line += f"  <= {TARGET:.1f}x: {'ok' if ok else 'MISSED'}"
                print(line)
        print()
    how = "track=False" if HAVE_TRACK else "its calls skipped"
    print(f"untracked: the standard library without its resource tracker ({how}); tracked:\n"
          "with it, the default. shmap opens read-only (its default), the standard library\n"
          "read-write (it cannot open read-only). shmap reserves the memory at create\n"
          "(posix_fallocate), the standard library does not: the target's baseline does it\n"
          "too (fallocate); \"no reserve\" is the standard library as it is. "
          f"{elapsed:.1f} s in all")
    if missed:
        print(f"{missed} target(s) missed"
              + ("" if strict else " (not an error without --strict)"))
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
