"""`performia doctor`: what is missing on this machine, and how to fix each thing."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from performia.config import Config, ConfigError, load_config
from performia.cpu_wake import PM_QOS_DEVICE, wake_request_permitted
from performia.processes import realtime_permitted
from performia.server import synthdefs
from performia.server.jack import find_alsa_card, jack_running
from performia.server.process import SHM_DIR, server_answers
from performia.wakeup_test import measure_wakeups

PLUGIN_DIR = Path("/usr/lib/SuperCollider/plugins")


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str
    fix: str = ""
    essential: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("MISSING" if self.essential else "note")
        text = f"[{mark:^7}] {self.what}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n          fix: {self.fix}"
        return text


def check_binaries(config: Config) -> list[Finding]:
    wanted = {
        config.server.executable: "sudo apt-get install supercollider-supernova",
        config.server.render_executable: "sudo apt-get install supercollider-server",
        "sclang": "sudo apt-get install supercollider-language",
        "jackd": "sudo apt-get install jackd2",
        "jack_lsp": "sudo apt-get install jackd2",
        "jack_connect": "sudo apt-get install jackd2",
    }
    out = []
    for name, fix in wanted.items():
        path = shutil.which(name)
        out.append(Finding(path is not None, f"program {name}", path or "not found", fix))
    plugin = PLUGIN_DIR / "Chromagram_supernova.so"
    out.append(Finding(plugin.exists(), "sc3-plugins (Chromagram for supernova)",
                       str(plugin) if plugin.exists() else "not found",
                       "sudo apt-get install sc3-plugins-server sc3-plugins-language"))
    return out


def check_synthdefs() -> Finding:
    stale = synthdefs.stale_sources()
    return Finding(not stale, "compiled SynthDefs",
                   "up to date" if not stale else f"{len(stale)} sources not compiled",
                   "performia build", essential=False)


def check_jack(config: Config) -> Finding:
    name = config.jack.server_name or "default"
    running = shutil.which("jack_wait") is not None and jack_running(config.jack.server_name)
    return Finding(running, f"JACK server '{name}'",
                   "running" if running else "not running (performia starts one itself)",
                   "scripts/start_supernova.sh starts JACK and supernova", essential=False)


def check_audio_device(config: Config) -> Finding:
    card = find_alsa_card(config.jack.device)
    return Finding(card is not None, f"audio interface '{config.jack.device}'",
                   card or "not found: the dummy driver and a rehearsal take stand in",
                   "plug it in and check 'cat /proc/asound/cards'; or set [jack] device",
                   essential=False)


def check_midi(config: Config) -> Finding:
    if not Path("/dev/snd/seq").exists() and not jack_running(config.jack.server_name):
        return Finding(False, "MIDI input", "no ALSA sequencer here, and JACK MIDI ports only "
                       "exist while JACK runs (performia starts it)",
                       "start JACK first (scripts/start_supernova.sh), then run doctor again",
                       essential=False)
    try:
        import mido
        api = "LINUX_ALSA" if Path("/dev/snd/seq").exists() else "UNIX_JACK"
        mido.set_backend(f"mido.backends.rtmidi/{api}", load=True)
        names = mido.get_input_names()
    except Exception as error:  # the backend itself may be unusable here
        return Finding(False, "MIDI input", f"cannot list ports: {error}",
                       "sudo apt-get install libasound2 libjack-jackd2-0", essential=False)
    found = [n for n in names if config.midi.port.lower() in n.lower()]
    return Finding(bool(found), f"MIDI port containing '{config.midi.port}'",
                   found[0] if found else f"not found among {names or 'no ports'}",
                   "connect the pedal's MIDI interface, or set [midi] port", essential=False)


def check_realtime() -> Finding:
    ok = realtime_permitted()
    return Finding(ok, "real-time scheduling (SCHED_FIFO)", "permitted" if ok else "not permitted",
                   "add your user to the 'audio' group with rtprio 95 in "
                   "/etc/security/limits.d/audio.conf, then log in again", essential=False)


def check_cpu_wake(config: Config) -> Finding:
    if not config.timing.keep_cpus_awake:
        return Finding(True, "keeping the CPUs awake while playing", "off in the config",
                       essential=False)
    ok = wake_request_permitted()
    return Finding(ok, f"keeping the CPUs awake while playing ({PM_QOS_DEVICE})",
                   "permitted" if ok else "not writable: real-time threads may wake ~50 µs later",
                   'run as root, or a udev rule: KERNEL=="cpu_dma_latency", GROUP="audio", '
                   'MODE="0660"', essential=False)


WAKEUP_TEST_SECONDS = 3.0


def check_wakeups(config: Config) -> Finding:
    period = config.jack.period / config.server.sample_rate
    report = measure_wakeups(WAKEUP_TEST_SECONDS, period)
    return Finding(report.late == 0, f"real-time wake-ups ({WAKEUP_TEST_SECONDS:g} s at the "
                   f"{config.jack.period}-frame period)", report.describe(),
                   "expect dropouts (xruns): close busy programs; on a VM ask for dedicated "
                   "vCPUs; or raise [jack] period (256 = 5.3 ms)", essential=False)


def _port_free(host: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(config: Config) -> list[Finding]:
    out = []
    port = config.server.port
    if _port_free("127.0.0.1", port, socket.SOCK_DGRAM):
        out.append(Finding(True, f"UDP port {port} (supernova)", "free"))
    else:
        answers = server_answers("127.0.0.1", port)
        out.append(Finding(answers, f"UDP port {port} (supernova)",
                           "a server answers there (performia will use it)" if answers
                           else "taken by something that is not a SuperCollider server",
                           "stop that program or set [server] port"))
    osc_free = _port_free(config.osc.host, config.osc.event_port, socket.SOCK_DGRAM)
    out.append(Finding(osc_free, f"UDP port {config.osc.event_port} (OSC note input)",
                       "free" if osc_free else "taken", "set [osc] event_port"))
    control_free = _port_free(config.osc.host, config.osc.control_port, socket.SOCK_DGRAM)
    out.append(Finding(control_free, f"UDP port {config.osc.control_port} (control: the pedal's "
                       "mode changes)", "free" if control_free else "taken",
                       "set [osc] control_port"))
    gui_free = _port_free(config.gui.host, config.gui.port, socket.SOCK_STREAM)
    out.append(Finding(gui_free, f"TCP port {config.gui.port} (GUI)",
                       "free" if gui_free else "taken", "set [gui] port, or run with --no-gui"))
    return out


def check_stale_shm(config: Config) -> Finding:
    path = SHM_DIR / f"SuperColliderServer_{config.server.port}"
    stale = path.exists() and not server_answers("127.0.0.1", config.server.port)
    return Finding(not stale, "server shared memory",
                   f"{path} left by a crashed server" if stale else "clean",
                   "performia removes it at start", essential=False)


def run_checks(config: Config) -> list[Finding]:
    checks: list[Callable[[], Finding | list[Finding]]] = [
        lambda: check_binaries(config), check_synthdefs, lambda: check_jack(config),
        lambda: check_audio_device(config), lambda: check_midi(config), check_realtime,
        lambda: check_cpu_wake(config), lambda: check_wakeups(config),
        lambda: check_ports(config),
        lambda: check_stale_shm(config),
    ]
    findings: list[Finding] = []
    for check in checks:
        result = check()
        findings += result if isinstance(result, list) else [result]
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="performia doctor",
                                     description="List what is missing and how to fix it.")
    parser.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"performia: config error: {error}", file=sys.stderr)
        return 2
    findings = run_checks(config)
    for finding in findings:
        print(finding.line())
    missing = [f for f in findings if f.essential and not f.ok]
    print(f"\n{len(missing)} essential things missing" if missing
          else "\neverything essential is here" + (f" (running as uid {os.getuid()})"))
    return 1 if missing else 0
