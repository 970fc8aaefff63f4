"""Runs last (files run in name order): nothing this run made is left in /dev/shm."""
import os

from conftest import PREFIX, SHM_DIR


def test_zz__no_leftovers_in_dev_shm():
    left = sorted(e for e in os.listdir(SHM_DIR) if e.startswith(PREFIX))
    assert left == []
