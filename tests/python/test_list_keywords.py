"""shmap.list() gives each segment's keywords from the listing, as info() and
`shmap ls --json` give them: POSIX and System V segments, none, a full keyword area,
damaged slots, and a segment this process cannot take a new reference to."""
import os
import struct

import pytest

import shmap
from conftest import SHM_DIR, cli_json

SLOT = 160          # bytes of a keyword slot (docs/FORMAT.md)
KW_OFFSET_AT = 152  # where the header records the keyword area's offset


def listed(name):
    found = [d for d in shmap.list() if d["name"] == name]
    assert len(found) == 1, found
    return found[0]


def keywords_everywhere(name):
    """The keywords and comments of list(), checked equal to info()'s and the CLI's."""
    entry = listed(name)
    pair = (entry["keywords"], entry["keyword_comments"])
    info = shmap.info(name)
    assert pair == (info["keywords"], info["keyword_comments"])
    cli = {d["name"]: d for d in cli_json("ls", "--json")}[name]
    assert pair == (cli["keywords"], cli["keyword_comments"])
    return pair


def sysv_name(n):
    return "sysv://0x%08x" % (0x30000000 | (os.getpid() & 0x3fffff) << 8 | n)


def test_list_keywords__posix_and_system_v_in_the_order_set(names):
    posix, bare = names(), names()
    sysv = sysv_name(1)
    with shmap.create(posix, 4, "f4", keep=True,
                      keywords={"EXPTIME": (1.5, "seconds"), "OBJECT": "M31"}) as seg:
        seg.keywords["FLAG"] = True
        seg.keywords["N"] = 7
        del seg.keywords["OBJECT"]
        seg.keywords.set("OBJECT", "M33", comment="target")
        want = dict(seg.keywords)
    shmap.create(bare, 4, "u1", keep=True).close()
    try:
        shmap.create(sysv, 8, "u1", keep=True, keywords={"GAIN": 2.25, "DET": "cam1"}).close()
    except PermissionError:
        pytest.skip("no System V shared memory here")
    try:
        kw, comments = keywords_everywhere(posix)
        assert kw == want
        assert list(kw) == ["EXPTIME", "FLAG", "N", "OBJECT"]
        assert comments == {"EXPTIME": "seconds", "OBJECT": "target"}
        assert keywords_everywhere(bare) == ({}, {})
        kw, comments = keywords_everywhere(sysv)
        assert list(kw.items()) == [("GAIN", 2.25), ("DET", "cam1")] and comments == {}
    finally:
        shmap.delete(sysv, force=True)


def test_list_keywords__full_area(name):
    cards = {"K%d" % i: i for i in range(4)}
    shmap.create(name, 1, "u1", keep=True, keyword_capacity=4, keywords=cards).close()
    with shmap.open(name, readonly=False) as seg, pytest.raises(shmap.Error):
        seg.keywords["MORE"] = 1
    kw, _ = keywords_everywhere(name)
    assert kw == cards and list(kw) == list(cards)


def test_list_keywords__damaged_slots_skipped_as_info_skips_them(name):
    shmap.create(name, 8, "u1", keep=True, keywords={"A": 1, "B": 2, "C": (3, "three")}).close()
    path = os.path.join(SHM_DIR, name)
    with open(path, "r+b") as f:
        kw_offset = struct.unpack_from("=Q", f.read(4096), KW_OFFSET_AT)[0]
        f.seek(kw_offset)                 # slot 0, A: a name without its NUL
        f.write(b"Q" * 24)
        f.seek(kw_offset + 2 * SLOT + 24)  # slot 2, C: an unknown value type
        f.write(struct.pack("=I", 99))
        f.seek(kw_offset + 5 * SLOT)      # an empty slot: garbage
        f.write(bytes((i * 37 + 11) & 0xff for i in range(SLOT)))
    kw, comments = keywords_everywhere(name)
    assert kw == {"B": 2} and comments == {}


def test_list_keywords__of_a_segment_this_process_may_not_reopen(name):
    """An unmap-pending mapping refuses new references, so info() cannot read its keywords;
    list() opens nothing and has them."""
    shmap.create(name, 8, "u1", keep=True, keywords={"EXPTIME": 2.5}).close()
    seg = shmap.open(name)
    a = seg.array
    seg.unmap()
    assert shmap.info(name)["keywords"] is None
    entry = listed(name)
    assert entry["keywords"] == {"EXPTIME": 2.5} and entry["keyword_comments"] == {}
    del a
