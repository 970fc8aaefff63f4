"""Fixtures shared by the Python binding's tests.

Every segment a test makes is named by the `names` fixture, from a prefix unique to this run
(`pyt<pid>`), and is removed when the test ends, passed or failed. test_zz_leftovers.py checks
at the end that nothing with the prefix is left in /dev/shm.
"""
import json
import os
import subprocess
import sys

import pytest

import shmap

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PREFIX = "pyt%d" % os.getpid()
SHM_DIR = "/dev/shm"


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


def cli_json(*args):
    return json.loads(run_cli(*args).stdout)


def run_python(code, check=True, env=None):
    """Run Python code in a fresh interpreter that imports the same shmap module."""
    full_env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(shmap.__file__))
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError("child failed (%d):\nstdout: %s\nstderr: %s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def remove(name):
    try:
        shmap.delete(name)
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
