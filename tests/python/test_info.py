"""info(), list(), mappings(), unique_name(): fields and types as the CLI's JSON has them."""
import os
import re
import time

import pytest

import shmap
from conftest import PREFIX, as_listed, cli_json, read_line

INFO_FIELDS = ["name", "shmap", "store", "os_handle", "size", "mode", "uid", "gid", "owner",
               "group", "version", "dtype", "numpy", "record_fields", "elsize", "ndim",
               "shape", "nelem", "bytes", "data_offset", "creator_pid", "creator_uid",
               "attached", "lock", "generation", "created", "created_ns", "transient", "flags",
               "keyword_capacity", "keywords", "keyword_comments", "ring", "ring_length",
               "frame_size", "published", "published_ns", "write", "deleted", "mapped_by",
               "mapped_by_unseen"]


def make(name, **kw):
    seg = shmap.create(name, (3, 4), "f4", keep=True, keywords={"EXPTIME": (1.5, "s"),
                                                                "OBJECT": "M31", "N": 7,
                                                                "OK": False}, **kw)
    seg.publish()
    seg.close()


def test_info__fields_and_types(name):
    t0 = time.time_ns()
    make(name, mode=0o640)
    info = shmap.info(name)
    assert list(info) == INFO_FIELDS
    assert info["name"] == name
    assert info["shmap"] is True
    assert info["store"] == "posix"
    assert info["os_handle"] == "/" + name
    assert info["mode"] == "0640"
    assert info["uid"] == os.geteuid() and info["gid"] == os.getegid()
    assert isinstance(info["owner"], (str, type(None)))
    assert info["version"] == 1
    assert info["dtype"] == "f32" and info["numpy"] == "<f4"
    assert info["record_fields"] is None
    assert info["elsize"] == 4 and info["ndim"] == 2
    assert info["shape"] == [3, 4]
    assert info["nelem"] == 12 and info["bytes"] == 48
    assert info["data_offset"] % 4096 == 0 and info["data_offset"] >= 4096
    assert info["size"] >= info["data_offset"] + info["bytes"]
    assert info["creator_pid"] == os.getpid()
    assert info["creator_uid"] == os.geteuid()
    assert info["attached"] == []
    assert info["mapped_by"] == []
    assert type(info["mapped_by_unseen"]) is int and info["mapped_by_unseen"] >= -1
    assert info["generation"] == 1
    assert t0 - 10 ** 9 <= info["created_ns"] <= time.time_ns()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["created"])
    assert info["created"] == time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(info["created_ns"] // 10 ** 9)) + ".%03dZ" % (
        info["created_ns"] % 10 ** 9 // 10 ** 6)
    assert info["transient"] is False and info["flags"] == 0
    assert info["keyword_capacity"] == 32
    assert info["keywords"] == {"EXPTIME": 1.5, "OBJECT": "M31", "N": 7, "OK": False}
    assert list(info["keywords"]) == ["EXPTIME", "OBJECT", "N", "OK"]
    assert info["keyword_comments"] == {"EXPTIME": "s"}


def test_info__docstring_gives_the_fields_in_their_order():
    """info()'s docstring says its dict has the JSON's fields "in the same order": the names
    it lists, their remarks in parentheses left out, are the dict's keys in order."""
    doc = shmap.info.__doc__
    start = doc.index("with the same types:") + len("with the same types:")
    text, depth = "", 0
    for ch in doc[start:doc.index("Keyword floats")]:
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and ch != ")":
            text += ch
    listed = [w.strip() for w in re.split(r",|\band\b|\.", text) if w.strip()]
    assert listed == INFO_FIELDS


def test_info__same_as_cli_json(name, names):
    make(name)
    assert shmap.info(name) == cli_json("info", name, "--json")
    rec = names()
    shmap.create(rec, 2, [("x", "<f4"), ("pos", "<i2", (3,))], keep=True,
                 transient=True).close()
    assert shmap.info(rec) == cli_json("info", rec, "--json")


def test_info__attached_and_locks_key_by_key_with_cli(name, child):
    """With processes attached and holding locks, shmap.info(), Segment.info and
    `shmap info NAME --json` agree on every key, value and type. Nothing in them changes
    between the calls here (no publish, no keyword change, no process coming or going), so
    no key is left out."""
    seg = shmap.create(name, (2, 3), "u2", keywords={"GAIN": 2})
    try:
        readers = []
        for _ in range(2):
            proc = child("import shmap, time\n"
                         "seg = shmap.open(%r)\n"          # read-only: listed once it locks
                         "lk = seg.lock()\n"
                         "print('locked', flush=True)\n"
                         "time.sleep(60)\n" % name)
            assert read_line(proc) == "locked"
            readers.append(proc.pid)
        mine = seg.lock()
        py = shmap.info(name)
        cli = cli_json("info", name, "--json")
        assert list(py) == list(cli) == INFO_FIELDS
        for key in INFO_FIELDS:
            assert py[key] == cli[key], key
            assert type(py[key]) is type(cli[key]), key
        att = py["attached"]
        assert sorted(a["pid"] for a in att) == sorted([os.getpid()] + readers)
        for a, c in zip(att, cli["attached"]):
            assert list(a) == list(c) == ["pid", "alive", "shared", "writer", "start",
                                          "writable", "other_pidns"]
            assert [type(v) for v in a.values()] == [type(v) for v in c.values()]
            assert a["alive"] is True and a["shared"] == 1 and a["writer"] is False
        assert seg.info == py
        # Segment.attached: the same entries; the readers opened read-only.
        assert seg.attached == att
        assert {a["pid"]: a["writable"] for a in att} == {
            os.getpid(): True, readers[0]: False, readers[1]: False}
        assert py["lock"] == seg.lock_info == {
            "writer": None, "writer_alive": False, "writer_waiting": False, "shared": 3,
            "waiters": False, "owner_died": False, "dead_pid": None,
            "writer_other_pidns": False}
        assert seg.locked
        mine.release()
    finally:
        seg.close()


def test_info__mapped_by_finds_read_only_opens_outside_the_table(name, child):
    """A read-only open that never locks is in no attach table: info finds it in /proc, in
    Python and in the CLI alike, and a list() (which does not search /proc) says None."""
    make(name)
    reader = child("import shmap, time\n"
                   "seg = shmap.open(%r)\n"
                   "a = seg.array\n"
                   "print('open', flush=True)\n"
                   "time.sleep(60)\n" % name)
    assert read_line(reader) == "open"
    writer = child("import shmap, time\n"
                   "seg = shmap.open(%r, readonly=False)\n"
                   "print('open', flush=True)\n"
                   "time.sleep(60)\n" % name)
    assert read_line(writer) == "open"
    py = shmap.info(name)
    cli = cli_json("info", name, "--json")
    assert [a["pid"] for a in py["attached"]] == [writer.pid]
    assert py["mapped_by"] == cli["mapped_by"] == [
        {"pid": reader.pid, "start": py["mapped_by"][0]["start"], "writable": False}]
    assert py["mapped_by"][0]["start"] > 0
    assert py["mapped_by_unseen"] == cli["mapped_by_unseen"]
    with shmap.open(name) as seg:  # this process is never listed
        assert seg.info["mapped_by"] == py["mapped_by"]
    entry = [e for e in shmap.list() if e["name"] == name][0]
    assert entry["mapped_by"] is None and entry["mapped_by_unseen"] is None
    reader.kill()
    reader.wait()
    assert shmap.info(name)["mapped_by"] == []


def test_info__segment_info_matches(name):
    make(name)
    with shmap.open(name) as seg:
        assert seg.info == shmap.info(name)


def test_info__while_unmap_pending(name):
    make(name)
    seg = shmap.open(name)
    a = seg.array
    seg.unmap()
    info = shmap.info(name)  # described without a new reference
    assert info["name"] == name
    assert info["keywords"] is None
    del a


def test_list__same_as_cli_json(names):
    mine = [names() for _ in range(3)]
    for n in mine:
        make(n)
    listed = {d["name"]: d for d in shmap.list()}
    cli = {d["name"]: d for d in cli_json("ls", "--json")}
    for n in mine:
        assert listed[n] == cli[n]
        assert listed[n] == as_listed(shmap.info(n))
    names_in_order = [d["name"] for d in shmap.list()]
    assert names_in_order == sorted(names_in_order)


def test_list__all_includes_foreign_objects(name, foreign):
    make(name)
    junk = foreign(os.urandom(8192))
    plain = {d["name"] for d in shmap.list()}
    assert name in plain and junk not in plain
    listed = {d["name"]: d for d in shmap.list(all=True)}
    assert listed[name]["shmap"] is True
    f = listed[junk]
    assert list(f) == ["name", "shmap", "store", "os_handle", "size", "mode", "uid", "gid",
                       "owner", "group", "dtype", "numpy", "record_fields", "elsize", "ndim",
                       "shape", "nelem", "bytes", "creator_pid", "attached", "generation",
                       "created", "error", "error_code", "deleted"]
    assert all(f[k] is None for k in ("dtype", "shape", "bytes", "creator_pid", "attached",
                                      "generation", "created"))
    assert f["shmap"] is False
    assert f["size"] == 8192
    assert f["error_code"].startswith("SHMAP_E")
    cli = {d["name"]: d for d in cli_json("ls", "--all", "--json")}
    assert cli[junk] == f


def test_mappings__fields(name):
    assert all(m["name"] != name for m in shmap.mappings())
    with shmap.create(name, (2, 5), "i2") as seg:
        mine = [m for m in shmap.mappings() if m["name"] == name]
        assert len(mine) == 1
        m = mine[0]
        assert list(m) == ["name", "store", "os_handle", "dtype", "numpy", "record_fields",
                           "shape", "bytes", "offset", "refs", "pending", "writable",
                           "destroy"]
        assert m["store"] == "posix" and m["os_handle"] == "/" + name
        assert m["dtype"] == "i16" and m["numpy"] == "<i2" and m["record_fields"] is None
        assert m["shape"] == [2, 5] and m["bytes"] == 20
        assert m["offset"] == shmap.info(name)["data_offset"]
        assert m["refs"] == 1
        assert m["pending"] is False and m["writable"] is True and m["destroy"] is True
        a = seg.array
        b = memoryview(seg)
        assert [x["refs"] for x in shmap.mappings() if x["name"] == name] == [3]
        with shmap.open(name):  # a read-only mapping beside the read-write one
            ro_map = [x for x in shmap.mappings() if x["name"] == name and not x["writable"]]
            assert ro_map[0]["destroy"] is False and ro_map[0]["refs"] == 1
        del a
        b.release()
        assert [x["refs"] for x in shmap.mappings() if x["name"] == name] == [1]


def test_unique_name():
    a = shmap.unique_name()
    b = shmap.unique_name()
    assert a != b and a.startswith("shmap-")
    c = shmap.unique_name(PREFIX)
    assert c.startswith(PREFIX + "-")
    assert not os.path.exists("/dev/shm/" + c)
    with pytest.raises(shmap.ArgumentError):
        shmap.unique_name("bad/prefix")
    with pytest.raises(TypeError):
        shmap.unique_name(3)


@pytest.mark.parametrize("prefix,store", [("file:/tmp/x", "file"), ("file://tmp/x", "file"),
                                          ("sysv://0x5eed", "sysv"), ("sysv://id=3", "sysv")])
def test_unique_name__other_store_prefix_refused(prefix, store):
    """Unique names are POSIX names: another store's prefix is an argument error that says
    so, not the EINVAL of probing it with shm_open."""
    with pytest.raises(shmap.ArgumentError) as exc:
        shmap.unique_name(prefix)
    assert exc.value.code == shmap.EBADNAME
    assert prefix in str(exc.value) and store in str(exc.value) and "POSIX" in str(exc.value)


def test_unique_name__posix_prefix_spellings():
    for prefix in ("/" + PREFIX, "shm://" + PREFIX, "shmem://" + PREFIX):
        assert shmap.unique_name(prefix).startswith(PREFIX + "-")


def test_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", shmap.__version__)


def public(obj):
    return [getattr(obj, n) for n in sorted(dir(obj))
            if (not n.startswith("_") or n in ("__enter__", "__exit__"))
            and not isinstance(getattr(obj, n), (int, str))]


def test_docstrings():
    """Every public function, class and attribute says what it is; every function and
    method of the module, Segment and Lock says what it returns and what it raises."""
    import inspect
    for owner in (shmap, shmap.Segment, shmap.Lock, shmap.Keywords, shmap.Frame):
        assert owner.__doc__ and len(owner.__doc__) > 20, owner
        for obj in public(owner):
            assert obj.__doc__ and len(obj.__doc__) > 20, obj
    for owner in (shmap, shmap.Segment, shmap.Lock):
        for obj in public(owner):
            if callable(obj) and not isinstance(obj, type) and obj.__name__ != "__enter__":
                doc = obj.__doc__.split("--\n", 1)[-1]
                assert "Return" in doc or "return" in doc, obj
                assert "Raise" in doc or "raise" in doc or "propagate" in doc, obj
    for attr in ("store", "lock", "wait", "read_frame", "write_begin", "attached",
                 "lock_info", "seen"):
        assert getattr(shmap.Segment, attr).__doc__.count("\n") >= 2, attr
    assert "'sysv'" in shmap.Segment.store.__doc__ and "'memfd'" in shmap.Segment.store.__doc__
    sig = inspect.signature(shmap.create)
    assert list(sig.parameters)[:3] == ["name", "shape", "dtype"]
    assert sig.parameters["keep"].default is False
    assert sig.parameters["ring"].default is False
    sig = inspect.signature(shmap.open)
    assert list(sig.parameters) == ["name", "readonly", "dtype", "shape", "offset", "private",
                                    "template", "hold", "timeout"]
    assert sig.parameters["dtype"].kind is inspect.Parameter.KEYWORD_ONLY
    sig = inspect.signature(shmap.delete)
    assert list(sig.parameters) == ["name", "timeout", "force", "locked"]
    assert sig.parameters["timeout"].default is None
    sig = inspect.signature(shmap.Segment.lock)
    assert list(sig.parameters) == ["self", "exclusive", "timeout"]
    assert sig.parameters["exclusive"].default is False
    assert list(inspect.signature(shmap.Segment.wait).parameters) == ["self", "timeout"]


def test_info__a_system_v_segment_deleted_while_attached_says_so(sysv_names):
    name = sysv_names()
    seg = shmap.create(name, 4, "u1", keep=True)
    try:
        ident = "sysv://id=%s" % seg.os_handle
        assert shmap.info(ident)["deleted"] is False
        shmap.delete(name)  # we still attach it: the kernel keeps it, nameless
        info = shmap.info(ident)
        assert info["deleted"] is True and info["name"] == ident
        assert info == cli_json("info", ident, "--json")
        with pytest.raises(FileNotFoundError):
            shmap.open(ident)  # deleted: not opened again by name
        assert not any(e["name"] in (name, ident) for e in shmap.list())
    finally:
        seg.close()
    with pytest.raises(FileNotFoundError):
        shmap.info(ident)


def test_info__write_tells_a_frame_write_in_progress_and_one_abandoned(name, child):
    """info()["write"], as `shmap info --json` has it: a writer in the middle of a frame,
    then that writer killed there."""
    with shmap.create(name, 4, "u1") as seg:
        assert seg.info["write"] == {"state": "none", "pid": None}
        proc = child("import shmap, time\n"
                     "seg = shmap.open(%r, readonly=False)\n"
                     "seg.write_begin()\n"
                     "print('writing', flush=True)\n"
                     "time.sleep(60)\n" % name)
        assert read_line(proc) == "writing"
        assert shmap.info(name)["write"] == {"state": "in_progress", "pid": proc.pid}
        proc.kill()
        proc.wait()
        want = {"state": "abandoned", "pid": proc.pid}
        assert shmap.info(name)["write"] == want == cli_json("info", name, "--json")["write"]
        assert seg.info["write"] == want
        assert [d for d in shmap.list() if d["name"] == name][0]["write"] is None
