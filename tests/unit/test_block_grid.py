"""Where the edge between two samples lies, from probes an eighth of a sample apart."""

from __future__ import annotations

import pytest

from performia.server.block_grid import BlockGrid, subsample_edge


def test_the_edge_is_between_the_last_probe_before_the_step_and_the_first_after() -> None:
    assert subsample_edge([38, 38, 39, 39, 39, 39, 39, 39], 64) == pytest.approx(0.1875)
    assert subsample_edge([42, 43, 43, 43, 43, 43, 43, 43], 64) == pytest.approx(0.0625)


def test_no_step_among_the_probes_puts_the_edge_after_the_last() -> None:
    assert subsample_edge([46] * 8, 64) == pytest.approx(0.9375)


def test_a_step_across_the_block_boundary_counts() -> None:
    assert subsample_edge([63, 63, 63, 0, 0, 0, 0, 0], 64) == pytest.approx(0.3125)


@pytest.mark.parametrize("offsets", [
    [40, 41, 40, 41, 41, 41, 41, 41],      # back down: the clock moved between probes
    [40, 40, 42, 42, 42, 42, 42, 42],      # two samples: a dropout resynced the clock
    [40, 39, 39, 39, 39, 39, 39, 39],      # a step down
])
def test_probes_that_disagree_give_no_edge(offsets: list[int]) -> None:
    assert subsample_edge(offsets, 64) is None


def test_one_probe_cannot_find_an_edge() -> None:
    with pytest.raises(ValueError):
        subsample_edge([40], 64)


def test_the_next_boundary_is_a_whole_number_of_blocks_from_the_origin() -> None:
    grid = BlockGrid(origin=100.0, block_seconds=64 / 48000)
    start = grid.next_boundary(100.5)
    assert start >= 100.5
    assert (start - 100.0) / grid.block_seconds == pytest.approx(round((start - 100.0)
                                                                       / grid.block_seconds))
