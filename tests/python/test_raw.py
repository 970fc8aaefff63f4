"""Raw mappings (shmap.open with dtype and shape, or a template) of plain files and foreign
POSIX objects, at page-aligned and unaligned offsets; private (copy-on-write) mappings."""
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import shmap
from conftest import cli_json, python_env, run_python_as_nobody

DATA = bytes(range(256)) * 40  # 10240 bytes: two and a half pages
PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture
def tmp_path():
    """A fresh directory, removed with everything in it when the test ends (pytest's own
    tmp_path keeps the last runs' directories)."""
    with tempfile.TemporaryDirectory(prefix="shmap-pytest-") as d:
        yield pathlib.Path(d)


@pytest.fixture
def plain_file(tmp_path):
    """A plain file holding DATA, as 'file:PATH'."""
    path = tmp_path / "plain.bin"
    path.write_bytes(DATA)
    return "file:%s" % path


@pytest.fixture(params=["file", "posix"])
def raw_object(request, tmp_path, foreign):
    """A named object that holds DATA and has no shmap header: a plain file, or a POSIX
    shared-memory object made with open() in /dev/shm."""
    if request.param == "file":
        path = tmp_path / "plain.bin"
        path.write_bytes(DATA)
        return "file:%s" % path
    return foreign(DATA)


@pytest.mark.parametrize("offset", [0, 1, PAGE - 1, PAGE, PAGE + 1])
def test_raw__bytes_at_any_offset(raw_object, offset):
    with shmap.open(raw_object, dtype="u1", shape=16, offset=offset) as seg:
        assert seg.raw is True and seg.private is False and seg.readonly is True
        assert seg.offset == offset
        assert seg.shape == (16,) and seg.dtype == np.uint8 and seg.nbytes == 16
        assert seg.array.tolist() == list(DATA[offset:offset + 16])
        assert bytes(memoryview(seg)) == DATA[offset:offset + 16]
        assert repr(seg).endswith("read-only raw>")


@pytest.mark.parametrize("dtype,offset", [("<u2", 2), ("f4", 4), ("<i4", PAGE), ("f8", PAGE + 8),
                                          ("c8", 8), ("<u2", PAGE + 2)])
def test_raw__typed_at_aligned_offsets(raw_object, dtype, offset):
    shape = (4, 8)
    want = np.frombuffer(DATA, dtype=dtype, count=32, offset=offset).reshape(shape)
    with shmap.open(raw_object, dtype=dtype, shape=shape, offset=offset) as seg:
        assert seg.dtype == np.dtype(dtype) and seg.shape == shape
        np.testing.assert_array_equal(seg.array, want)


def test_raw__misaligned_offset_is_refused(raw_object):
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.open(raw_object, dtype="f4", shape=4, offset=PAGE + 1)
    assert exc.value.code == shmap.EINVAL
    assert "offset %d" % (PAGE + 1) in str(exc.value)
    assert "multiple of 4" in str(exc.value)


def test_raw__too_small_object_is_refused(raw_object):
    with pytest.raises(shmap.Error) as exc:
        shmap.open(raw_object, dtype="u1", shape=(10, 1024), offset=1)
    assert exc.value.code == shmap.ETRUNCATED
    assert "10240 bytes" in str(exc.value) and "10241" in str(exc.value)
    with pytest.raises(shmap.Error):  # one byte past the end
        shmap.open(raw_object, dtype="u1", shape=len(DATA) - PAGE + 1, offset=PAGE)
    with shmap.open(raw_object, dtype="u1", shape=len(DATA) - PAGE, offset=PAGE) as seg:
        assert seg.array[-1] == DATA[-1]  # exactly to the end


def test_raw__missing_object(tmp_path, name):
    with pytest.raises(FileNotFoundError):
        shmap.open("file:%s" % (tmp_path / "none"), dtype="u1", shape=1)
    with pytest.raises(FileNotFoundError):
        shmap.open(name, dtype="u1", shape=1)


def test_raw__arguments():
    with pytest.raises(TypeError, match="shape is missing"):
        shmap.open("x", dtype="u1")
    with pytest.raises(TypeError, match="dtype is missing"):
        shmap.open("x", shape=3)
    with pytest.raises(TypeError, match="raw mappings"):
        shmap.open("x", offset=4)
    with pytest.raises(TypeError, match="not both"):
        shmap.open("x", template="y", dtype="u1")
    with pytest.raises(TypeError, match="template"):
        shmap.open("x", template=3)
    with pytest.raises(ValueError):
        shmap.open("x", dtype="u1", shape=1, offset=-1)
    with pytest.raises(shmap.DtypeError):
        shmap.open("x", dtype="nonsense", shape=1)
    with pytest.raises(ValueError):
        shmap.open("x", dtype="u1", shape=0)


def test_raw__read_write_reaches_the_object(plain_file):
    with shmap.open(plain_file, False, dtype="u1", shape=4, offset=PAGE + 1) as seg:
        assert seg.readonly is False
        seg.array[:] = [9, 8, 7, 6]
    with open(plain_file[5:], "rb") as f:
        data = f.read()
    assert data[PAGE + 1:PAGE + 5] == bytes([9, 8, 7, 6])
    assert data[:PAGE + 1] == DATA[:PAGE + 1] and data[PAGE + 5:] == DATA[PAGE + 5:]


def test_raw__read_only_refuses_writes(raw_object):
    with shmap.open(raw_object, dtype="u1", shape=4) as seg:
        with pytest.raises(ValueError, match="read-only"):
            seg.array[0] = 1


def test_raw__private_writes_stay_here(raw_object):
    with shmap.open(raw_object, dtype="<u2", shape=8, offset=2, private=True) as seg:
        assert seg.private is True and seg.readonly is False
        assert repr(seg).endswith("private raw>")
        seg.array[:] = 0xBEEF
        assert (seg.array == 0xBEEF).all()
        with shmap.open(raw_object, dtype="<u2", shape=8, offset=2) as shared:
            assert shared.array.tobytes() == DATA[2:18]
    if raw_object.startswith("file:"):
        with open(raw_object[5:], "rb") as f:
            assert f.read() == DATA
    with pytest.raises(ValueError, match="readonly=True contradicts"):
        shmap.open(raw_object, True, dtype="u1", shape=1, private=True)


def test_raw__template_from_a_segment_or_a_name(name, foreign):
    dt = np.dtype([("x", "<f4"), ("n", "<u2")])  # 6-byte packed records
    with shmap.create(name, (2, 3), dt) as tmpl:
        tmpl.array["x"] = np.arange(6).reshape(2, 3)
        junk = foreign(tmpl.array.tobytes() + b"\0" * 100)
        for t in (tmpl, name):
            with shmap.open(junk, template=t) as seg:
                assert seg.raw and seg.dtype == dt and seg.shape == (2, 3)
                np.testing.assert_array_equal(seg.array, tmpl.array)
    with pytest.raises(FileNotFoundError):
        shmap.open(junk, template=name)  # gone with its creator's close
    closed = shmap.create(name, 1, "u1")
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        shmap.open(junk, template=closed)


def test_raw__a_described_segment_mapped_raw(name):
    """A shmap segment is an object like any other: its data is at its data offset."""
    with shmap.create(name, 8, "i4", keep=True) as seg:
        seg.array[:] = np.arange(8) * 3
        offset = seg.offset
    with shmap.open(name, dtype="i4", shape=8, offset=offset) as raw:
        assert raw.array.tolist() == [0, 3, 6, 9, 12, 15, 18, 21]
        assert [m["offset"] for m in shmap.mappings() if m["name"] == name] == [offset]


def test_raw__has_no_header(foreign):
    junk = foreign(DATA)
    with shmap.open(junk, False, dtype="u1", shape=64) as seg:
        for what, call in [
                ("keywords", lambda: seg.keywords["A"]),
                ("keyword", lambda: seg.keywords.__setitem__("A", 1)),
                ("lock", lambda: seg.lock()),
                ("publish", seg.publish),
                ("wait", lambda: seg.wait(timeout=0)),
                ("read_frame", seg.read_frame),
                ("write", seg.write_begin),
                ("generation", lambda: seg.generation),
                ("attached", lambda: seg.attached),
                ("lock info", lambda: seg.lock_info)]:
            with pytest.raises(shmap.Error) as exc:
                call()
            assert exc.value.code == shmap.ERAW, what
            assert exc.value.errname == "SHMAP_ERAW"
            assert junk in str(exc.value)
        seg.set_destroy(True)  # a raw mapping never destroys anything
    assert os.path.exists("/dev/shm/" + junk)


@pytest.mark.parametrize("private", [False, True])
def test_raw__info_is_the_cli_raw_json(raw_object, private):
    args = ["info", raw_object, "--dtype", "u2", "--shape", "3,2", "--offset", "6"]
    cli = cli_json(*args + (["--private"] if private else []), "--json")
    with shmap.open(raw_object, dtype="u2", shape=(3, 2), offset=6, private=private) as seg:
        info = seg.info
    assert list(info) == list(cli)
    for key in cli:
        assert info[key] == cli[key], key
        assert type(info[key]) is type(cli[key]), key
    assert info["raw"] is True and info["shmap"] is False and info["private"] is private
    assert info["shape"] == [3, 2] and info["data_offset"] == 6 and info["generation"] is None


@pytest.mark.parametrize("private", [False, True])
@pytest.mark.parametrize("dtype,shape,offset,cli_dtype,cli_shape", [
    ("u2", (3, 2), 6, "u2", "3,2"),
    ("<f4", 5, PAGE + 4, "f32", "5"),
    ("record:x:u1,y:u2", 4, 1, "record:x:u1,y:u2", "4"),
    ("u1", (2, 2, 2), 0, "byte", "2,2,2"),
])
def test_raw__module_info_is_the_cli_raw_json(raw_object, private, dtype, shape, offset,
                                              cli_dtype, cli_shape):
    """shmap.info(name, dtype=, shape=, offset=, private=) describes an object without a
    header as `shmap info NAME --dtype T --shape D,... --offset B [--private] --json` does."""
    args = ["info", raw_object, "--dtype", cli_dtype, "--shape", cli_shape,
            "--offset", str(offset)] + (["--private"] if private else [])
    cli = cli_json(*args, "--json")
    info = shmap.info(raw_object, dtype=dtype, shape=shape, offset=offset, private=private)
    assert list(info) == list(cli)
    for key in cli:
        assert info[key] == cli[key], key
        assert type(info[key]) is type(cli[key]), key
    assert info["raw"] is True and info["private"] is private and info["data_offset"] == offset
    assert [m for m in shmap.mappings() if m["name"] == info["name"]] == []  # unmapped


def test_raw__module_info_with_a_template(raw_object, name):
    shmap.create(name, (2, 3), "u2", keep=True).close()
    for template in (name, shmap.open(name)):
        info = shmap.info(raw_object, template=template, offset=2)
        assert info["raw"] is True and info["dtype"] == "u16" and info["shape"] == [2, 3]
        assert info["data_offset"] == 2
        if isinstance(template, shmap.Segment):
            template.close()


def test_raw__module_info_errors(raw_object, name):
    with pytest.raises(shmap.Error) as exc:  # larger than the object
        shmap.info(raw_object, dtype="u1", shape=len(DATA) + 1)
    assert exc.value.code == shmap.ETRUNCATED and str(len(DATA)) in str(exc.value)
    with pytest.raises(shmap.ArgumentError) as exc:  # misaligned for the type
        shmap.info(raw_object, dtype="f4", shape=1, offset=2)
    assert exc.value.code == shmap.EINVAL
    with pytest.raises(TypeError, match="shape"):
        shmap.info(raw_object, dtype="u1")
    with pytest.raises(TypeError, match="dtype"):
        shmap.info(raw_object, shape=3)
    with pytest.raises(TypeError, match="offset is for raw mappings"):
        shmap.info(raw_object, offset=4)
    with pytest.raises(TypeError):
        shmap.info(raw_object, "u1", 3)  # the raw options are keyword-only
    with pytest.raises(shmap.DtypeError):
        shmap.info(raw_object, dtype="nonsense", shape=3)
    with pytest.raises(FileNotFoundError):
        shmap.info(name, dtype="u1", shape=3)
    with pytest.raises(shmap.Error) as exc:  # without a description, it is not a segment
        shmap.info(raw_object)
    assert exc.value.code in (shmap.EFORMAT, shmap.ECORRUPT)


def test_raw__module_info_documented():
    import inspect
    params = inspect.signature(shmap.info).parameters
    assert list(params) == ["name", "dtype", "shape", "offset", "private", "template"]
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "name")
    for word in ("--dtype", "dtype", "shape", "offset", "private", "template", "raw"):
        assert word in shmap.info.__doc__, word


def test_raw__pickles_as_the_same_raw_mapping(raw_object):
    with shmap.open(raw_object, dtype="u1", shape=(2, 4), offset=PAGE + 3) as seg:
        again = pickle.loads(pickle.dumps(seg))
        with again:
            assert again.raw and again.offset == PAGE + 3 and again.shape == (2, 4)
            np.testing.assert_array_equal(again.array, seg.array)
    with shmap.open(raw_object, dtype="u1", shape=4, private=True) as seg:
        with pickle.loads(pickle.dumps(seg)) as again:
            assert again.private and again.raw


OTHER = ">" if sys.byteorder == "little" else "<"


@pytest.mark.parametrize("code", ["f4", "u2", "i8", "c8", "f2"])
def test_raw__the_other_byte_order_reads_and_writes_numbers(raw_object, code):
    """A raw open given the other byte order ('>f4' on a little-endian machine, or such a
    numpy dtype) maps an array of that dtype: numpy reads the numbers, and writes reach the
    object in that order, as the CLI reads and writes them."""
    other = np.dtype(OTHER + code)
    want = np.frombuffer(DATA, other, count=6, offset=8)
    for dtype in (OTHER + code, other):
        with shmap.open(raw_object, dtype=dtype, shape=(2, 3), offset=8) as seg:
            assert seg.dtype == other and seg.array.dtype == other
            np.testing.assert_array_equal(seg.array, want.reshape(2, 3))
            np.testing.assert_array_equal(np.asarray(seg), want.reshape(2, 3))
            assert memoryview(seg).format[0] == OTHER
            assert seg.info["numpy"] == other.str and seg.info["dtype"] == \
                shmap.info(raw_object, dtype=np.dtype(code), shape=6, offset=8)["dtype"]
            again = pickle.loads(pickle.dumps(seg))
            with again:
                assert again.dtype == other
    cli = cli_json("info", raw_object, "--dtype", OTHER + code, "--shape", "2,3", "--offset",
                   "8", "--json")
    assert shmap.info(raw_object, dtype=OTHER + code, shape=(2, 3), offset=8) == cli
    if raw_object.startswith("file:"):
        with shmap.open(raw_object, dtype=other, shape=6, offset=8, readonly=False) as seg:
            seg.array[:] = np.arange(6)
        data = pathlib.Path(raw_object[5:]).read_bytes()
        assert data[8:8 + 6 * other.itemsize] == np.arange(6).astype(other).tobytes()
        assert data[:8] == DATA[:8] and data[8 + 6 * other.itemsize:] == \
            DATA[8 + 6 * other.itemsize:]


def test_raw__the_other_byte_order_only_for_raw_numbers(raw_object, name):
    with shmap.open(raw_object, dtype="!u2", shape=2) as seg:  # network order
        assert seg.dtype == np.dtype(">u2")
    # Spelled as the library reads it, as the CLI takes it; a Segment as a template.
    for spelling in (OTHER + "F4", (OTHER + "f4").encode(), OTHER + "f" + "0" * 60 + "4"):
        with shmap.open(raw_object, dtype=spelling, shape=3, offset=4) as seg:
            assert seg.dtype == np.dtype(OTHER + "f4")
            with shmap.open(raw_object, template=seg, offset=4) as again:
                assert again.dtype == seg.dtype
                np.testing.assert_array_equal(again.array, seg.array)
            assert shmap.info(raw_object, template=seg)["numpy"] == OTHER + "f4"
    with shmap.open(raw_object, dtype=OTHER + "u1", shape=2) as seg:  # one byte: no order
        assert seg.dtype == np.uint8
    for dtype in (OTHER + "f4", np.dtype(OTHER + "f4")):
        with pytest.raises(shmap.DtypeError) as exc:
            shmap.create(name, 3, dtype)
        assert exc.value.code == shmap.EBYTEORDER and "raw open of numbers" in str(exc.value)
    with pytest.raises(shmap.DtypeError, match=r"dtype\('%sU2'\)" % OTHER):
        shmap.open(raw_object, dtype=np.dtype(OTHER + "U2"), shape=2)
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.open(raw_object, dtype=[("x", OTHER + "f4")], shape=2)
    assert exc.value.code == shmap.EBYTEORDER
    assert "other byte order" in shmap.open.__doc__


# ---------------------------------------------------------------------------------------
# Private mappings of described file segments


def test_private__file_segment_writes_never_reach_the_file(tmp_path):
    name = "file:%s" % (tmp_path / "seg.shmap")
    with shmap.create(name, (2, 2), "f8", keywords={"A": 1}) as seg:
        seg.array[:] = 1.5
        seg.publish()
    with open(name[5:], "rb") as f:
        before = f.read()
    with shmap.open(name, private=True) as p:
        assert p.private and not p.raw and not p.readonly
        assert p.store == "file" and p.generation == 1
        assert (p.array == 1.5).all()
        p.array[:] = -2
        p.keywords["A"] = 2
        p.publish()
        assert (p.array == -2).all() and p.keywords["A"] == 2
        with shmap.open(name) as shared:
            assert (shared.array == 1.5).all() and shared.keywords["A"] == 1
            assert shared.generation == 1
        with pickle.loads(pickle.dumps(p)) as again:  # in this process: the same copy
            assert again.private and (again.array == -2).all()
    with open(name[5:], "rb") as f:
        assert f.read() == before


def test_private__read_permission_is_enough(tmp_path):
    """A user who may read a file but not write it gets a writable private copy. Run as
    a user without write permission: root's would let a read-write open through."""
    code = (
        "import shmap, sys\n"
        "name = sys.argv[1]\n"
        "try:\n"
        "    shmap.open(name, readonly=False)\n"
        "except PermissionError:\n"
        "    print('refused')\n"
        "with shmap.open(name, private=True) as p:\n"
        "    p.array[:] = 5\n"
        "    print(p.array.tolist())\n")
    if os.geteuid() == 0:
        # A directory and file nobody may read but not write.
        d = tempfile.mkdtemp(prefix="shmapt-ro-")
        try:
            os.chmod(d, 0o755)
            name = "file:%s/ro.shmap" % d
            shmap.create(name, 4, "u1").close()
            os.chmod(name[5:], 0o444)
            with open(name[5:], "rb") as f:
                before = f.read()
            proc = run_python_as_nobody(code, name)
            with open(name[5:], "rb") as f:
                untouched = f.read() == before
        finally:
            shutil.rmtree(d, ignore_errors=True)
    else:
        name = "file:%s" % (tmp_path / "ro.shmap")
        shmap.create(name, 4, "u1").close()
        os.chmod(name[5:], 0o400)
        with open(name[5:], "rb") as f:
            before = f.read()
        proc = subprocess.run([sys.executable, "-c", code, name], capture_output=True,
                              text=True, timeout=60, env=python_env())
        with open(name[5:], "rb") as f:
            untouched = f.read() == before
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["refused", "[5, 5, 5, 5]"]
    assert untouched
