"""create(mode=...): a new segment gets permission bits only. Set-user-id, set-group-id and
sticky bits are refused, on every store, as shmap.chmod() refuses them, and nothing is made
under the name. The binding refuses them before the library (which refuses them too), with
the mode in Python's spelling, as it refuses other out-of-range arguments."""
import os
import tempfile

import pytest

import shmap
from conftest import SHM_DIR


@pytest.fixture(params=["posix", "sysv", "file"])
def store_name(request, name):
    """A name on each store with a name; whatever is made under it is removed at the end."""
    if request.param == "posix":
        yield name, os.path.join(SHM_DIR, name)
        return
    if request.param == "sysv":
        n = "sysv://0x%08x" % (0x21000000 | (os.getpid() & 0xffff) << 8 | 0x5e)
        yield n, None
    else:
        with tempfile.TemporaryDirectory(prefix="shmap-pytest-") as d:
            path = os.path.join(d, "seg")
            yield "file:" + path, path
            return
    try:
        shmap.delete(n, force=True)
    except FileNotFoundError:
        pass


@pytest.mark.parametrize("mode", [0o4777, 0o2777, 0o1777, 0o4000, 0o6600])
def test_create_mode__set_id_and_sticky_bits_are_refused(store_name, mode):
    n, path = store_name
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.create(n, 8, "u1", keep=True, mode=mode)
    assert exc.value.errname == "SHMAP_EINVAL"
    assert "set-user-id, set-group-id and sticky bits cannot be set" in str(exc.value)
    assert "0o1 to 0o777" in str(exc.value) and oct(mode) in str(exc.value)
    with pytest.raises(FileNotFoundError):
        shmap.open(n)
    if path:
        assert not os.path.exists(path)


def test_create_mode__0777_is_taken_as_given(store_name):
    n, _ = store_name
    old = os.umask(0)
    try:
        with shmap.create(n, 8, "u1", keep=True, mode=0o777):
            assert shmap.info(n)["mode"] == "0777"
    finally:
        os.umask(old)
    shmap.delete(n, force=True)


def test_create_mode__0_is_refused_with_the_way_to_get_it(store_name):
    """The library takes mode 0 for its default, 0o600: create() refuses 0 rather than make
    a segment its owner can read and write, and says how to get mode 0."""
    n, path = store_name
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.create(n, 8, "u1", keep=True, mode=0)
    e = exc.value
    assert isinstance(e, ValueError) and e.code == shmap.EINVAL
    assert "mode=0" in str(e) and "0o600" in str(e)
    assert "shmap.chmod(name, 0)" in str(e)
    with pytest.raises(FileNotFoundError):
        shmap.open(n)
    if path:
        assert not os.path.exists(path)
    # The way the message gives.
    with shmap.create(n, 8, "u1", keep=True):
        shmap.chmod(n, 0)
        assert shmap.perm(n).mode == 0
    shmap.delete(n, force=True)


def test_create_mode__documented_range():
    doc = shmap.create.__doc__
    assert "0 to 0o777" not in doc
    assert "shmap.chmod(name, 0)" in doc


@pytest.mark.parametrize("call", ["create", "chmod"])
def test_mode__a_bool_is_refused_not_taken_for_1(name, call):
    """True is an int to Python, but a mode of True is a mistake (keep=True in the wrong
    place): refused with TypeError, nothing made or changed."""
    if call == "create":
        with pytest.raises(TypeError, match="mode must be an int, not bool"):
            shmap.create(name, 3, "f4", mode=True)
        with pytest.raises(FileNotFoundError):
            shmap.info(name)
    else:
        with shmap.create(name, 3, "f4"):
            with pytest.raises(TypeError, match="mode must be an int, not bool"):
                shmap.chmod(name, True)
            assert shmap.perm(name).mode == 0o600


def test_mode__the_range_said_starts_at_1(name):
    with pytest.raises(shmap.ArgumentError, match=r"\(0o1 to 0o777"):
        shmap.create(name, 3, "f4", mode=0o4600)
