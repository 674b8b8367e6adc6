"""Applying control changes inside the band loop, at the moment each is due.

`BandControl.before_step` runs on the band loop's thread at the top of every step, before
anything is decided for it. It takes the changes that are due (control/changes.py), makes
the next `BandSettings` from them, and brings the band in line with it:

- tempo: the tempo map is re-anchored at this step's beat (`BandLoop.change_tempo`):
  every beat before it keeps its time, the ones after it move to the new tempo; no jump;
- key, progression: new values replace the harmonic context's (the progression is
  aligned so that its first chord falls on this bar);
- style, patterns, density, swing, intensity: each built-in agent gets its new style;
- mute, octave, volume: each member gets its new `AgentSettings` (a member muted while
  it has notes sounding releases them on this step: nothing hangs).

On every bar line it tells subscribers the bar number, and it asks the live agents' process
for the bar after this one (once; also when the band came in mid-bar). Nothing here waits,
reads a file or sends on a socket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from performia.band.agent import release_notes
from performia.conductor.band_loop import BandLoop
from performia.control.changes import Change, Inbox, When, is_due
from performia.control.member import Member
from performia.control.settings import AGENT_VOICES, BandSettings, member_style
from performia.events.note import DRUM_VOICES
from performia.live.host import LiveHost
from performia.processes import set_background_realtime
from performia.server.osc import OscArg
from performia.theory import Chord, Key

log = logging.getLogger(__name__)

REPORT_DELAY = 0.02     # s after a step: its control reports are written (see `_reporter`)

Notify = Callable[[str, tuple[OscArg, ...]], None]


class BandControl:
    def __init__(self, loop: BandLoop, settings: BandSettings, members: Mapping[str, Member],
                 live: LiveHost | None = None, notify: Notify | None = None) -> None:
        self.loop = loop
        self.settings = settings            # replaced whole by the band loop; read anywhere
        self.members = dict(members)
        self.live = live
        self.notify = notify
        self.inbox = Inbox()
        self.applied = 0
        self.failed = 0
        self.bar = -1
        self.asked = -1                     # the last bar asked of the live agents
        self._reports: queue.SimpleQueue[tuple[float, float, list[Change]] | None] | None \
            = None
        self._reporter_thread: threading.Thread | None = None
        loop.before_step = self.before_step

    def submit(self, change: Change) -> None:
        """From any thread: the band loop applies it when it is due."""
        self.inbox.put(change)

    def install(self, settings: BandSettings) -> None:
        """Before the band plays (at beat 0): the whole settings at once."""
        old, self.settings = self.settings, settings
        self._sync(old, settings, 0.0, force=True)

    # -- the band loop -------------------------------------------------------------------------

    def before_step(self, beat: float) -> None:
        tempo = self.loop.clock.tempo
        due = self.inbox.due(beat, tempo.beats_per_bar)
        if due:
            self._apply(due, beat)
        if is_due(When.BAR, beat, tempo.beats_per_bar):
            self._bar_line(beat)
        if self.live is not None:           # the next bar, a bar ahead (also after a late
            self.ask_live(int((beat + 1e-9) // tempo.beats_per_bar) + 1)   # start)

    def ask_live(self, bar: int) -> None:
        """Ask the live agents for `bar`, once."""
        if self.live is not None and bar > self.asked:
            self.asked = bar
            self.live.request(bar, self.context(bar))

    def _apply(self, due: list[Change], beat: float) -> None:
        old = new = self.settings
        applied: list[Change] = []
        for change in coalesced(due):
            try:
                new = change.apply(new)
            except ValueError as error:          # checked on arrival; a race with another
                self.failed += 1                 # change (e.g. two patterns) lands here
                log.warning("control: %s from %s not applied: %s", change.what,
                            change.sender, error)
                continue
            applied.append(change)
        if new is not old:
            self._sync(old, new, beat)
            self.settings = new
        self.applied += len(due)
        report = (self.loop.clock.tempo.time_at(beat), beat, due)
        if self._reports is not None:
            self._reports.put(report)        # written and told by the reporter thread
        else:
            self._report(report)

    def _report(self, report: tuple[float, float, list[Change]]) -> None:
        """Each change applied: a line of --events and a notification."""
        time, beat, changes = report
        for change in changes:
            if self.loop.on_event is not None:
                self.loop.on_event({"t": time, "kind": "control", "what": change.what,
                                    "value": change.value, "when": change.when.value,
                                    "beat": beat})
            if self.notify is not None:
                self.notify("/performia/changed", (change.what, str(change.value)))

    def report_in_background(self) -> None:
        """Report applied changes from a thread of their own (the conductor): the band
        loop only hands over one tuple per step, however many changes it applied."""
        self._reports = queue.SimpleQueue()
        self._reporter_thread = threading.Thread(target=self._reporter, daemon=True,
                                                 name="control-reports")
        self._reporter_thread.start()

    def _reporter(self) -> None:
        """Reports wait REPORT_DELAY: a bar line brings up to a few hundred changes, and
        writing them while the band loop decides that bar's first step would make it wait
        for the interpreter lock; a little later the band loop is idle until its next step."""
        set_background_realtime("control reports")
        reports = self._reports
        while reports is not None and (report := reports.get()) is not None:
            time.sleep(REPORT_DELAY)
            self._report(report)
            while True:
                try:
                    more = reports.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                self._report(more)

    def close(self) -> None:
        """After the band loop stopped: the last reports written, then the thread ends."""
        if self._reports is not None:
            self._reports.put(None)
            if self._reporter_thread is not None:
                self._reporter_thread.join(timeout=2.0)

    def _sync(self, old: BandSettings, new: BandSettings, beat: float,
              force: bool = False) -> None:
        loop = self.loop
        bar = int(round(beat)) // loop.clock.tempo.beats_per_bar
        if force or new.tempo != old.tempo:
            loop.change_tempo(new.tempo, beat)
        if force or new.key != old.key:
            loop.harmony.key = Key.parse(new.key)
        if force or new.progression != old.progression:
            loop.harmony.progression = aligned([Chord.parse(c) for c in new.progression], bar)
        for name, member in self.members.items():
            before, after = old.agents[name], new.agents[name]
            restyle = (force or new.style != old.style or before.params != after.params
                       or _patterns(old, name) != _patterns(new, name))
            if restyle:
                member.restyle(member_style(new, name), after.params.get("intensity"))
            if after != before or force:
                member.settings = after
            if after.muted and not before.muted and not force:
                held = [v for v in AGENT_VOICES[name] if v not in DRUM_VOICES]
                if held:              # one release ends every note the agent has sounding
                    time = loop.clock.tempo.time_at(beat)
                    loop.emit(name, [release_notes(time, name, held[0])])

    def _bar_line(self, beat: float) -> None:
        tempo = self.loop.clock.tempo
        self.bar = int(round(beat)) // tempo.beats_per_bar
        if self.notify is not None:
            self.notify("/performia/bar", (self.bar + 1,))

    def context(self, bar: int) -> dict[str, Any]:
        """What a live agent knows of `bar` (a bar ahead): plain values, sent as JSON."""
        loop, settings = self.loop, self.settings
        tempo = loop.clock.tempo
        harmony = loop.harmony
        return {
            "bpm": tempo.bpm, "beats_per_bar": tempo.beats_per_bar, "key": harmony.key.label,
            "chord": harmony.chord_at_bar(bar).label,
            "next_chord": harmony.chord_at_bar(bar + 1).label,
            "mode": loop.listening.mode, "playing": loop.listening.playing, "seed": loop.seed,
            "style": settings.style,
            "agents": {name: {"muted": a.muted, "params": dict(a.params),
                              "patterns": {v: settings.pattern_text(name, v)
                                           for v in AGENT_VOICES[name]}}
                       for name, a in settings.agents.items()},
        }


def coalesced(changes: list[Change]) -> list[Change]:
    """The changes due together that make a difference: each sets one thing (`what`), so
    only the last of each counts, and a session replaces everything before it."""
    latest: dict[str, Change] = {}
    for change in changes:
        if change.what == "session":
            latest.clear()
        latest.pop(change.what, None)
        latest[change.what] = change
    return list(latest.values())


def _patterns(settings: BandSettings, agent: str) -> dict[str, str]:
    return {k: v for k, v in settings.patterns.items() if k.startswith(agent + "/")}


def aligned(chords: list[Chord], bar: int) -> list[Chord]:
    """The progression as the harmonic context loops it (bar n plays item n % length), with
    its first chord on `bar`."""
    n = len(chords)
    loop: list[Chord] = list(chords)
    for i, chord in enumerate(chords):
        loop[(bar + i) % n] = chord
    return loop
