"""`performia doctor` lists what is missing and how to fix it."""

from __future__ import annotations

from pathlib import Path

from performia.config import replace
from tests.conftest import make_config, run_cli, write_config


def test_doctor_on_this_machine_finds_everything_essential(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ok.toml", make_config())
    result = run_cli("doctor", "--config", str(config))
    assert result.returncode == 0, result.stdout
    for what in ("program supernova", "program sclang", "program jackd",
                 "sc3-plugins (Chromagram for supernova)", "real-time scheduling",
                 "(supernova): free", "(OSC note input): free", "(GUI): free",
                 "audio interface 'Quantum 2626'", "MIDI", "real-time wake-ups (3 s",
                 "wake-ups more than one period (1.33 ms) late"):
        assert what in result.stdout, what
    assert "everything essential is here" in result.stdout


def test_doctor_names_what_is_missing_and_the_fix(tmp_path: Path) -> None:
    config = replace(make_config(), "server", executable="supernova-not-installed")
    path = write_config(tmp_path / "missing.toml", config)
    result = run_cli("doctor", "--config", str(path))
    assert result.returncode == 1
    assert "[MISSING] program supernova-not-installed: not found" in result.stdout
    assert "fix: sudo apt-get install supercollider-supernova" in result.stdout
    assert "1 essential things missing" in result.stdout


def test_doctor_reports_a_broken_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[gui]\nport = 'x'\n")
    result = run_cli("doctor", "--config", str(bad))
    assert result.returncode == 2
    assert "[gui] port = 'x': must be a whole number" in result.stderr
