"""Time shmap.list() over many segments, for one or several builds of the Python binding.

    py_list.py [--count N] [--rounds R] [--samples S] [MODULE_DIR ...]

Creates N segments (default 2,000, the count SPEC's listing target is set for), each
holding 16 bytes and three keywords, as bench.c's listing benchmark does, then times
shmap.list() in a fresh interpreter for each MODULE_DIR (a directory holding a built shmap
module, put first on PYTHONPATH; without any, the module this interpreter imports). The
builds take turns, R rounds of S calls each, so that a slow spell of a shared machine falls
on all of them alike; the report gives each build's median and 90th percentile over all
its calls, in milliseconds, and the ratio of the medians to the first build's.

list() sees every segment on the machine, not only these: the number it returned is
reported beside the figures.

Every segment is named bench-<pid>-pylist-<i>. They are removed at the end, and also when
the run is interrupted (SIGINT, SIGTERM, SIGHUP), including any made before the interruption.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys

import shmap

PREFIX = "bench-%d-pylist-" % os.getpid()
SHM_DIR = "/dev/shm"

MEASURE = """
import sys, time, shmap
n, times = 0, []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    n = len(shmap.list())
    times.append(time.perf_counter() - t0)
print(n, " ".join("%.9f" % t for t in times))
"""


def interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def cleanup():
    """Remove every segment of this run, whether or not it was finished."""
    for entry in os.listdir(SHM_DIR):
        if entry.startswith(PREFIX):
            try:
                shmap.delete(entry, force=True)
            except FileNotFoundError:
                pass


def make(count):
    kw = {"EXPTIME": 1.5, "OBJECT": ("M31", "target"), "NFRAMES": 10}
    for i in range(count):
        shmap.create(PREFIX + str(i), 16, "u1", keep=True, keywords=kw).close()


def measure(module_dir, samples):
    env = dict(os.environ)
    if module_dir:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (module_dir, env.get("PYTHONPATH"))
                                            if p)
    out = subprocess.run([sys.executable, "-c", MEASURE, str(samples)], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), [float(t) for t in out[1:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("module_dirs", nargs="*")
    args = ap.parse_args()
    dirs = [os.path.abspath(d) for d in args.module_dirs] or [None]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    try:
        make(args.count)
        times = {d: [] for d in dirs}
        listed = {d: [] for d in dirs}
        for r in range(args.rounds):
            order = dirs[r % len(dirs):] + dirs[:r % len(dirs)]
            for d in order:
                n, t = measure(d, args.samples)
                listed[d].append(n)
                times[d].extend(t)
    except KeyboardInterrupt:
        print("interrupted: removing the segments", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop cleanup
        cleanup()
    first = statistics.median(times[dirs[0]])
    print("shmap.list(), %d segments of this run, %d rounds of %d calls per build"
          % (args.count, args.rounds, args.samples))
    for d in dirs:
        t = sorted(times[d])
        med, p90 = statistics.median(t), t[int(0.9 * (len(t) - 1))]
        print("%-40s median %7.2f ms  p90 %7.2f ms  ratio %.2f  (listed %d-%d)"
              % (d or "shmap as imported", med * 1e3, p90 * 1e3, med / first,
                 min(listed[d]), max(listed[d])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
