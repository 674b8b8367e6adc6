"""Which -N server renders: the configured one (scsynth), or the live one when it is not
installed (with a warning); supernova's settings know it is supernova (its score is placed
for its one-block OffsetOut lag)."""

from __future__ import annotations

from pathlib import Path

import pytest

from performia.render.nrt import NrtSettings, command, render_executable


def test_the_render_server_falls_back_to_the_live_one_when_not_installed(
        caplog: pytest.LogCaptureFixture) -> None:
    assert render_executable("scsynth", "supernova") == "scsynth"
    chosen = render_executable("scsynth-not-installed", "supernova")
    assert chosen == "supernova"
    assert "scsynth-not-installed not found" in caplog.text
    assert NrtSettings(chosen, 48000, 64, 2).supernova
    assert not NrtSettings("/usr/bin/scsynth", 48000, 64, 2).supernova


def test_each_server_gets_its_own_command_line(tmp_path: Path) -> None:
    score, out = tmp_path / "score.osc", tmp_path / "out.wav"
    sc = command(NrtSettings("scsynth", 48000, 64, 2), score, out)
    assert sc[0] == "scsynth" and sc[-2:] == ["-D", "0"] and "-T" not in sc
    nova = command(NrtSettings("supernova", 48000, 64, 2), score, out)
    assert "supernova" in nova and nova[nova.index("-T") + 1] == "1"
