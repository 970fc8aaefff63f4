"""numpy's one-letter type codes, checked against numpy itself: for every code numpy knows,
`shmap create NAME CODE` (the library's parser, through the command) and shmap.create()
make exactly the type numpy.dtype(CODE) is on this machine, or both refuse a code whose
type shmap cannot hold, and the command says what numpy means by it."""
import numpy as np
import pytest

import shmap
from conftest import cli_json, run_cli

# What shmap holds, as numpy's dtypes.
HELD = {np.dtype(t) for t in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8",
                              "f2", "f4", "f8", "c8", "c16", "?")}
# Every one-letter code numpy has, plus its aliases 'a' (bytes) and 'c' (S1).
CODES = sorted(set(np.typecodes["All"]) | {"a", "c"})
# Long doubles are refused whatever their size here: numpy keeps them a type of their own
# even where they are as wide as a double.
NEVER = {"g", "G"}


def held(code):
    return code not in NEVER and np.dtype(code) in HELD


def test_numpy_codes__the_ones_this_task_names_are_all_there():
    for code in "bBhHiIlLqQefdFD?gGSUOMmV":
        assert code in CODES


@pytest.mark.parametrize("code", CODES)
def test_numpy_codes__cli_create_makes_numpys_type(name, code):
    proc = run_cli("create", name, code, "4", check=False)
    if held(code):
        assert proc.returncode == 0, proc.stderr
        with shmap.open(name) as seg:
            assert seg.dtype == np.dtype(code)
            assert seg.array.dtype == np.dtype(code)
        info = cli_json("info", name, "--json")
        assert np.dtype(info["numpy"]) == np.dtype(code)
        assert info["bytes"] == 4 * np.dtype(code).itemsize
    else:
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr  # an error is one line
        first = proc.stderr.splitlines()[0]
        assert first.startswith("shmap: %s: type '%s' is numpy's " % (name, code)), first
        assert "which shmap cannot hold" in first
        assert first.endswith(" (see shmap help create)"), first
        with pytest.raises(FileNotFoundError):
            shmap.open(name)


@pytest.mark.parametrize("code", CODES)
def test_numpy_codes__python_create_makes_numpys_type(name, code):
    if held(code):
        assert shmap.parse_dtype(code) == np.dtype(code)
        with shmap.create(name, 4, code) as seg:
            assert seg.dtype == np.dtype(code)
    else:
        with pytest.raises(shmap.DtypeError):
            shmap.create(name, 4, code)
        with pytest.raises(FileNotFoundError):
            shmap.open(name)


@pytest.mark.parametrize("code", [c for c in CODES if held(c)])
@pytest.mark.parametrize("order", ["=", "|", "<" if np.little_endian else ">"])
def test_numpy_codes__with_a_native_byte_order_in_front(name, code, order):
    run_cli("create", name, order + code, "2")
    with shmap.open(name) as seg:
        assert seg.dtype == np.dtype(order + code)


@pytest.mark.parametrize("code", [c for c in CODES if held(c)])
def test_numpy_codes__the_other_byte_order_is_refused_beyond_one_byte(name, code):
    other = ">" if np.little_endian else "<"
    proc = run_cli("create", name, other + code, "2", check=False)
    if np.dtype(code).itemsize == 1:
        assert proc.returncode == 0, proc.stderr
        with shmap.open(name) as seg:
            assert seg.dtype == np.dtype(code)
    else:
        assert proc.returncode == 2
        assert "byte order" in proc.stderr


def test_numpy_codes__case_is_meaning():
    pairs = [("b", "B"), ("h", "H"), ("i", "I"), ("l", "L"), ("q", "Q"), ("f", "F"),
             ("d", "D")]
    for lower, upper in pairs:
        assert shmap.parse_dtype(lower) == np.dtype(lower)
        assert shmap.parse_dtype(upper) == np.dtype(upper)
        assert np.dtype(lower) != np.dtype(upper)
