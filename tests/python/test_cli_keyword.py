"""`shmap keyword` and Python's seg.keywords change the same keywords, both ways."""
import json
import math

import pytest

import shmap
from conftest import cli_json, run_cli


def test_cli_keyword_sets__python_reads_types_and_comments(name):
    run_cli("create", name, "u8", "1")
    run_cli("keyword", name, "I=-12 / an int", "F=2.0", "S=it's M31 / target",
            "Q='a / b'", "T=T", "B=false", "H=0x10", "E=")
    with shmap.open(name) as seg:
        kw = seg.keywords
        assert dict(kw) == {"I": -12, "F": 2.0, "S": "it's M31", "Q": "a / b", "T": True,
                            "B": False, "H": 16, "E": ""}
        assert [type(kw[k]) for k in ("I", "F", "S", "T")] == [int, float, str, bool]
        assert kw.comments() == {"I": "an int", "S": "target"}


def test_python_sets__cli_keyword_reads(name):
    with shmap.create(name, 1, "u1", keep=True) as seg:
        seg.keywords.set("EXPTIME", 1.5, comment="seconds")
        seg.keywords.update({"OBJECT": "Vega", "N": 3, "OK": True,
                             "NAN": float("nan"), "INF": float("-inf")})
    assert run_cli("keyword", name).stdout == (
        "EXPTIME  = 1.5 / seconds\n"
        "OBJECT   = 'Vega'\n"
        "N        = 3\n"
        "OK       = T\n"
        "NAN      = nan\n"
        "INF      = -inf\n")
    assert run_cli("keyword", name, "object").stdout == "Vega\n"
    assert run_cli("keyword", name, "INF").stdout == "-inf\n"
    one = json.loads(run_cli("keyword", name, "EXPTIME", "--json").stdout)
    assert one == {"keyword": "EXPTIME", "type": "float", "value": 1.5, "comment": "seconds"}
    one = json.loads(run_cli("keyword", name, "NAN", "--json").stdout)
    assert one == {"keyword": "NAN", "type": "float", "value": None, "comment": ""}
    proc = run_cli("keyword", name, "MISSING", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "shmap: %s: no keyword MISSING\n" % name


def test_cli_keyword_keeps_comments_as_python_does(name):
    with shmap.create(name, 1, "u1", keep=True) as seg:
        seg.keywords.set("GAIN", 2, comment="e-/ADU")
        seg.keywords["GAIN"] = 3                  # Python keeps the comment...
        run_cli("keyword", name, "GAIN=4")       # ...and so does the command
        assert seg.keywords["GAIN"] == 4
        assert seg.keywords.comment("GAIN") == "e-/ADU"
        run_cli("keyword", name, "GAIN=5 /")     # an empty comment clears it
        assert seg.keywords.comment("GAIN") == ""
        run_cli("keyword", name, "--delete", "gain")
        assert "GAIN" not in seg.keywords
        assert dict(seg.keywords) == {}


def test_cli_keyword_json_round_trips_with_info_and_python(name):
    run_cli("create", name, "f4", "2", "--keyword", "A=1 / one", "--keyword", "B=x")
    with shmap.open(name, readonly=False) as seg:
        seg.keywords.set("C", 0.25, comment="quarter")
    listing = cli_json("keyword", name, "--json")
    info = cli_json("info", name, "--json")
    assert listing == {"name": info["name"], "keyword_capacity": info["keyword_capacity"],
                       "keywords": info["keywords"],
                       "keyword_comments": info["keyword_comments"]}
    assert listing["keywords"] == {"A": 1, "B": "x", "C": 0.25}
    with shmap.open(name) as seg:
        assert dict(seg.keywords) == listing["keywords"]
        assert seg.keywords.comments() == listing["keyword_comments"]
        assert seg.info["keyword_capacity"] == listing["keyword_capacity"]


def test_cli_keyword_in_a_small_area_changes_nothing(name):
    with shmap.create(name, 1, "u1", keep=True, keyword_capacity=2) as seg:
        seg.keywords["A"] = 1
    proc = run_cli("keyword", name, "B=2", "C=3", check=False)
    assert proc.returncode == 1
    assert "no room for new keywords B, C: 1 of 2 keyword slots free" in proc.stderr
    proc = run_cli("keyword", name, "B=2", "C=3 / %s" % ("x" * 40), check=False)
    assert proc.returncode == 2
    with shmap.open(name) as seg:
        assert dict(seg.keywords) == {"A": 1}
    run_cli("keyword", name, "B=2", "a=1.5")
    with shmap.open(name) as seg:
        assert dict(seg.keywords) == {"A": 1.5, "B": 2}
        assert math.isclose(seg.keywords["A"], 1.5)


@pytest.mark.parametrize("args", [["--dtype", "u1", "--shape", "1"], ["--private"]])
def test_cli_keyword_refuses_raw_options(name, args):
    run_cli("create", name, "u8", "1")
    proc = run_cli("keyword", name, *args, check=False)
    assert proc.returncode == 2
    assert "a raw array has no header, and no keywords" in proc.stderr.splitlines()[0]
