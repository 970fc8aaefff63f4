"""Python code the binding calls while it reads what the caller gave: an item's __index__,
a mapping's __getitem__, a value's conversion. Such code may change the very list being
read; the binding works on a copy of its own, so it neither crashes nor reads freed
memory. Each case runs in a child interpreter, so that a crash fails the test rather than
ending the run."""
import errno

import pytest

import shmap
from conftest import run_python

# Freed memory is overwritten at once, so that a read of it cannot pass unnoticed.
DEBUG_MALLOC = {"PYTHONMALLOC": "debug"}


def test_callbacks__a_shape_list_emptied_by_an_items_index_is_read_as_given(name):
    proc = run_python("""
import shmap
shape = []
class Shrinks:
    def __index__(self):
        shape.clear()
        return 2
shape.extend([Shrinks(), 3, 4])
with shmap.create(%r, shape, "f4") as seg:
    print(seg.shape)
""" % name, env=DEBUG_MALLOC)
    assert proc.stdout == "(2, 3, 4)\n"


def test_callbacks__create_keywords_whose_items_list_is_emptied_meanwhile(name):
    proc = run_python("""
import numpy as np, shmap
pairs = []
class Shrinks(np.int64):
    def __index__(self):
        pairs.clear()
        return 7
class Mapping:
    def items(self):
        return pairs
pairs.extend([("A", Shrinks(1)), ("B", 2), ("C", 3)])
with shmap.create(%r, 3, "f4", keywords=Mapping()) as seg:
    print(sorted(seg.keywords.items()))
""" % name, env=DEBUG_MALLOC)
    assert proc.stdout == "[('A', 7), ('B', 2), ('C', 3)]\n"


def test_callbacks__update_from_a_mapping_whose_keys_list_is_emptied_meanwhile(name):
    proc = run_python("""
import shmap
keys = ["KEY%%d" %% i for i in range(3)]
class Mapping:
    def keys(self):
        return keys
    def __getitem__(self, key):
        keys.clear()
        return 1
with shmap.create(%r, 3, "f4") as seg:
    seg.keywords.update(Mapping())
    print(sorted(seg.keywords.items()))
""" % name, env=DEBUG_MALLOC)
    assert proc.stdout == "[('KEY0', 1), ('KEY1', 1), ('KEY2', 1)]\n"


class Interrupts:
    def __index__(self):
        raise KeyboardInterrupt


def test_callbacks__what_an_index_raises_goes_on_as_it_is(name):
    """A KeyboardInterrupt (or a MemoryError) from an __index__ is not turned into a
    TypeError about the shape, nor into a ValueError about a pid."""
    with pytest.raises(KeyboardInterrupt):
        shmap.create(name, [Interrupts(), 2], "f4")
    with pytest.raises(TypeError, match="shape must hold ints, not str"):
        shmap.create(name, [2, "2"], "f4")
    with shmap.create(name, 4, "u1") as seg:
        lk = seg.lock(exclusive=True)
        with pytest.raises(KeyboardInterrupt):
            lk.release(writer_died=Interrupts())
        with pytest.raises(ValueError, match="is not a process id"):
            lk.release(writer_died=2 ** 70)
        assert lk.held
        lk.release()


def test_callbacks__a_key_with_a_lone_surrogate_is_no_keyword(name):
    """As a key with a NUL, or one that is not a str: not there, rather than an encoding
    error."""
    with shmap.create(name, 4, "u1") as seg:
        seg.keywords["GAIN"] = 2
        kw = seg.keywords
        assert "\udcff" not in kw
        assert kw.get("\udcff") is None
        assert kw.pop("\udcff", 5) == 5
        with pytest.raises(KeyError):
            del kw["\udcff"]
        with pytest.raises(KeyError):
            kw["\udcff"]
        assert dict(kw) == {"GAIN": 2}


def test_callbacks__a_nested_lock_refusal_advises_what_works(name):
    """A second lock through the same Segment in one thread is refused (EDEADLK); the advice
    is to pass the Lock held on, not to lock through another Segment, which would wait for
    this thread's own hold as well."""
    with shmap.create(name, 4, "u1", keep=True) as seg:
        with seg.lock(exclusive=True):
            with pytest.raises(shmap.Error) as exc:
                seg.lock(exclusive=False)
            assert exc.value.errno == errno.EDEADLK
            assert "pass the Lock held to the code that needs it" in str(exc.value)
            assert "dup()" not in str(exc.value)
    with shmap.open(name, readonly=False, hold=True) as held:
        with pytest.raises(shmap.Error) as exc:
            held.lock(timeout=0)
        assert "another Segment" not in str(exc.value)
        assert "its hold is the lock" in str(exc.value)


class Raising:
    """A sequence whose items cannot be had: what it raises is its own."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise TypeError("inner type error")


def test_callbacks__what_iterating_a_shape_raises_goes_on_as_it_is(name):
    with pytest.raises(TypeError, match="^inner type error$"):
        shmap.create(name, Raising(), "f4")
    with pytest.raises(TypeError, match="shape must be an int or a sequence of ints"):
        shmap.create(name, object(), "f4")
    # Too many dimensions are refused before the shape is copied.
    with pytest.raises(shmap.Error, match="shape has 10000000 dimensions"):
        shmap.create(name, [1] * 10000000, "f4")
