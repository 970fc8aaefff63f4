"""The `shmap` command and Python share segments, both ways."""
import numpy as np
import pytest

import shmap
from conftest import cli_json, run_cli


def test_cli_creates__python_reads(name):
    run_cli("create", name, "f32", "4", "4")
    run_cli("fill", name, "ramp")
    with shmap.open(name) as seg:
        assert seg.shape == (4, 4)
        assert seg.dtype == np.float32
        np.testing.assert_array_equal(seg.array, np.arange(16, dtype=np.float32).reshape(4, 4))
        assert seg.readonly


def test_cli_creates__python_writes__cli_reads(name):
    run_cli("create", name, "i16", "2", "3")
    with shmap.open(name, readonly=False) as seg:
        seg.array[:] = [[1, -2, 3], [4, 5, -6]]
    assert run_cli("cat", name).stdout == "1 -2 3\n4 5 -6\n"


def test_python_creates__cli_reads(name):
    with shmap.create(name, (2, 3), "f8", keep=True) as seg:
        seg.array[:] = [[0.5, 1, 2], [3, 4, -1.25]]
        seg.keywords.set("EXPTIME", 2.5, comment="seconds")
        seg.publish()
    assert run_cli("cat", name).stdout == "0.5 1 2\n3 4 -1.25\n"
    info = cli_json("info", name, "--json")
    assert info["dtype"] == "f64" and info["shape"] == [2, 3]
    assert info["keywords"] == {"EXPTIME": 2.5}
    assert info["keyword_comments"] == {"EXPTIME": "seconds"}
    assert info["generation"] == 1
    assert name in run_cli("ls").stdout


@pytest.mark.parametrize("dtype,text", [
    ("c64", "1+2j 0+0j 2-1.5j\n"), ("bool", "True False True\n"),
    ("u64", "18446744073709551615 0 7\n"),
], ids=["c64", "bool", "u64"])
def test_python_creates__cli_reads_types(name, dtype, text):
    vals = {"c64": [1 + 2j, 0, 2 - 1.5j], "bool": [True, False, True],
            "u64": [2 ** 64 - 1, 0, 7]}[dtype]
    with shmap.create(name, 3, dtype, keep=True) as seg:
        seg.array[:] = vals
    assert run_cli("cat", name).stdout == text


def test_records__both_ways(name, names):
    run_cli("create", name, "record:x:f4,flag:u1,pos:i2[3]", "2")
    run_cli("set", name, "1", "x=1.5")
    with shmap.open(name, readonly=False) as seg:
        assert seg.dtype.names == ("x", "flag", "pos")
        assert seg.dtype["pos"].shape == (3,)
        assert seg.array[1]["x"] == 1.5
        seg.array[0]["pos"] = [1, 2, 3]
    assert run_cli("cat", name).stdout == \
        "(x=0, flag=0, pos=[1, 2, 3]) (x=1.5, flag=0, pos=[0, 0, 0])\n"

    other = names()
    dt = np.dtype([("t", "<f8"), ("ok", "?")])
    with shmap.create(other, 2, dt, keep=True) as seg:
        seg.array[:] = [(0.25, True), (2, False)]
    assert run_cli("cat", other).stdout == "(t=0.25, ok=True) (t=2, ok=False)\n"


def test_keywords__both_ways(name):
    run_cli("create", name, "u8", "1", "--keyword", "GAIN=2", "--keyword", "MODE=fast")
    with shmap.open(name, readonly=False) as seg:
        assert dict(seg.keywords) == {"GAIN": 2, "MODE": "fast"}
        seg.keywords["GAIN"] = 3.5
        seg.keywords["DONE"] = True
    assert cli_json("info", name, "--json")["keywords"] == {"GAIN": 3.5, "MODE": "fast",
                                                            "DONE": True}


def test_cli_rm__python_sees_it_gone(name):
    shmap.create(name, 1, "u1", keep=True).close()
    run_cli("rm", name)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_python_delete__cli_sees_it_gone(name):
    run_cli("create", name, "u8", "1")
    shmap.delete(name)
    proc = run_cli("info", name, check=False)
    assert proc.returncode == 1
    assert name in proc.stderr


def test_cli_create_keeps__python_attach_never_removes(name):
    run_cli("create", name, "u8", "3")
    for _ in range(3):
        with shmap.open(name, readonly=False) as seg:
            seg.array[0] += 1
    assert run_cli("cat", name).stdout == "3 0 0\n"
