"""Record field lists the library accepts are ones Python reads back: names of 1 to 63 bytes,
one byte-order character before a type, counts stored in plain digits."""
import numpy as np
import pytest

import shmap


def test_record_limits__a_63_byte_name_round_trips(name):
    dtype = np.dtype([("a" * 63, "<f4"), ("y", "u1")])
    with shmap.create(name, 2, dtype) as seg:
        seg.array["a" * 63] = [1.5, 2.5]
        with shmap.open(name) as ro:
            assert ro.dtype == dtype
            np.testing.assert_array_equal(ro.array["a" * 63], [1.5, 2.5])


def test_record_limits__a_64_byte_name_is_refused_naming_it(name):
    dtype = np.dtype([("a" * 64, "<f4"), ("y", "u1")])
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.create(name, 2, dtype)
    assert "is 64 bytes, at most 63" in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.info(name)


@pytest.mark.parametrize("spelling", ["|<f4", "=<f4", "|||b", "|" * 40 + "b"])
def test_record_limits__two_byte_order_characters_are_refused(name, spelling):
    with pytest.raises(shmap.DtypeError) as exc:
        shmap.create(name, 2, "record:x:" + spelling)
    assert "field 'x' has an unknown type" in str(exc.value)


def test_record_limits__spellings_with_one_order_character_read_back(name):
    with shmap.create(name, 2, "record:x:=float32,y:|b1,z:i2[03]") as seg:
        assert seg.dtype == np.dtype([("x", "<f4"), ("y", "?"), ("z", "<i2", (3,))])
        assert shmap.info(name)["record_fields"] == "x:=float32,y:|b1,z:i2[3]"
        with shmap.open(name) as ro:
            assert ro.dtype == seg.dtype
