"""The chroma in its worker process gives the very frames NnlsChroma gives in-process, and
the worker ends with its pipe (nothing outlives the conductor)."""

from __future__ import annotations

import numpy as np

from performia.listen.chroma import NnlsChroma
from performia.listen.chroma_worker import ChromaWorker
from performia.listen.frontend import CHORD_SPECTRUM, frames
from performia.listen.rehearsal import TakeSpec, generate_take


def test_the_worker_hears_what_the_chroma_hears_and_ends_when_closed() -> None:
    take = generate_take(TakeSpec(("G:maj", "C:maj7"), "G:maj", 120, bars=2, seed=4))
    _, mags = frames(take.samples.reshape(-1), CHORD_SPECTRUM, take.sample_rate)
    local, worker = NnlsChroma(), ChromaWorker()
    try:
        for i, magnitudes in enumerate(mags):
            loud = i % 7 != 0
            ours, theirs = local.frame(magnitudes, loud), worker.frame(magnitudes, loud)
            np.testing.assert_array_equal(ours.treble, theirs.treble)
            np.testing.assert_array_equal(ours.bass, theirs.bass)
            assert worker.tuning == local.tuning
        process = worker._process
        assert process.is_alive()
    finally:
        worker.close()
    assert not process.is_alive()


def test_a_dead_worker_is_replaced_by_the_chroma_in_process() -> None:
    take = generate_take(TakeSpec(("G:maj",), "G:maj", 120, bars=1, seed=4))
    _, mags = frames(take.samples.reshape(-1), CHORD_SPECTRUM, take.sample_rate)
    worker = ChromaWorker()
    try:
        worker.frame(mags[3])
        worker._process.kill()
        worker._process.join(timeout=5)
        frame = worker.frame(mags[4])          # one error line, and the chords go on
        assert frame.treble.shape == (12,)
    finally:
        worker.close()
