"""multiprocessing workers attach by name and share one segment, with fork and spawn."""
import multiprocessing as mp

import numpy as np
import pytest

import shmap

ROWS, COLS = 8, 1000


def write_row(name, row):
    """A worker: attach by name, write one row, publish."""
    with shmap.open(name, readonly=False) as seg:
        seg.array[row] = np.arange(COLS) + 1000 * row
        seg.publish()
    return row


def write_row_from_segment(seg, row):
    """A worker given a Segment (pickled as a reference by name)."""
    with seg:
        seg.array[row] = -row
    return seg.name


def read_sum(name):
    with shmap.open(name) as seg:
        return int(seg.array.sum())


def expected():
    return np.arange(COLS)[None, :] + 1000 * np.arange(ROWS)[:, None]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers__write_disjoint_rows(name, method):
    ctx = mp.get_context(method)
    with shmap.create(name, (ROWS, COLS), np.int64) as seg:
        procs = [ctx.Process(target=write_row, args=(name, r)) for r in range(ROWS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        np.testing.assert_array_equal(seg.array, expected())
        assert seg.generation == ROWS
    with pytest.raises(FileNotFoundError):  # the creator destroyed it; no worker did before
        shmap.open(name)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers__pool(name, method):
    ctx = mp.get_context(method)
    with shmap.create(name, (ROWS, COLS), np.int64) as seg:
        with ctx.Pool(3) as pool:
            assert sorted(pool.starmap(write_row, [(name, r) for r in range(ROWS)])) == \
                list(range(ROWS))
            assert pool.map(read_sum, [name] * 3) == [int(expected().sum())] * 3
        np.testing.assert_array_equal(seg.array, expected())


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers__segment_passed_to_worker(name, method):
    ctx = mp.get_context(method)
    with shmap.create(name, (ROWS, COLS), np.int64) as seg:
        with ctx.Pool(2) as pool:
            got = pool.starmap(write_row_from_segment, [(seg, r) for r in range(ROWS)])
        assert got == [name] * ROWS
        np.testing.assert_array_equal(seg.array[:, 0], -np.arange(ROWS))
        assert shmap.info(name)["name"] == name  # workers closing never destroyed it
