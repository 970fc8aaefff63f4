"""What a Python process killed without closing leaves, and what `shmap gc` does with it.

shmap.create() destroys the segment when the creator closes it (keep=False, the default):
such a segment goes with its creator, so one whose creator was killed is transient for
`shmap gc`, which removes it once nobody uses it. A kept one (keep=True) is persistent and
stays as it was.
"""
import signal

import shmap
from conftest import run_cli, run_python


def test_gc_removes_what_a_killed_creator_would_have_destroyed(names):
    gone, kept = names(), names()
    proc = run_python("import os, shmap\n"
                      "a = shmap.create(%r, 4, 'f4')\n"
                      "b = shmap.create(%r, 4, 'f4', keep=True)\n"
                      "os.kill(os.getpid(), 9)\n" % (gone, kept), check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert shmap.info(gone)["transient"] is True
    assert shmap.info(kept)["transient"] is False
    # Its creator is dead and nobody maps it: gc removes it, and only it.
    out = run_cli("gc", "--prefix", gone).stdout
    assert "removed transient segment %s" % gone in out
    assert not any(e["name"] == gone for e in shmap.list())
    out = run_cli("gc", "--prefix", kept).stdout
    assert "transient" not in out.split("gc:")[0]
    assert shmap.info(kept)["name"] == kept


def test_gc_keeps_one_a_live_process_still_uses(names):
    name = names()
    proc = run_python("import os, shmap\n"
                      "seg = shmap.create(%r, 4, 'f4')\n"
                      "os.kill(os.getpid(), 9)\n" % name, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with shmap.open(name):  # a user: kept while it maps the segment
        out = run_cli("gc", "--prefix", name).stdout
        assert "removed" not in out.split("gc:")[0]
        assert shmap.info(name)["name"] == name
    assert "removed transient segment %s" % name in run_cli("gc", "--prefix", name).stdout
