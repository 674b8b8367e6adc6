"""SynthDefs: sources in sc/synthdefs/*.scd, compiled by sclang when a source is newer than
its compiled files, loaded into the server with /d_recv (one file at a time, each checked)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from performia.config import PROJECT_ROOT
from performia.server.osc import OscClient

log = logging.getLogger(__name__)

SOURCE_DIR = PROJECT_ROOT / "sc" / "synthdefs"
BUILD_SCRIPT = PROJECT_ROOT / "sc" / "build_synthdefs.scd"
BUILD_DIR = PROJECT_ROOT / "build" / "synthdefs"


class SynthDefError(RuntimeError):
    """A SynthDef source failed to compile (the message carries sclang's error)."""


@dataclass(frozen=True)
class BuildResult:
    compiled: tuple[Path, ...]      # sources compiled this time
    up_to_date: tuple[Path, ...]    # sources whose compiled files were newer


def _stamp(source: Path, build_dir: Path) -> Path:
    return build_dir / f"{source.stem}.built"


def stale_sources(source_dir: Path = SOURCE_DIR, build_dir: Path = BUILD_DIR) -> list[Path]:
    out = []
    for source in sorted(source_dir.glob("*.scd")):
        stamp = _stamp(source, build_dir)
        if not stamp.exists() or source.stat().st_mtime > stamp.stat().st_mtime:
            out.append(source)
    return out


def sclang_env() -> dict[str, str]:
    """sclang headless (as root the Qt web engine needs its sandbox off)."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
    return env


def build(source_dir: Path = SOURCE_DIR, build_dir: Path = BUILD_DIR,
          force: bool = False) -> BuildResult:
    """Compile the stale sources (all with `force`). Raises SynthDefError with sclang's error."""
    sources = sorted(source_dir.glob("*.scd")) if force else stale_sources(source_dir, build_dir)
    all_sources = tuple(sorted(source_dir.glob("*.scd")))
    if not sources:
        return BuildResult((), all_sources)
    sclang = shutil.which("sclang")
    if sclang is None:
        raise SynthDefError("sclang not found: install it with "
                            "'sudo apt-get install supercollider-language'")
    build_dir.mkdir(parents=True, exist_ok=True)
    command = [sclang, str(BUILD_SCRIPT), str(build_dir) + "/", *map(str, sources)]
    try:
        result = subprocess.run(command, env=sclang_env(), capture_output=True, text=True,
                                timeout=120, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SynthDefError("sclang did not finish compiling SynthDefs within 120 s") from None
    built = _parse_built(result.stdout)
    if result.returncode != 0 or len(built) != len(sources):
        errors = _errors_of(result.stdout + result.stderr)
        raise SynthDefError("SynthDef compile failed:\n" + errors)
    for source, names in built.items():
        _stamp(Path(source), build_dir).write_text("\n".join(names) + "\n")
        log.info("compiled %s: %s", Path(source).name, ", ".join(names))
    return BuildResult(tuple(sources), tuple(s for s in all_sources if s not in sources))


def _parse_built(stdout: str) -> dict[str, list[str]]:
    built = {}
    for line in stdout.splitlines():
        if line.startswith("BUILT "):
            _, source, *names = line.split()
            built[source] = names
    return built


def _errors_of(output: str) -> str:
    """sclang's error block(s), without the class-library chatter."""
    lines = output.splitlines()
    keep = [i for i, line in enumerate(lines) if "ERROR" in line]
    if not keep:
        return "\n".join(lines[-20:])
    start = max(0, keep[0] - 1)
    return "\n".join(lines[start:keep[-1] + 12])


def compiled_defs(build_dir: Path = BUILD_DIR) -> list[Path]:
    return sorted(build_dir.glob("*.scsyndef"))


# Largest SynthDef sent in a datagram (/d_recv); a larger one (the analysis synths unpack
# 928 FFT bins) is loaded from its file with /d_load: the server runs on this machine.
MAX_DATAGRAM_DEF = 60_000


def load(client: OscClient, build_dir: Path = BUILD_DIR, timeout: float = 5.0) -> list[str]:
    """Send every compiled SynthDef (/d_recv, or /d_load of its file when too large for a
    datagram) and wait for each /done. Returns their names."""
    files = compiled_defs(build_dir)
    if not files:
        raise SynthDefError(f"no compiled SynthDefs in {build_dir}: run 'performia build'")
    for path in files:
        data = path.read_bytes()
        if len(data) <= MAX_DATAGRAM_DEF:
            _load_one(client, "/d_recv", data, timeout)
        else:
            _load_one(client, "/d_load", str(path.resolve()), timeout)
    return [p.stem for p in files]


def _load_one(client: OscClient, command: str, argument: bytes | str, timeout: float) -> None:
    client.request(command, argument, reply="/done",
                   match=lambda args: bool(args) and args[0] == command, timeout=timeout)
