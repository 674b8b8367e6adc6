"""SynthDefs compiled by a real sclang: only what changed, and a broken one stops set-up
with sclang's own error."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from performia.server.synthdefs import SynthDefError, build, stale_sources

GOOD = "[SynthDef(\\probe_ok, { |out = 0| OffsetOut.ar(out, Impulse.ar(0)) })]\n"
BROKEN = "[SynthDef(\\probe_bad, { |out = 0| Out.ar(out, SinOsc.ar(440) * nonexistent) })]\n"


def test_only_sources_newer_than_their_compiled_files_are_compiled(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "ok.scd").write_text(GOOD)
    first = build(src, out)
    assert [p.name for p in first.compiled] == ["ok.scd"]
    assert (out / "probe_ok.scsyndef").stat().st_size > 0
    again = build(src, out)
    assert again.compiled == () and [p.name for p in again.up_to_date] == ["ok.scd"]
    later = time.time() + 5
    os.utime(src / "ok.scd", (later, later))              # edited: newer than its build
    assert [p.name for p in stale_sources(src, out)] == ["ok.scd"]


def test_a_broken_synthdef_stops_setup_with_sclangs_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.scd").write_text(BROKEN)
    with pytest.raises(SynthDefError) as error:
        build(src, tmp_path / "out")
    assert "Variable 'nonexistent' not defined" in str(error.value)
    assert "bad.scd" in str(error.value)
