"""The ears' front end on a real supernova: the analysis synth's /spectrum and /bands frames
are the magnitudes numpy computes for the same take (frontend.frames), so the offline
benchmarks and the render hear exactly what the live band hears; and they arrive as the
take plays, one frame per hop."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from performia.listen.frontend import CHORD_SPECTRUM, ONSET_BANDS, Spectrum, frames
from performia.listen.readings import parse
from performia.listen.rehearsal import TakeSpec, generate_take, write_take
from performia.server.session import ServerSession

pytestmark = pytest.mark.server

BUFFER = 90
NODE = 9100
GROUP_INPUT = 100


def _collect(server: ServerSession, take: Path, seconds: float) -> dict[str, list[Any]]:
    client = server.client
    if client is None:
        raise RuntimeError("server not started")
    got: dict[str, list[Any]] = {"/spectrum": [], "/bands": []}
    lock = threading.Lock()

    def keep(address: str, args: list[Any]) -> None:
        if args and args[0] == NODE:
            with lock:
                got[address].append((time.time(), parse(address, args, time.time())))

    for address in got:
        client.on(address, keep)
    client.request("/b_allocRead", BUFFER, str(take), match=lambda a: a[:2] == ["/b_allocRead",
                                                                               BUFFER])
    try:
        client.send("/s_new", "listen_take", NODE, 0, GROUP_INPUT, "buf", BUFFER, "monitor", 0)
        time.sleep(seconds)
    finally:
        client.send("/n_free", NODE)
        client.send("/b_free", BUFFER)
        for address in got:
            client.off(address, keep)
    return got


def _compare(server_frames: list[Any], spectrum: Spectrum, samples: np.ndarray) -> None:
    _, expected = frames(samples, spectrum, 48000)
    heard = np.array([reading.magnitudes for _, reading in server_frames])
    count = min(len(heard), len(expected))
    assert count >= 0.9 * len(expected), f"{len(heard)} frames of {len(expected)}"
    a, b = heard[:count], expected[:count]
    correlation = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert correlation > 0.9999, f"{spectrum.address}: correlation {correlation:.6f}"
    assert a.sum() / b.sum() == pytest.approx(1.0, abs=0.005)
    # frame by frame too: no frame shifted, none lost in the middle
    per_frame = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b, strict=True) if y.any()]
    assert min(per_frame) > 0.999


def test_server_frames_equal_numpy_frames(server: ServerSession, tmp_path: Path) -> None:
    take = generate_take(TakeSpec(progression=("G:maj", "E:min7"), key="G:maj", bpm=120.0,
                                  bars=2, lead_in=0.0, tail=0.3, seed=4))
    path = write_take(tmp_path / "take.wav", take)
    duration = len(take.samples) / take.sample_rate
    got = _collect(server, path, duration + 0.5)
    samples = take.samples.reshape(-1)
    _compare(got["/spectrum"], CHORD_SPECTRUM, samples)
    _compare(got["/bands"], ONSET_BANDS, samples)
    # one /bands frame per 512 samples while the take plays: ~94 a second
    times = [t for t, _ in got["/bands"]]
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate == pytest.approx(48000 / ONSET_BANDS.hop, rel=0.05)
