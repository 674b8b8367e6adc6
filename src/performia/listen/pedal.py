"""The sustain pedal: MIDI control changes → listening modes.

mido with the python-rtmidi backend, on ALSA where an ALSA sequencer exists (/dev/snd/seq,
the reference rig) and on JACK MIDI elsewhere (CI machines). The input port is the first
whose name contains the configured text (case-insensitive). A missing port gives one clear
warning and the band plays without the pedal; a background thread looks again every
`retry` seconds and opens the port when it appears (and notices when it goes away).
It looks through one MIDI client kept open for the purpose: on JACK, opening a client per
look (what `mido.get_input_names()` does) changes the JACK graph every `retry` seconds, and
each change moved supernova's notes by 1–3 samples (measured, docs/PERFORMANCE.md).

Pressing the pedal (value ≥ 64 on the configured controller) calls `on_mode` with the
configured down-mode ("listen"); releasing it (< 64) with the up-mode ("play"). Only
changes count: a half-pedal's stream of values calls back once per crossing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mido
import rtmidi

from performia.config import MidiConfig

log = logging.getLogger(__name__)

ALSA_SEQUENCER = Path("/dev/snd/seq")
PRESSED = 64                               # MIDI convention: 0..63 up, 64..127 down


def midi_api() -> str:
    """The rtmidi API to use here: LINUX_ALSA if an ALSA sequencer exists, else UNIX_JACK."""
    return "LINUX_ALSA" if ALSA_SEQUENCER.exists() else "UNIX_JACK"


def midi_backend(api: str | None = None) -> Any:
    """A mido backend for python-rtmidi on `api` (default: `midi_api()`), without touching
    mido's process-wide default backend."""
    return mido.Backend(f"mido.backends.rtmidi/{api or midi_api()}", load=True)


def find_port(names: list[str], wanted: str) -> str | None:
    """The first port name containing `wanted` (case-insensitive), or None."""
    needle = wanted.lower()
    return next((name for name in names if needle in name.lower()), None)


class PedalInput:
    """Watches for the pedal's MIDI port and turns its presses into mode changes."""

    def __init__(self, config: MidiConfig, on_mode: Callable[[str], None], *,
                 retry: float = 2.0, api: str | None = None) -> None:
        self.config = config
        self.on_mode = on_mode
        self.retry = retry
        self.api = api or midi_api()
        self._backend: Any = None
        self._lister: Any = None                  # one client that lists the ports
        self._port: Any = None
        self._port_name: str | None = None
        self._listed_name: str | None = None     # the same port as the lister names it
        self._pressed: bool | None = None
        self._warned = False
        self._no_client = False                  # the client could not be opened (said)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port_name(self) -> str | None:
        """The name of the open port, or None while the pedal is missing."""
        return self._port_name

    def start(self) -> None:
        """Open the port now if it exists (else warn once) and keep watching in a thread;
        a MIDI client that cannot be opened yet (JACK not answering) is tried again at every
        look, so the pedal comes back without a restart."""
        if self._thread is not None:
            return
        self._backend = midi_backend(self.api)
        if self._open_lister():
            self._poll()
        self._thread = threading.Thread(target=self._watch, name="pedal-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop watching and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry + 5.0)
            self._thread = None
        with self._lock:
            self._close_port()
            lister, self._lister = self._lister, None
        if lister is not None:
            lister.delete()

    def __enter__(self) -> PedalInput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the port

    def _watch(self) -> None:
        while not self._stop.wait(self.retry):
            if self._lister is not None or self._open_lister():
                self._poll()

    def _open_lister(self) -> bool:
        """The one client that lists the ports; False while it cannot be opened (said once,
        and once more when it can)."""
        try:
            lister = rtmidi.MidiIn(getattr(rtmidi, f"API_{self.api}"),
                                   name="performia-pedal-watch")
        except Exception as error:  # rtmidi raises its own kinds (no JACK server, no ALSA)
            if not self._no_client:
                log.error("pedal: cannot open a MIDI client (%s: %s); the band plays without "
                          "the pedal, trying again every %g s", self.api, error, self.retry)
                self._no_client = True
            return False
        with self._lock:
            if self._stop.is_set():
                lister.delete()
                return False
            self._lister = lister
        if self._no_client:
            log.info("pedal: the MIDI client is open (%s)", self.api)
            self._no_client = False
        return True

    def _poll(self) -> None:
        try:
            names: list[str] = list(self._lister.get_ports())
        except Exception:
            log.exception("pedal: cannot list MIDI inputs (%s)", self.api)
            return
        with self._lock:
            if self._stop.is_set():
                return
            if self._port is not None:
                if self._listed_name not in names:
                    log.warning("pedal: MIDI port %r went away; the band plays without the "
                                "pedal until it is back", self._port_name)
                    self._close_port()
                return
            name = find_port(names, self.config.port)
            if name is None:
                self._warn_missing(names)
                return
            self._open(name)

    def _open(self, listed: str) -> None:
        try:
            # mido's name for the port (rtmidi's, with a number added to a duplicate)
            name = find_port(list(self._backend.get_input_names()), listed) or listed
            # no client_name: mido would open a virtual port of that name instead
            self._port = self._backend.open_input(name, callback=self._on_message)
        except Exception:
            log.exception("pedal: cannot open MIDI input %r (%s)", listed, self.api)
            return
        self._port_name = name
        self._listed_name = listed
        self._warned = False
        log.info("pedal: listening to CC %d on %r (%s): down = %s, up = %s",
                 self.config.pedal_cc, name, self.api, self.config.pedal_down_mode,
                 self.config.pedal_up_mode)

    def _warn_missing(self, names: list[str]) -> None:
        if self._warned:
            return
        self._warned = True
        log.warning("pedal: no MIDI input whose name contains %r (%s; found: %s). The band "
                    "plays without the pedal; looking again every %g s.", self.config.port,
                    self.api, ", ".join(repr(n) for n in names) or "none", self.retry)

    def _close_port(self) -> None:
        port, self._port, self._port_name = self._port, None, None
        if port is not None:
            try:
                port.close()
            except Exception:
                log.exception("pedal: closing the MIDI input failed")

    # ------------------------------------------------------------------ messages

    def _on_message(self, message: mido.Message) -> None:
        """Runs on rtmidi's thread."""
        if message.type != "control_change" or message.control != self.config.pedal_cc:
            return
        pressed = message.value >= PRESSED
        if pressed == self._pressed:
            return
        self._pressed = pressed
        mode = self.config.pedal_down_mode if pressed else self.config.pedal_up_mode
        try:
            self.on_mode(mode)
        except Exception:
            log.exception("pedal: the mode callback failed for %r", mode)
