"""Configuration: `config/performia.toml` (stdlib tomllib) validated into frozen dataclasses.

Every key is optional. An unknown key, a wrong type or an out-of-range value raises
`ConfigError` whose text is one line naming the key and the values it accepts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "performia.toml"

STYLES = ("rock", "funk", "ballad", "jazz-swing")
MODES = ("listen", "play", "follow")
COME_IN_MODES = ("listen", "count_in", "now", "pedal")


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


def _choices(*values: object) -> dict[str, Any]:
    return {"choices": values}


@dataclass(frozen=True)
class ServerConfig:
    executable: str = "supernova"
    port: int = field(default=57110, metadata=_range(1024, 65535))
    block_size: int = field(default=64, metadata=_choices(16, 32, 64, 128, 256))
    sample_rate: int = field(default=48000, metadata=_choices(44100, 48000, 88200, 96000))
    threads: int = field(default=2, metadata=_range(1, 64))
    inputs: int = field(default=2, metadata=_range(0, 64))
    outputs: int = field(default=2, metadata=_range(1, 64))
    rt_memory_kb: int = field(default=262144, metadata=_range(8192, 4194304))
    max_nodes: int = field(default=4096, metadata=_range(256, 65536))
    max_synthdefs: int = field(default=256, metadata=_range(64, 65536))
    audio_buses: int = field(default=1024, metadata=_range(128, 65536))
    sample_clock: bool = True
    boot_timeout: float = field(default=10.0, metadata=_range(1.0, 120.0))
    render_executable: str = "scsynth"    # `render`'s -N server (supernova if not installed)


@dataclass(frozen=True)
class JackConfig:
    server_name: str = ""
    device: str = "Quantum 2626"
    period: int = field(default=64, metadata=_choices(16, 32, 64, 128, 256, 512, 1024))
    periods: int = field(default=2, metadata=_range(2, 8))
    realtime: bool = True
    priority: int = field(default=70, metadata=_range(1, 95))
    fallback_period: int = field(default=256, metadata=_choices(64, 128, 256, 512, 1024))
    connect_outputs: bool = True
    connect_inputs: bool = True


@dataclass(frozen=True)
class TimingConfig:
    latency_ms: float = field(default=10.0, metadata=_range(1.0, 1000.0))
    tempo: float = field(default=120.0, metadata=_range(20.0, 400.0))
    beats_per_bar: int = field(default=4, metadata=_range(1, 16))
    keep_cpus_awake: bool = True    # hold /dev/cpu_dma_latency at 0 µs while the band plays
    # how much the band follows the guitarist's tempo and phase (0 = the band leads)
    follow: float = field(default=1.0, metadata=_range(0.0, 1.0))
    # how the band comes in: listen (find the beat, come in on a downbeat), count_in (one
    # bar of clicks at `tempo`), now (from beat 0 at `tempo`), pedal (at the bar after it)
    come_in: str = field(default="listen", metadata=_choices(*COME_IN_MODES))
    come_in_bars: int = field(default=2, metadata=_range(1, 16))


@dataclass(frozen=True)
class BandConfig:
    key: str = "E:min"
    style: str = field(default="rock", metadata=_choices(*STYLES))
    progression: tuple[str, ...] = ("E:min", "C:maj", "G:maj", "D:maj")
    seed: int = field(default=1, metadata=_range(0, 2**31 - 1))
    answer_accents: bool = True     # a strong guitar accent gets an immediate hit
    # live coding (docs/LIVE_CODING.md): a folder of agent files ("" = off; relative to the
    # current directory), each step's CPU budget, and how long a bar may take before the
    # agents' process is restarted without the file that hung
    agents_dir: str = ""
    step_budget_ms: float = field(default=1.0, metadata=_range(0.05, 100.0))
    agent_timeout: float = field(default=1.0, metadata=_range(0.1, 10.0))
    # a session file (docs/OSC_API.md): restored at start, saved on exit ("" = none)
    session: str = ""


@dataclass(frozen=True)
class GuiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=5001, metadata=_range(1024, 65535))
    fps: int = field(default=30, metadata=_range(1, 120))


@dataclass(frozen=True)
class MidiConfig:
    port: str = "Quantum 2626"
    pedal_cc: int = field(default=64, metadata=_range(0, 127))
    pedal_down_mode: str = field(default="listen", metadata=_choices(*MODES))
    pedal_up_mode: str = field(default="play", metadata=_choices(*MODES))
    initial_mode: str = field(default="follow", metadata=_choices(*MODES))


@dataclass(frozen=True)
class OscConfig:
    host: str = "127.0.0.1"
    event_port: int = field(default=57130, metadata=_range(1024, 65535))
    control_port: int = field(default=57131, metadata=_range(1024, 65535))
    # bundles timetagged further ahead than this (seconds) are refused and counted
    timetag_horizon: float = field(default=30.0, metadata=_range(0.1, 3600.0))
    # bundles timetagged further in the past than this (seconds) are stale: refused, counted
    late_limit: float = field(default=1.0, metadata=_range(0.01, 3600.0))
    # datagrams per second per sender on the event and control ports; beyond: refused, counted
    rate_limit: int = field(default=2000, metadata=_range(1, 1_000_000))
    # the control port: a shared secret senders must give (/performia/auth), and the
    # addresses or networks allowed to send ("192.168.1.0/24"); empty = no check
    control_secret: str = ""
    control_allow: tuple[str, ...] = ()


@dataclass(frozen=True)
class SupervisionConfig:
    max_restarts: int = field(default=5, metadata=_range(0, 1000))
    restart_window: float = field(default=60.0, metadata=_range(1.0, 86400.0))
    gui_max_backoff: float = field(default=30.0, metadata=_range(1.0, 3600.0))


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    jack: JackConfig = JackConfig()
    timing: TimingConfig = TimingConfig()
    band: BandConfig = BandConfig()
    gui: GuiConfig = GuiConfig()
    midi: MidiConfig = MidiConfig()
    osc: OscConfig = OscConfig()
    supervision: SupervisionConfig = SupervisionConfig()

    def __post_init__(self) -> None:
        for entry in self.osc.control_allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"[osc] control_allow: {entry!r} is not an IP address or "
                                  "network (e.g. \"127.0.0.1\", \"192.168.1.0/24\")") from None
        if self.jack.period % self.server.block_size:
            raise ConfigError(
                f"[server] block_size = {self.server.block_size}: must divide "
                f"[jack] period = {self.jack.period} (supernova -z must divide -Z)"
            )


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a TOML file; `None` reads the project's default file."""
    config_path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        with open(config_path, "rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: no such config file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_path}: not valid TOML: {error}") from None
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a `Config`."""
    sections: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(Config)}
    for name, table in data.items():
        if name not in known:
            raise ConfigError(f"unknown section [{name}]: allowed sections are {_names(known)}")
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table of keys, got {table!r}")
        section_type = known[name].default.__class__
        sections[name] = _section_from_dict(name, section_type, table)
    return Config(**sections)


def replace(config: Config, section: str, **changes: Any) -> Config:
    """A copy of `config` with keys of one section changed, validated like the file."""
    current = dataclasses.asdict(getattr(config, section))
    current.update(changes)
    data = {f.name: dataclasses.asdict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    data[section] = current
    return config_from_dict(data)


def _section_from_dict(section: str, cls: type, table: dict[str, Any]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"[{section}] unknown key '{key}': allowed keys are {_names(fields)}")
        values[key] = _checked(section, fields[key], value)
    return cls(**values)


def _checked(section: str, spec: dataclasses.Field[Any], value: Any) -> Any:
    where = f"[{section}] {spec.name} = {value!r}"
    expected = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    if expected == "tuple[str, ...]":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: must be a list of strings")
        value = tuple(value)
    elif expected == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false")
    elif expected == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: must be a whole number")
    elif expected == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: must be a number")
        value = float(value)
    elif expected == "str" and not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string in quotes")
    _check_limits(where, spec, value)
    return value


def _check_limits(where: str, spec: dataclasses.Field[Any], value: Any) -> None:
    if "range" in spec.metadata:
        lo, hi = spec.metadata["range"]
        if not lo <= value <= hi:
            raise ConfigError(f"{where}: must be between {lo} and {hi}")
    if "choices" in spec.metadata and value not in spec.metadata["choices"]:
        allowed = ", ".join(repr(c) if isinstance(c, str) else str(c)
                            for c in spec.metadata["choices"])
        raise ConfigError(f"{where}: must be one of {allowed}")


def _names(fields: dict[str, Any]) -> str:
    return ", ".join(fields)
