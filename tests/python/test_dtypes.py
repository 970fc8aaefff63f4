"""Element types: every type round trips, numpy and IDL spellings, records, buffer formats."""
import numpy as np
import pytest
from numpy.lib.recfunctions import repack_fields

import shmap

# shmap's name, numpy's dtype, the PEP 3118 format the buffer protocol gives.
TYPES = [
    ("u8", np.dtype("u1"), "B"),
    ("i8", np.dtype("i1"), "b"),
    ("u16", np.dtype("u2"), "H"),
    ("i16", np.dtype("i2"), "h"),
    ("u32", np.dtype("u4"), "I"),
    ("i32", np.dtype("i4"), "i"),
    ("u64", np.dtype("u8"), "Q"),
    ("i64", np.dtype("i8"), "q"),
    ("f16", np.dtype("f2"), "e"),
    ("f32", np.dtype("f4"), "f"),
    ("f64", np.dtype("f8"), "d"),
    ("c64", np.dtype("c8"), "Zf"),
    ("c128", np.dtype("c16"), "Zd"),
    ("bool", np.dtype("?"), "?"),
]


def sample(dtype, shape):
    """Values that use the type's range: negatives, fractions, imaginary parts."""
    n = int(np.prod(shape))
    if dtype.kind == "b":
        return (np.arange(n) % 3 == 0).reshape(shape)
    if dtype.kind == "c":
        return (np.arange(n) * 1.5 - 2j * np.arange(n)).astype(dtype).reshape(shape)
    if dtype.kind == "f":
        return (np.arange(n) * 0.25 - 3).astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    vals = [lo + (hi - lo) * k // (n - 1) for k in range(n)]
    return np.array(vals, dtype=dtype).reshape(shape)


@pytest.mark.parametrize("sname,dtype,fmt", TYPES, ids=[t[0] for t in TYPES])
def test_dtype__round_trip(name, sname, dtype, fmt):
    shape = (3, 5)
    seg = shmap.create(name, shape, dtype, keep=True)
    assert seg.dtype == dtype
    assert seg.shape == shape
    assert seg.nbytes == 15 * dtype.itemsize
    vals = sample(dtype, shape)
    seg.array[...] = vals
    seg.close()
    with shmap.open(name) as ro:
        assert ro.readonly
        assert ro.dtype == dtype
        got = ro.array
        assert got.dtype == dtype and got.shape == shape
        np.testing.assert_array_equal(got, vals)
    info = shmap.info(name)
    assert info["dtype"] == sname
    assert np.dtype(info["numpy"]) == dtype


@pytest.mark.parametrize("sname,dtype,fmt", TYPES, ids=[t[0] for t in TYPES])
def test_dtype__shmap_name_spelling(name, sname, dtype, fmt):
    with shmap.create(name, 4, sname) as seg:
        assert seg.dtype == dtype
    assert shmap.parse_dtype(sname) == dtype


SPELLINGS = [
    # numpy
    (np.float32, "f4"), (np.dtype("<f4"), "f4"), ("f4", "f4"), ("<f4", "f4"), ("=f4", "f4"),
    ("float32", "f4"), ("float64", "f8"), ("f8", "f8"), ("d", "f8"), ("single", "f4"),
    ("half", "f2"), ("e", "f2"), (np.float16, "f2"), ("uint8", "u1"), ("|u1", "u1"),
    ("int16", "i2"), ("<i8", "i8"), ("int64", "i8"), ("uint64", "u8"), ("c8", "c8"),
    ("complex64", "c8"), ("c16", "c16"), ("complex128", "c16"), ("?", "?"), ("b1", "?"),
    (bool, "?"), (np.bool_, "?"), (float, "f8"), (complex, "c16"), (np.int32, "i4"),
    ("float_", "f8"), ("intc", "i4"),
    # IDL: where numpy and IDL disagree, IDL's meaning wins in strings
    ("byte", "u1"), ("int", "i2"), ("uint", "u2"), ("long", "i4"), ("ulong", "u4"),
    ("long64", "i8"), ("ulong64", "u8"), ("float", "f4"), ("double", "f8"),
    ("complex", "c8"), ("dcomplex", "c16"), ("DOUBLE", "f8"),
    ("integer", "i2"), ("l64", "i8"), ("ul64", "u8"),  # SHMMAP's type keywords
    # shmap
    ("f16", "f2"), ("c64", "c8"), ("c128", "c16"), ("i8", "i1"), ("u64", "u8"),
]


@pytest.mark.parametrize("spelling,expect", SPELLINGS, ids=[str(s[0]) for s in SPELLINGS])
def test_dtype__spellings(spelling, expect):
    assert shmap.parse_dtype(spelling) == np.dtype(expect)


def test_dtype__spelling_used_by_create(name):
    with shmap.create(name, (2, 2), "int") as seg:
        assert seg.dtype == np.int16
        assert shmap.info(name)["dtype"] == "i16"


def assert_dtype_error(e, code=shmap.EDTYPE):
    """A refused type is a shmap.DtypeError that carries code, errname and errno as the docs
    promise every shmap.Error does, whether the library's parser refused a type word or the
    binding a numpy dtype: a handler reading e.errname must never meet an AttributeError."""
    assert isinstance(e, shmap.DtypeError) and isinstance(e, TypeError)
    assert e.code == code and e.errno == code
    assert e.errname == {shmap.EDTYPE: "SHMAP_EDTYPE",
                         shmap.EBYTEORDER: "SHMAP_EBYTEORDER"}[code]


# A spelling, and the code it is refused with.
BAD = [(">f4", shmap.EBYTEORDER), (">i8", shmap.EBYTEORDER), ("U10", shmap.EDTYPE),
       ("S4", shmap.EDTYPE), (object, shmap.EDTYPE), ("M8[s]", shmap.EDTYPE),
       (np.longdouble, shmap.EDTYPE), ("foo", shmap.EDTYPE), ("O", shmap.EDTYPE),
       ("float128", shmap.EDTYPE), ("(3,)f4", shmap.EDTYPE), (np.dtype("V8"), shmap.EDTYPE),
       # numpy dtype objects go through the binding, not the library's parser
       (np.dtype("<U4"), shmap.EDTYPE), (np.dtype("M8[ns]"), shmap.EDTYPE),
       (np.dtype(">f4"), shmap.EBYTEORDER), (np.dtype("(2,)i4"), shmap.EDTYPE), ("g", shmap.EDTYPE)]


@pytest.mark.parametrize("spelling,code", BAD, ids=[
    "dtype(%s)" % b[0] if isinstance(b[0], np.dtype) else str(b[0]) for b in BAD])
def test_dtype__refused(name, spelling, code):
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.create(name, 4, spelling)
    assert isinstance(exc.value, shmap.Error)
    assert str(exc.value)
    assert_dtype_error(exc.value, code)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_dtype__none_is_type_error(name):
    with pytest.raises(TypeError):
        shmap.create(name, 4, None)


def test_dtype__unknown_word_message_lists_types():
    with pytest.raises(shmap.DtypeError, match="unknown type 'foo'") as exc:
        shmap.parse_dtype("foo")
    assert "bool" in str(exc.value)
    # and the record form, which has no word of its own to guess
    assert "record field list such as x:f4,y:f4,flag:u1" in str(exc.value)


def test_dtype__other_byte_order_says_so():
    with pytest.raises(shmap.DtypeError, match="byte order"):
        shmap.parse_dtype(">f8")
    with pytest.raises(shmap.DtypeError, match="byte order"):
        shmap.parse_dtype(np.dtype(">f8"))


# ---------------------------------------------------------------------------------------
# Records

POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("flag", "u1")])
WIDE = np.dtype([("id", "<u8"), ("pos", "<f8", (3,)), ("ok", "?"), ("h", "<f2"),
                 ("z", "<c8"), ("one", "<i2", (1,))])


@pytest.mark.parametrize("dtype,fields", [
    (POINT, "x:f32,y:f32,flag:u8"),
    (WIDE, "id:u64,pos:f64[3],ok:bool,h:f16,z:c64,one:i16[1]"),
], ids=["point", "wide"])
def test_record__round_trip(name, dtype, fields):
    seg = shmap.create(name, (4, 3), dtype, keep=True)
    assert seg.dtype == dtype
    info = shmap.info(name)
    assert info["dtype"] == "record"
    assert info["numpy"] is None
    assert info["record_fields"] == fields
    assert info["elsize"] == dtype.itemsize
    vals = np.zeros((4, 3), dtype)
    for i, f in enumerate(dtype.names):
        if dtype[f].shape:
            vals[f] = np.arange(dtype[f].shape[0]) + i
        elif dtype[f].kind == "c":
            vals[f] = np.arange(12).reshape(4, 3) * (1 + 2j)
        else:
            vals[f] = np.arange(12).reshape(4, 3) + i
    seg.array[...] = vals
    seg.close()
    with shmap.open(name) as ro:
        assert ro.dtype == dtype
        assert ro.dtype.names == dtype.names
        np.testing.assert_array_equal(ro.array, vals)
        assert np.asarray(ro).dtype == dtype
        np.testing.assert_array_equal(np.asarray(ro), vals)


def test_record__cli_spelling(name):
    with shmap.create(name, 2, "record:x:f4,flag:u1,pos:i2[3]") as seg:
        assert seg.dtype == np.dtype([("x", "<f4"), ("flag", "u1"), ("pos", "<i2", (3,))])
        assert seg.dtype.itemsize == 11


def test_record__open_or_create_matches_fields_however_spelled(name):
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("flag", "u1")])
    with shmap.create(name, 3, "record:x:f4,y:f4,flag:u1") as seg:
        with shmap.create(name, 3, dtype, exist_ok=True) as again:
            assert again.dtype == dtype
        with shmap.create(name, 3, seg.dtype, exist_ok=True) as again:
            assert again.dtype == dtype
        other = np.dtype([("x", "<f4"), ("y", "<f4"), ("flag", "i1")])
        with pytest.raises(shmap.Error, match="flag:u1.*flag:i8"):
            shmap.create(name, 3, other, exist_ok=True)


def test_record__bare_field_list_as_the_spec_writes_it(name, foreign):
    """A field list is a type on its own, without the CLI's record: prefix, wherever a type
    is given: create(), parse_dtype(), open() and info() of an object without a header."""
    fields = "x:f4,y:f4,flag:u1"
    assert shmap.parse_dtype(fields) == POINT
    assert shmap.parse_dtype("RECORD:" + fields) == POINT  # as the CLI, any case
    assert shmap.parse_dtype("pos:f8[3],t:f8") == np.dtype([("pos", "<f8", (3,)),
                                                             ("t", "<f8")])
    with shmap.create(name, 3, fields) as seg:
        assert seg.dtype == POINT
        assert shmap.info(name)["record_fields"] == fields  # as given, as the CLI keeps it
        with shmap.create(name, 3, "x:float32,y:f32,flag:byte", exist_ok=True) as again:
            assert again.dtype == POINT
    junk = foreign(bytes(range(18)))
    with shmap.open(junk, dtype=fields, shape=2) as raw:
        assert raw.dtype == POINT
        assert raw.array["flag"].tolist() == [8, 17]
    assert shmap.info(junk, dtype=fields, shape=2)["elsize"] == 9


@pytest.mark.parametrize("fields,msg", [
    ("x:f4,y:nope", "record: field 'y' has an unknown type 'nope'"),
    ("x:f4,y", "record: field 2 'y' has no ':type'"),
    ("x:f4,x:u1", "record: field name 'x' appears twice"),
    ("x:f4,", "record: field list ends with ','"),
])
def test_record__bare_field_list_errors_name_the_field(name, fields, msg):
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.create(name, 3, fields)
    assert msg in str(exc.value)
    assert "unknown type '%s'" % fields not in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_record__numpy_string_spelling(name):
    with shmap.create(name, 2, "f4,u1") as seg:
        assert seg.dtype.names == ("f0", "f1")
        assert seg.dtype.itemsize == 5


def test_record__unnamed_fields_in_a_string_have_shmaps_meanings(names):
    """numpy reads 'i8,i8' as two int64 fields; in a string shmap's meanings win, there as
    in 'i8' alone and 'x:i8,y:i8': two int8 fields, named f0 and f1 as numpy names them."""
    assert shmap.parse_dtype("i8,i8") == np.dtype([("f0", "i1"), ("f1", "i1")])
    assert shmap.parse_dtype(" float , int ") == np.dtype([("f0", "<f4"), ("f1", "<i2")])
    with shmap.create(names(), 2, "i8,u8") as seg:
        assert seg.dtype.itemsize == 2 and seg.dtype["f0"] == np.int8
    with pytest.raises(shmap.DtypeError) as exc:  # numpy-only forms: give a numpy dtype
        shmap.parse_dtype("(2)i4,f8")
    assert "field 'f0' has an unknown type '(2)i4'" in str(exc.value)
    assert shmap.parse_dtype(np.dtype("i8,i8")) == np.dtype("i8,i8")  # numpy's object


RECORD_BAD = [
    ("aligned", np.dtype([("a", "u1"), ("b", "<f8")], align=True), "packed"),
    ("gap", np.dtype({"names": ["a", "b"], "formats": ["u1", "<f4"], "offsets": [0, 4]}),
     "offset"),
    ("trailing", np.dtype({"names": ["a"], "formats": ["<f4"], "itemsize": 8}), "padding"),
    ("overlap", np.dtype({"names": ["a", "b"], "formats": ["u1", "u1"], "offsets": [0, 0]}),
     "fields overlap or are not in the order of their offsets"),
    ("order", np.dtype({"names": ["b", "a"], "formats": ["u1", "<f4"], "offsets": [4, 0]}),
     "fields overlap or are not in the order of their offsets"),
    ("nested", np.dtype([("a", [("b", "<f4")])]), "nested"),
    ("object", np.dtype([("a", "O")]), "no shmap element type"),
    ("string", np.dtype([("a", "S4")]), "no shmap element type"),
    ("2d", np.dtype([("a", "<f4", (2, 3))]), "1-d"),
    ("bigendian", np.dtype([("a", ">f4")]), "byte order"),
    ("badname", np.dtype([("my field", "<f4")]), "bad name"),
    # Names the record syntax would read as more fields: refused, not made another record.
    ("separators", np.dtype([("x:f4,y", "u1")]), "'x:f4,y' has a bad name"),
    ("digit", np.dtype([("1st", "u1")]), "bad name"),
]


@pytest.mark.parametrize("why,dtype,msg", RECORD_BAD, ids=[r[0] for r in RECORD_BAD])
def test_record__refused(name, why, dtype, msg):
    with pytest.raises(shmap.DtypeError, match=msg) as exc:
        shmap.create(name, 3, dtype)
    assert_dtype_error(exc.value, shmap.EBYTEORDER if why == "bigendian" else shmap.EDTYPE)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


def test_record__refusals_of_the_binding_carry_the_code(name):
    """What the binding itself refuses in a structured dtype or a field list, past the
    cases above: a subarray field of no items, and a field list longer than a segment
    holds, given as a dtype or as text."""
    long_list = [("field%03d" % i, "u1") for i in range(60)]  # "field000:u8," * 60 > 512
    for dtype, msg in [(np.dtype([("a", "<f4", (0,))]), "'a' has 0 items"),
                       (np.dtype(long_list), "longer than 511 bytes"),
                       (",".join("%s:%s" % f for f in long_list), "longer than 511 bytes")]:
        with pytest.raises(shmap.DtypeError, match=msg) as exc:
            shmap.create(name, 3, dtype)
        assert_dtype_error(exc.value)
        with pytest.raises(shmap.DtypeError) as exc:
            shmap.parse_dtype(dtype)
        assert_dtype_error(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(name)


PADDED = [
    ("aligned", np.dtype([("a", "u1"), ("b", "<f8")], align=True)),
    ("gap", np.dtype({"names": ["a", "b"], "formats": ["u1", "<f4"], "offsets": [0, 4]})),
    ("trailing", np.dtype({"names": ["a"], "formats": ["<f4"], "itemsize": 8})),
    ("aligned_trailing", np.dtype([("a", "<f8"), ("b", "u1")], align=True)),
]


@pytest.mark.parametrize("why,dtype", PADDED, ids=[p[0] for p in PADDED])
def test_record__with_holes_is_refused_saying_how_to_pack_it(name, why, dtype):
    """A structured dtype with holes (align=True, explicit offsets, a larger itemsize) is
    refused, not packed behind the caller's back: the message says why and how to get the
    packed dtype, which is then taken as it is."""
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.create(name, 3, dtype)
    assert_dtype_error(exc.value)
    msg = str(exc.value)
    assert "padding" in msg and "packed records cannot hold" in msg, msg
    assert "numpy.lib.recfunctions.repack_fields(dtype)" in msg and "align=False" in msg, msg
    with pytest.raises(FileNotFoundError):
        shmap.open(name)
    packed = repack_fields(dtype)
    with shmap.create(name, 3, packed) as seg:
        assert seg.dtype == packed and seg.dtype.names == dtype.names
        assert seg.dtype.itemsize == sum(dtype[f].itemsize for f in dtype.names)


def test_record__aligned_without_holes_is_taken(name):
    dtype = np.dtype([("a", "<f8"), ("b", "<f8")], align=True)
    with shmap.create(name, 3, dtype) as seg:
        assert seg.dtype.names == ("a", "b") and seg.dtype.itemsize == 16


def test_record__bad_cli_field_list(name):
    with pytest.raises(shmap.DtypeError, match="unknown type"):
        shmap.create(name, 3, "record:x:f4,y:nope")


# ---------------------------------------------------------------------------------------
# The buffer protocol

@pytest.mark.parametrize("sname,dtype,fmt", TYPES, ids=[t[0] for t in TYPES])
def test_buffer__format_shape_strides(name, sname, dtype, fmt):
    with shmap.create(name, (2, 3), dtype) as seg:
        m = memoryview(seg)
        assert m.format == fmt
        assert m.itemsize == dtype.itemsize
        assert m.shape == (2, 3)
        assert m.strides == (3 * dtype.itemsize, dtype.itemsize)
        assert m.ndim == 2
        assert m.nbytes == seg.nbytes
        assert not m.readonly
        assert m.c_contiguous
        a = np.asarray(seg)
        assert a.dtype == dtype and a.shape == (2, 3)
        assert np.shares_memory(a, seg.array)
        m.release()


@pytest.mark.parametrize("dtype", [
    POINT, WIDE, np.dtype([("flag", "u1"), ("x", "<f8"), ("y", "<i2")])],
    ids=["point", "wide", "odd"])
def test_buffer__record_layouts_read_back(name, dtype):
    with shmap.create(name, 3, dtype) as seg:
        seg.array["%s" % dtype.names[0]] = 1
        a = np.asarray(seg)
        assert a.dtype == dtype
        assert np.shares_memory(a, seg.array)
        np.testing.assert_array_equal(a, seg.array)


def test_buffer__record_format(name):
    with shmap.create(name, 5, POINT) as seg:
        m = memoryview(seg)
        assert m.format == "T{=f:x:=f:y:=B:flag:}"
        assert m.itemsize == 9
        assert np.asarray(seg).dtype == POINT
        m.release()


# Packed record layouts: sub-arrays first, in the middle and last, fields that native alignment
# would pad, every element type. numpy reads the buffer's format with its own PEP 3118 parser.
RECORD_LAYOUTS = [
    "pos:f8[3],t:f8",
    "t:f8,pos:f8[3],n:i4",
    "t:f8,pos:f8[3]",
    "a:u1,b:f8,c:i2",
    "flag:bool,z:c64,h:f2,zz:c128[2],q:i8,u:u16[3]",
    "x:u1[3],y:i4[2],w:u64",
    "one:f4[1]",
    "k:i8",
]


@pytest.mark.parametrize("fields", RECORD_LAYOUTS)
def test_buffer__record_layouts_asarray(name, fields):
    seg = shmap.create(name, (2, 3), "record:" + fields, keep=True)
    want = seg.array.dtype
    offsets = [want.fields[f][1] for f in want.names]
    with seg:
        for a in (np.asarray(seg), np.asarray(memoryview(seg))):
            assert a.dtype == want
            assert a.dtype.itemsize == want.itemsize == seg.dtype.itemsize
            assert [a.dtype.fields[f][1] for f in a.dtype.names] == offsets
            assert a.shape == (2, 3)
            assert np.shares_memory(a, seg.array)
        a = np.asarray(seg)
        a[1, 2][want.names[-1]] = 1
        assert np.all(seg.array[1, 2][want.names[-1]] == 1)
        # numpy's own description of the dtype gives the same type back.
        assert np.dtype(a.dtype.descr) == want
    with shmap.open(name) as ro:
        a = np.asarray(ro)
        assert a.dtype == want and not a.flags.writeable
        assert np.all(a[1, 2][want.names[-1]] == 1)


def test_buffer__bytes_and_writes(name):
    with shmap.create(name, 4, "u1") as seg:
        m = memoryview(seg)
        m[1] = 7
        assert seg.array[1] == 7
        assert bytes(m) == b"\x00\x07\x00\x00"
        m.release()


def test_buffer__readonly(name):
    shmap.create(name, 4, "u1", keep=True).close()
    with shmap.open(name) as ro:
        m = memoryview(ro)
        assert m.readonly
        with pytest.raises(TypeError):
            m[0] = 1
        a = np.asarray(ro)
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 1
        with pytest.raises(ValueError):
            a.flags.writeable = True
        m.release()
