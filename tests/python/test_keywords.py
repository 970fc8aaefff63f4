"""Segment keywords as a mutable mapping."""
import collections.abc
import contextlib
import math
import os
import struct
import subprocess
import threading
import time

import numpy as np
import pytest

import shmap
from conftest import run_cli


@pytest.fixture
def seg(name):
    with shmap.create(name, 1, "u1") as s:
        yield s


def test_keywords__is_a_mutable_mapping(seg):
    kw = seg.keywords
    assert isinstance(kw, collections.abc.MutableMapping)
    assert isinstance(kw, shmap.Keywords)
    assert len(kw) == 0
    assert list(kw) == []
    assert kw == {}


@pytest.mark.parametrize("value,kind", [
    (1, int), (-(2 ** 63), int), (2 ** 63 - 1, int), (1.5, float), (-0.0, float),
    (1e300, float), ("hello", str), ("", str), ("x" * 71, str), (True, bool), (False, bool),
    (np.float32(2.5), float), (np.int64(-3), int), (np.uint8(7), int), (np.bool_(True), bool),
])
def test_keywords__value_types_round_trip(seg, value, kind):
    seg.keywords["K"] = value
    got = seg.keywords["K"]
    assert type(got) is kind
    assert got == value


def test_keywords__nan_and_inf(seg):
    seg.keywords["N"] = float("nan")
    seg.keywords["I"] = float("-inf")
    assert math.isnan(seg.keywords["N"])
    assert seg.keywords["I"] == float("-inf")


def test_keywords__inf_and_nan_reach_the_cli(name):
    """The library keeps any double, so Python stores inf and nan as given; the CLI prints
    them, and its JSON, which has no such numbers, gives null."""
    with shmap.create(name, 1, "u1") as seg:
        seg.keywords.update({"N": float("nan"), "I": float("-inf")})
        info = run_cli("info", name).stdout
        assert "N        = nan" in info and "I        = -inf" in info
        assert '"keywords": {"N": null, "I": null}' in run_cli("info", name, "--json").stdout


@pytest.mark.parametrize("text,number", [
    ("E=1e400", "1e400"), ("E=-1e999", "-1e999"), ("E = 0x1p5000 / big", "0x1p5000"),
])
def test_keywords__cli_refuses_a_float_beyond_a_double(name, text, number):
    """strtod() turns 1e400 into inf without a word: `shmap create --keyword` says so."""
    proc = run_cli("create", name, "u1", "3", "--keyword", "OK=1", "--keyword", text,
                   check=False)
    assert proc.returncode == 2, proc.stderr  # bad usage, as other bad keywords
    assert proc.stderr == ("shmap: %s: --keyword '%s': keyword E: value %s out of range for a "
                           "double (f64) (see shmap help create)\n" % (name, text, number))
    with pytest.raises(FileNotFoundError):  # nothing was created
        shmap.open(name)


def test_keywords__cli_keeps_an_infinity_asked_for_by_name(name):
    run_cli("create", name, "u1", "3", "--keyword", "A=inf", "--keyword", "B=-Infinity",
            "--keyword", "C=nan", "--keyword", "D=1e-400", "--keyword", "E=1.7e308")
    with shmap.open(name) as seg:
        kw = dict(seg.keywords)
        assert kw["A"] == float("inf") and kw["B"] == float("-inf") and math.isnan(kw["C"])
        assert kw["D"] == 0.0 and kw["E"] == 1.7e308  # underflow rounds, as strtod does


def test_keywords__names_are_upper_case_and_case_insensitive(seg):
    kw = seg.keywords
    kw["exptime"] = 2.0
    assert list(kw) == ["EXPTIME"]
    assert kw["EXPTIME"] == kw["ExpTime"] == 2.0
    assert "exptime" in kw and "EXPTIME" in kw
    del kw["ExPtImE"]
    assert "EXPTIME" not in kw


def test_keywords__order_len_iteration(seg):
    kw = seg.keywords
    for i, n in enumerate(["B", "A", "C", "D-1", "E_2"]):
        kw[n] = i
    kw["A"] = 10  # replacing keeps the place
    assert list(kw) == ["B", "A", "C", "D-1", "E_2"]
    assert kw.keys() == ["B", "A", "C", "D-1", "E_2"]
    assert kw.values() == [0, 10, 2, 3, 4]
    assert kw.items() == [("B", 0), ("A", 10), ("C", 2), ("D-1", 3), ("E_2", 4)]
    assert len(kw) == 5
    assert dict(kw) == {"B": 0, "A": 10, "C": 2, "D-1": 3, "E_2": 4}
    assert kw == {"A": 10, "B": 0, "C": 2, "D-1": 3, "E_2": 4}
    assert kw != {"A": 10}


def test_keywords__missing(seg):
    kw = seg.keywords
    with pytest.raises(KeyError):
        kw["NOPE"]
    with pytest.raises(KeyError):
        del kw["NOPE"]
    with pytest.raises(KeyError):
        kw[3]
    # The key is the exception's one argument, a tuple as any other (as dict does).
    for key in [("X",), ()]:
        for op in (kw.__getitem__, kw.__delitem__, kw.pop):
            with pytest.raises(KeyError) as exc:
                op(key)
            assert exc.value.args == (key,), op
    assert 3 not in kw
    assert "bad name!" not in kw
    assert kw.get("NOPE") is None
    assert kw.get("NOPE", 5) == 5


def test_keywords__dict_methods(seg):
    kw = seg.keywords
    kw.update({"A": 1}, B=2)
    kw.update([("C", 3)])
    assert dict(kw) == {"A": 1, "B": 2, "C": 3}
    assert kw.pop("A") == 1
    assert kw.pop("A", "gone") == "gone"
    with pytest.raises(KeyError):
        kw.pop("A")
    assert kw.setdefault("B", 9) == 2
    assert kw.setdefault("D", 4) == 4
    assert kw["D"] == 4
    kw.clear()
    assert len(kw) == 0
    with pytest.raises(TypeError):
        kw.get()


def test_keywords__comments(seg):
    kw = seg.keywords
    kw.set("EXPTIME", 1.5, comment="seconds")
    assert kw.comment("EXPTIME") == "seconds"
    kw["EXPTIME"] = 3.0  # a new value keeps the comment
    assert kw.comment("exptime") == "seconds"
    kw.set("EXPTIME", 4.0)  # so does set() without a comment
    assert kw.comment("EXPTIME") == "seconds"
    kw.set("OTHER", "x")
    assert kw.comment("OTHER") == ""
    assert kw.comments() == {"EXPTIME": "seconds"}
    kw.set("EXPTIME", 4.0, comment="")
    assert kw.comment("EXPTIME") == ""
    with pytest.raises(KeyError):
        kw.comment("NOPE")
    with pytest.raises(ValueError):
        kw.set("A", 1, comment="c" * 40)


def test_keywords__bad_values_and_names(seg):
    kw = seg.keywords
    for bad in ([1], None, b"bytes", 1 + 2j, object()):
        with pytest.raises(TypeError):
            kw["K"] = bad
    with pytest.raises(OverflowError):
        kw["K"] = 2 ** 63
    with pytest.raises(shmap.ArgumentError):
        kw["K"] = "x" * 72
    with pytest.raises(TypeError):
        kw[1] = 1
    assert len(kw) == 0


def test_keywords__value_comment_pairs_as_create_takes_them(seg, names):
    """A (value, comment) pair sets both, wherever a value is given, as create(keywords=)
    does; a plain value keeps the comment."""
    kw = seg.keywords
    kw["OBJECT"] = ("M31", "target name")
    assert kw["OBJECT"] == "M31" and kw.comment("OBJECT") == "target name"
    kw["OBJECT"] = "M33"  # a plain value keeps the comment
    assert kw["OBJECT"] == "M33" and kw.comment("OBJECT") == "target name"
    kw["OBJECT"] = ("M33", "")  # an empty comment removes it
    assert kw.comment("OBJECT") == ""
    kw.update({"EXPTIME": (1.5, "s"), "N": 3})
    kw.update([("GAIN", (np.float32(2.0), "e/ADU"))], READ=(4, "e"))
    assert kw.setdefault("FILTER", ("V", "band")) == "V"
    assert kw.setdefault("FILTER", ("B", "other")) == "V"  # there: unchanged
    kw.set("OK", (True, "flag"))  # set() without comment= takes a pair too
    expected = {"OBJECT": "M33", "EXPTIME": 1.5, "N": 3, "GAIN": 2.0, "READ": 4,
                "FILTER": "V", "OK": True}
    comments = {"EXPTIME": "s", "GAIN": "e/ADU", "READ": "e", "FILTER": "band", "OK": "flag"}
    assert dict(kw) == expected and kw.comments() == comments
    with shmap.create(names(), 1, "u1", keywords={k: (v, comments[k]) if k in comments else v
                                                   for k, v in expected.items()}) as made:
        assert dict(made.keywords) == expected and made.keywords.comments() == comments
        assert shmap.info(made.name)["keyword_comments"] == shmap.info(
            seg.name)["keyword_comments"]


def test_keywords__value_comment_pairs_follow_create_rules(seg, names):
    """A pair is refused as create(keywords=) refuses it, with the same message."""
    kw = seg.keywords
    other = names()
    for pair, cls in ((("v", "c" * 40), shmap.ArgumentError), (("v", None), TypeError),
                      (("v", 3), TypeError), ((("v", "c"), "d"), TypeError),
                      (([1], "c"), TypeError), (("x" * 72, "c"), shmap.ArgumentError)):
        with pytest.raises(cls) as assigned:
            kw["OBJ"] = pair
        with pytest.raises(cls) as created:
            shmap.create(other, 1, "u1", keywords={"OBJ": pair})
        assert str(assigned.value) == str(created.value).replace(other, seg.name), pair
        with pytest.raises(FileNotFoundError):
            shmap.open(other)
    for bad in (("v",), ("v", "c", "x")):  # not a pair: not a value either
        with pytest.raises(TypeError, match=r"\(value, comment\) pair"):
            kw["OBJ"] = bad
    with pytest.raises(TypeError, match="comment"):
        kw.set("OBJ", ("v", "c"), comment="d")  # two comments
    assert len(kw) == 0


def test_keywords__pairs_documented():
    assert "(value, comment)" in shmap.Keywords.__doc__
    assert "(value, comment)" in shmap.Keywords.update.__doc__
    assert "(value, comment)" in shmap.Keywords.set.__doc__


def argument_error(call):
    """The shmap.ArgumentError call() raises, checked to be the library's EKEYWORD."""
    with pytest.raises(shmap.ArgumentError) as exc:
        call()
    assert isinstance(exc.value, ValueError)
    assert exc.value.code == exc.value.errno == shmap.EKEYWORD
    assert exc.value.errname == "SHMAP_EKEYWORD"
    return str(exc.value)


@pytest.mark.parametrize("bad,why", [
    ("x" * 30, "must be 1 to 23 characters"),
    ("K" * 24, "must be 1 to 23 characters"),
    ("", "must be 1 to 23 characters"),
    ("a b", "may hold only letters, digits, '_' and '-'"),
    ("BAD!", "may hold only letters, digits, '_' and '-'"),
    ("NUL\0", "may hold only letters, digits, '_' and '-'"),
])
def test_keywords__every_bad_name_is_an_argument_error(seg, bad, why):
    kw = seg.keywords
    msg = "%s: keyword name %s %s" % (seg.name, repr(bad), why)
    assert argument_error(lambda: kw.__setitem__(bad, 1)) == msg
    assert argument_error(lambda: kw.set(bad, 1, comment="c")) == msg
    assert argument_error(lambda: kw.update({bad: 1})) == msg
    assert argument_error(lambda: kw.setdefault(bad, 1)) == msg
    assert len(kw) == 0
    # Reading treats a name no keyword can have as a missing one, as a mapping does.
    assert bad not in kw and kw.get(bad) is None
    with pytest.raises(KeyError):
        kw[bad]


def test_keywords__bad_names_given_to_create_create_nothing(name):
    for bad in ("x" * 30, "a b", "NUL\0"):
        msg = argument_error(lambda: shmap.create(name, 3, "u1", keywords={bad: 1}))
        assert msg.startswith("%s: keyword name %r " % (name, bad))
        with pytest.raises(FileNotFoundError):
            shmap.open(name)


def test_keywords__too_long_strings_and_comments_are_argument_errors(seg):
    """The limits are in bytes of UTF-8, and the messages say so."""
    kw = seg.keywords
    msg = argument_error(lambda: kw.__setitem__("obj", "x" * 72))
    assert msg == ("%s: keyword OBJ: string value must be at most 71 bytes in UTF-8 "
                   "(it is 72 bytes)" % seg.name)
    msg = argument_error(lambda: kw.__setitem__("obj", "\u00e9" * 36))  # 36 characters
    assert msg == ("%s: keyword OBJ: string value must be at most 71 bytes in UTF-8 "
                   "(it is 72 bytes)" % seg.name)
    kw["obj"] = "\u00e9" * 35  # 70 bytes: fits
    assert kw["obj"] == "\u00e9" * 35
    del kw["obj"]
    msg = argument_error(lambda: kw.set("obj", 1, comment="c" * 40))
    assert msg == ("%s: keyword OBJ: comment must be at most 39 bytes in UTF-8 "
                   "(it is 40 bytes)" % seg.name)
    msg = argument_error(lambda: kw.set("obj", 1, comment="\u00e9" * 20))
    assert msg == ("%s: keyword OBJ: comment must be at most 39 bytes in UTF-8 "
                   "(it is 40 bytes)" % seg.name)
    assert len(kw) == 0


@pytest.mark.parametrize("text,char,index", [("tab\there", "'\\t'", 3), ("a\nb", "'\\n'", 1),
                                             ("a\0b", "'\\x00'", 1),
                                             ("\u00e9\u00e9\x7f", "'\\x7f'", 2)])
def test_keywords__control_characters_are_refused_as_such(seg, text, char, index):
    kw = seg.keywords
    for what, call in (("string value", lambda: kw.__setitem__("obj", text)),
                       ("comment", lambda: kw.set("obj", 1, comment=text))):
        msg = argument_error(call)
        assert msg == ("%s: keyword OBJ: %s holds a control character, %s at index %d: "
                       "keyword strings are printable text" % (seg.name, what, char, index))
    assert len(kw) == 0


def test_keywords__limits_documented_in_bytes():
    for doc in (shmap.Keywords.__doc__, shmap.Keywords.set.__doc__):
        assert "71 characters" not in doc and "39 characters" not in doc and "bytes" in doc
    assert "71 bytes" in shmap.Keywords.__doc__ and "39 bytes" in shmap.Keywords.__doc__


def test_keywords__full(names):
    with shmap.create(names(), 1, "u1", keyword_capacity=2) as seg:
        seg.keywords["A"] = 1
        seg.keywords["B"] = 2
        with pytest.raises(shmap.Error) as exc:
            seg.keywords["C"] = 3
        assert exc.value.code == shmap.EKEYFULL
        seg.keywords["A"] = 5  # replacing needs no new slot
        assert dict(seg.keywords) == {"A": 5, "B": 2}


def test_keywords__update_sets_all_or_none(names):
    """update() converts every value first and sets them in one change: a value it cannot
    store, or too few free slots, sets none of them; a plain value keeps the comment."""
    with shmap.create(names(), 1, "u1", keyword_capacity=3,
                      keywords={"A": (1, "first")}) as seg:
        kw = seg.keywords
        with pytest.raises(shmap.Error) as exc:
            kw.update({"A": 2, "B": 2, "C": 3, "D": 4})
        assert exc.value.code == shmap.EKEYFULL
        assert "no room for new keywords B, C, D: 2 of 3 keyword slots free" in str(exc.value)
        with pytest.raises(TypeError):
            kw.update([("A", 2), ("B", 2), ("C", object())])
        with pytest.raises(ValueError):
            kw.update([("A", 2), ("B", 2, "three")])
        assert dict(kw) == {"A": 1}
        kw.update({"A": 2, "B": (3, "b")}, C=4)
        assert dict(kw) == {"A": 2, "B": 3, "C": 4}
        assert kw.comments() == {"A": "first", "B": "b"}
        kw.clear()
        assert dict(kw) == {}


def test_keywords__c1_controls_are_refused_as_other_controls(seg):
    """NEL (U+0085) and the other C1 controls are control characters, as str.isprintable()
    says and the library refuses; U+0100, whose UTF-8 has a byte in 80..9F, is not."""
    for bad in ("a\x85b", "\x9f", "x\x7f"):
        with pytest.raises(shmap.ArgumentError, match="control character"):
            seg.keywords["A"] = bad
        with pytest.raises(shmap.ArgumentError, match="control character"):
            seg.keywords["A"] = ("ok", bad)
    seg.keywords["A"] = ("a\u0100b", "\u0100")
    assert seg.keywords["A"] == "a\u0100b" and seg.keywords.comment("A") == "\u0100"


def test_keywords__a_name_that_is_not_utf8_is_escaped_in_messages(names):
    with shmap.create(os.fsencode(names()) + b"\xff", 1, "u1") as seg:
        for call in (lambda: seg.keywords.__setitem__("A", "x" * 80),
                     lambda: seg.keywords.__setitem__("", 1),
                     lambda: seg.keywords.update({"A": "a\x01"})):
            with pytest.raises(shmap.ArgumentError) as exc:
                call()
            assert "\\udcff: keyword" in str(exc.value) and "\ufffd" not in str(exc.value)


def test_keywords__a_message_names_the_segment_first_even_when_it_quotes_it(name):
    with shmap.create(name, 1, "u1") as seg:
        with pytest.raises(shmap.ArgumentError) as exc:
            seg.keywords[name + "x" * 30] = 1
        assert str(exc.value).startswith(name + ": keyword name '" + name)


def test_keywords__repr_of_a_closed_segments_keywords(name):
    seg = shmap.create(name, 1, "u1", keywords={"A": 1})
    kw = seg.keywords
    assert repr(kw) == "<shmap.Keywords of %r {'A': 1}>" % name
    seg.close()
    assert repr(kw) == "<shmap.Keywords of %r closed>" % name
    with pytest.raises(ValueError, match="closed"):
        dict(kw)


def test_keywords__readonly_segment(name):
    shmap.create(name, 1, "u1", keep=True, keywords={"A": 1}).close()
    with shmap.open(name) as ro:
        assert ro.keywords["A"] == 1
        with pytest.raises(shmap.Error) as exc:
            ro.keywords["A"] = 2
        assert exc.value.code == shmap.EREADONLY
        with pytest.raises(shmap.Error):
            del ro.keywords["A"]
        assert ro.keywords["A"] == 1


def test_keywords__shared_between_handles(name):
    with shmap.create(name, 1, "u1") as seg, shmap.open(name) as ro:
        seg.keywords["SEEN"] = "yes"
        assert ro.keywords["SEEN"] == "yes"
        assert shmap.info(name)["keywords"] == {"SEEN": "yes"}


def test_keywords__repr(seg):
    seg.keywords["A"] = 1
    assert repr(seg.keywords) == "<shmap.Keywords of '%s' {'A': 1}>" % seg.name


def test_keywords__a_name_with_a_nul_is_no_keyword_even_to_delete(name):
    """C would read 'A\\0x' as 'A': deleting it must not delete A."""
    with shmap.create(name, 4, "u1") as seg:
        seg.keywords["A"] = 1
        assert "A\0x" not in seg.keywords
        with pytest.raises(KeyError):
            del seg.keywords["A\0x"]
        assert seg.keywords["A"] == 1


def test_keywords__popitem_takes_the_last_in_iteration_order(seg):
    """popitem(), of the MutableMapping interface: the last keyword in iteration order (the
    one first set most recently), as dict.popitem() takes the last inserted; KeyError when
    there is none."""
    kw = seg.keywords
    with pytest.raises(KeyError, match="no keywords"):
        kw.popitem()
    kw["A"] = 1
    kw["B"] = ("two", "a comment")
    kw["C"] = 3.5
    kw["A"] = 10  # setting again keeps its place
    assert kw.popitem() == ("C", 3.5)
    assert kw.popitem() == ("B", "two")
    assert list(kw) == ["A"]
    kw["D"] = True
    assert kw.popitem() == ("D", True)
    while kw:  # code written against the ABC
        kw.popitem()
    assert len(kw) == 0
    with pytest.raises(KeyError):
        kw.popitem()
    assert "popitem" in shmap.Keywords.__doc__
    assert "last" in shmap.Keywords.popitem.__doc__


def test_keywords__every_mutable_mapping_method(seg, names):
    kw = seg.keywords
    abc = collections.abc
    for cls in (abc.MutableMapping, abc.Mapping, abc.Collection, abc.Sized, abc.Iterable,
                abc.Container):  # every method the ABC names or gives
        for method, f in vars(cls).items():
            if callable(f) and method not in ("__subclasshook__", "__init_subclass__"):
                assert callable(getattr(kw, method, None)), method
    kw.update(A=1)  # kwargs alone
    kw.update({"B": 2}, C=3)
    kw.update([("D", 4)], E=5)
    kw.update()  # nothing
    assert dict(kw) == {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}
    with shmap.create(names(), 1, "u1", keywords={"X": "x"}) as other:
        kw.update(other.keywords)  # another Keywords (has keys())
        assert other.keywords == {"X": "x"} and other.keywords != kw
    assert kw["X"] == "x"
    assert kw.pop("A") == 1 and kw.pop("A", None) is None and kw.pop("NOPE", 7) == 7
    assert kw.setdefault("B") == 2  # one argument, as MutableMapping's
    with pytest.raises(TypeError):  # which would store None: not a keyword value
        kw.setdefault("NEW")
    assert "NEW" not in kw
    assert kw.get("B") == 2 and kw.get("NOPE") is None
    assert sorted(kw.keys()) == ["B", "C", "D", "E", "X"]
    assert sorted(kw.items()) == [("B", 2), ("C", 3), ("D", 4), ("E", 5), ("X", "x")]
    assert sorted(map(str, kw.values())) == ["2", "3", "4", "5", "x"]
    assert kw == dict(kw) and not (kw != dict(kw))
    kw.clear()
    assert kw == {} and not kw


def test_keywords__every_change_is_refused_on_a_read_only_segment(name):
    """Whatever the keywords hold, and whether or not the change would change anything: on a
    read-only Segment every method that writes raises shmap.ReadOnlyError."""
    with shmap.create(name, 1, "u1") as seg, shmap.open(name) as ro:
        kw = ro.keywords
        for has in (False, True):
            if has:
                seg.keywords["A"] = 1
            for call in (kw.clear, lambda: kw.update({}), kw.update, lambda: kw.update(B=2),
                         kw.popitem, lambda: kw.pop("A"), lambda: kw.pop("NOPE", 0),
                         lambda: kw.setdefault("A", 2), lambda: kw.setdefault("NOPE", 2),
                         lambda: kw.__setitem__("A", 2), lambda: kw.__delitem__("NOPE"),
                         lambda: kw.set("A", 2, comment="c")):
                with pytest.raises(shmap.ReadOnlyError) as exc:
                    call()
                assert exc.value.code == shmap.EREADONLY
                assert "readonly=False" in str(exc.value) and name in str(exc.value)
            assert dict(kw) == ({"A": 1} if has else {})


def test_keywords__a_value_whose_conversion_closes_the_segment(name):
    """Converting a value may run Python code (a numpy scalar subclass's __index__), which
    may close the Segment (or let another thread do so): the store then raises ValueError,
    never uses the handle let go of."""
    seg = shmap.create(name, 1, "u1")

    class Closing(np.int64):
        def __index__(self):
            seg.close()
            return 5

    with pytest.raises(ValueError, match="closed"):
        seg.keywords["A"] = Closing(5)
    assert seg.closed


@contextlib.contextmanager
def stuck_keyword_writer(name):
    """A keyword writer stopped mid-change in segment `name`: pid and start time of a live
    process in the header, the change count odd, as docs/FORMAT.md lays them out. Yields
    the process's pid."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with open("/proc/%d/stat" % sleeper.pid) as f:
            start = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/dev/shm/" + name, "r+b") as f:
            f.seek(268)
            lock, seq = struct.unpack("<II", f.read(8))
            f.seek(268)
            f.write(struct.pack("<II", sleeper.pid, seq | 1))
            f.seek(384)
            f.write(struct.pack("<Q", start))
        yield sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def test_keywords__a_stuck_keyword_writer_fails_a_store_after_one_second_not_two(name):
    """A keyword writer stopped mid-change is waited for a second: an assignment that keeps
    the comment reads the old keyword first, and must not wait that second twice."""
    with shmap.create(name, 1, "u1") as s:
        s.keywords["A"] = 1
        with stuck_keyword_writer(name) as pid:
            t0 = time.monotonic()
            with pytest.raises(OSError) as e:
                s.keywords["B"] = 2
            took = time.monotonic() - t0
            assert e.value.errno == 16  # EBUSY
            assert "keywords are being changed by pid %d" % pid in str(e.value)
            assert 0.9 <= took < 1.8, took


@pytest.mark.parametrize("call", ["get", "set", "delete", "len", "list", "info"])
def test_keywords__other_threads_run_while_a_stuck_keyword_writer_is_waited_for(name, call):
    """The second a keyword call waits for a stuck keyword writer is spent without the GIL:
    the main thread goes on meanwhile, and the call still fails as it should."""
    calls = {"get": lambda kw, s: kw["A"], "set": lambda kw, s: kw.__setitem__("B", 2),
             "delete": lambda kw, s: kw.__delitem__("A"), "len": lambda kw, s: len(kw),
             "list": lambda kw, s: kw.items(), "info": lambda kw, s: s.info}
    with shmap.create(name, 1, "u1") as s:
        s.keywords["A"] = 1
        kw = s.keywords
        with stuck_keyword_writer(name):
            errors = []

            def waiter():
                try:
                    calls[call](kw, s)
                except OSError as e:
                    errors.append(e.errno)

            t = threading.Thread(target=waiter)
            # The main thread's longest pause while the call waits: the GIL held by the
            # waiting thread would make it the whole second.
            longest, last = 0.0, time.monotonic()
            t.start()
            while t.is_alive() and time.monotonic() - last < 5:
                time.sleep(0.001)
                now = time.monotonic()
                longest = max(longest, now - last)
                last = now
            t.join(5)
            assert not t.is_alive()
            assert longest < 0.5, longest
            assert errors == [16], errors


def test_keywords__given_to_create_are_there_before_the_name(name):
    """A reader that opens the name while create(replace=True, keywords=...) replaces the
    segment again and again never finds it without them."""
    import multiprocessing
    shmap.create(name, 4, "u1", keep=True, keywords={"RUN": 0})
    stop = multiprocessing.Event()
    missing = multiprocessing.Value("i", 0)

    def reader():
        while not stop.is_set():
            try:
                with shmap.open(name) as seg:
                    if "RUN" not in seg.keywords:
                        missing.value += 1
            except FileNotFoundError:
                pass

    proc = multiprocessing.get_context("fork").Process(target=reader)
    proc.start()
    try:
        for i in range(1, 200):
            shmap.create(name, 4, "u1", keep=True, replace=True,
                         keywords={"RUN": i, "OBJECT": ("M31", "target")}).close()
    finally:
        stop.set()
        proc.join(10)
    assert proc.exitcode == 0
    assert missing.value == 0
    with shmap.open(name) as seg:
        assert dict(seg.keywords) == {"RUN": 199, "OBJECT": "M31"}
        assert seg.keywords.comment("OBJECT") == "target"


def test_keywords__create_takes_more_than_the_default_area_holds(name):
    many = {"K%d" % i: i for i in range(40)}
    with shmap.create(name, 4, "u1", keywords=many) as seg:
        assert dict(seg.keywords) == many
        assert seg.info["keyword_capacity"] == 40
