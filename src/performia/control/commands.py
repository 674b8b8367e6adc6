"""The control API: what each OSC address does, when, and what it answers
(docs/OSC_API.md has the table).

`ControlApi` runs on the control port's receive thread. It checks a command's arguments,
then hands the band loop a `Change` (applied at the next step, beat or bar) or answers a
query from values it can read without a lock (immutable settings, the tempo map). It never
waits: a session is read and written by the sessions thread, notifications are sent by the
notifier's thread. The listening mode is the one thing applied here at once: it belongs to
the ears (their follower switches it under its own lock, which the band loop never takes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from performia.conductor.control import ControlError, Reply, UnknownCommandError
from performia.config import MODES
from performia.control.band import BandControl
from performia.control.changes import Change, When
from performia.control.notify import Address, Notifier
from performia.control.session import Session, Sessions
from performia.control.settings import (
    AGENT_VOICES,
    BAND,
    PARAMS,
    BandSettings,
    check_agent,
    check_voice,
    parse_progression,
)
from performia.live.host import LiveHost
from performia.server.osc import OscArg, encode_message

PREFIX = "/performia/"
DONE, FAIL = "/performia/done", "/performia/fail"
QUERIES = ("tempo", "key", "chord", "chords", "style", "mode", "bar", "patterns", "agents",
           "params", "session", "error")
COMMANDS = ("tempo", "key", "style", "chords", "mode", "notify", "session/save",
            "session/load", "agent/<name>/mute", "agent/<name>/<param>",
            "pattern/<agent>/<voice>", "get/<what>")

Send = Callable[[bytes, Address], None]


class ControlApi:
    def __init__(self, band: BandControl, set_mode: Callable[[str], None], notifier: Notifier,
                 send: Send, sessions: Sessions | None = None,
                 live: LiveHost | None = None) -> None:
        self.band = band
        self.set_mode = set_mode
        self.notifier = notifier
        self.send = send
        self.sessions = sessions
        self.live = live

    def __call__(self, address: str, args: list[Any], sender: Address) -> Reply | None:
        if not address.startswith(PREFIX):
            raise self._unknown(address)
        path = address[len(PREFIX):]
        parts = path.split("/")
        who = f"{sender[0]}:{sender[1]}"
        if path == "tempo":
            bpm = _number(address, args)
            _checked(address, lambda: self.band.settings.with_tempo(bpm))   # check it now
            return self._change(address, "tempo", When.BEAT, bpm, who,
                                lambda s: s.with_tempo(bpm))
        if path == "key":
            label = _checked(address, lambda: self.band.settings.with_key(
                _text(address, args)).key)
            return self._change(address, "key", When.BAR, label, who,
                                lambda s: s.with_key(label))
        if path == "style":
            name = _checked(address, lambda: self.band.settings.with_style(
                _text(address, args)).style)
            return self._change(address, "style", When.BAR, name, who,
                                lambda s: s.with_style(name))
        if path == "chords":
            chords = _checked(address, lambda: parse_progression(_text(address, args)))
            return self._change(address, "chords", When.BAR, " ".join(chords), who,
                                lambda s: s.with_progression(chords))
        if path == "mode":
            mode = _text(address, args)
            if mode not in MODES:
                raise ControlError(f"{address} takes one of {', '.join(MODES)}; got {args!r}")
            self.set_mode(mode)
            return Reply(DONE, (address, When.NOW.value))
        if path == "notify":
            on = _flag(address, args)
            if on:
                self.notifier.subscribe(sender)
            else:
                self.notifier.unsubscribe(sender)
            return Reply(DONE, (address, When.NOW.value))
        if len(parts) == 3 and parts[0] == "agent":
            return self._agent(address, parts[1], parts[2], args, who)
        if len(parts) == 3 and parts[0] == "pattern":
            agent, voice = parts[1], parts[2]
            _checked(address, lambda: check_voice(agent, voice))
            text = _text(address, args)
            value = text if text else None               # "": back to the style's pattern
            _checked(address, lambda: self.band.settings.with_pattern(agent, voice, value))
            return self._change(address, f"pattern {agent}/{voice}", When.BAR, text or "style",
                                who, lambda s: s.with_pattern(agent, voice, value))
        if len(parts) == 2 and parts[0] == "get":
            return self._query(address, parts[1], args)
        if path == "session/save":
            return self._save(address, args, sender)
        if path == "session/load":
            return self._load(address, args, sender, who)
        raise self._unknown(address)

    # -- commands ------------------------------------------------------------------------------

    def _change(self, address: str, what: str, when: When, value: object, sender: str,
                apply: Callable[[BandSettings], BandSettings]) -> Reply:
        self.band.submit(Change(what, when, apply, value, sender))
        return Reply(DONE, (address, when.value))

    def _agent(self, address: str, agent: str, name: str, args: list[Any],
               who: str) -> Reply:
        _checked(address, lambda: check_agent(agent))
        if name == "mute":
            muted = _flag(address, args)
            return self._change(address, f"mute {agent}", When.BAR, int(muted), who,
                                lambda s: s.with_mute(agent, muted))
        if name not in PARAMS:
            raise ControlError(f"{address}: unknown parameter {name!r}: use mute or one of "
                               f"{', '.join(PARAMS)}")
        value = _number(address, args)
        _checked(address, lambda: self.band.settings.with_param(agent, name, value))
        return self._change(address, f"{name} {agent}", When.BAR, value, who,
                            lambda s: s.with_param(agent, name, value))

    def _save(self, address: str, args: list[Any], sender: Address) -> Reply | None:
        path = _session_path(address, args, optional=True)
        if self.sessions is None:
            raise ControlError(f"{address}: sessions are not available")
        self.sessions.save(path, self._finish(address, sender, str(path or "")))
        return None                                 # answered when written

    def _load(self, address: str, args: list[Any], sender: Address, who: str) -> Reply | None:
        path = _session_path(address, args, optional=False)
        if path is None:
            raise ControlError(f"{address} takes a file name")
        if self.sessions is None:
            raise ControlError(f"{address}: sessions are not available")

        def loaded(session: Session) -> None:
            settings = session.settings
            self.band.submit(Change("session", When.BAR, lambda _s: settings, str(path), who))
            if session.mode is not None:
                self.set_mode(session.mode)
        self.sessions.load(path, loaded, self._finish(address, sender, str(path)))
        return None

    def _finish(self, address: str, sender: Address, path: str) -> Callable[[str | None], None]:
        def done(error: str | None) -> None:
            reply = (FAIL, (address, error)) if error else (DONE, (address, path))
            self.send(encode_message(reply[0], reply[1]), sender)
        return done

    # -- queries -------------------------------------------------------------------------------

    def _query(self, address: str, what: str, args: list[Any]) -> Reply:
        if args:
            raise ControlError(f"{address} takes no arguments")
        settings = self.band.settings
        loop = self.band.loop
        values: tuple[OscArg, ...]
        if what == "tempo":
            values = (float(loop.clock.tempo.bpm),)
        elif what == "key":
            values = (loop.harmony.key.label,)
        elif what == "chord":
            decision = loop.decision
            values = (decision.chord.label if decision is not None
                      else loop.harmony.chord_at_bar(max(self.band.bar, 0)).label,)
        elif what == "chords":
            values = tuple(settings.progression)
        elif what == "style":
            values = (settings.style,)
        elif what == "mode":
            values = (loop.listening.mode,)
        elif what == "bar":
            values = (self.band.bar + 1,)
        elif what == "patterns":
            values = tuple(v for agent in BAND for voice in AGENT_VOICES[agent]
                           for v in (f"{agent}/{voice}", settings.pattern_text(agent, voice)))
        elif what == "agents":
            playing = self.live.playing if self.live is not None else {}
            values = tuple(v for agent in BAND for v in (
                agent, int(settings.agents[agent].muted), playing.get(agent, "built-in")))
        elif what == "params":
            values = tuple(v for agent in BAND for name, value in
                           sorted(settings.agents[agent].params.items())
                           for v in (f"{agent}/{name}", float(value)))
        elif what == "session":
            path = self.sessions.path if self.sessions is not None else None
            values = (str(path or ""),)
        elif what == "error":
            error = self.live.last_error if self.live is not None else None
            values = (error.path, error.line, error.message) if error else ("", 0, "")
        else:
            raise ControlError(f"{address}: nothing called {what!r}: ask for one of "
                               f"{', '.join(QUERIES)}")
        return Reply(f"{PREFIX}{what}", values)

    def _unknown(self, address: str) -> UnknownCommandError:
        known = ", ".join(PREFIX + c for c in COMMANDS)
        return UnknownCommandError(f"unknown command {address!r} (known: {known})")


def _number(address: str, args: list[Any]) -> float:
    if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int | float) \
            or not math.isfinite(args[0]):
        raise ControlError(f"{address} takes one number; got {args!r}")
    return float(args[0])


def _text(address: str, args: list[Any]) -> str:
    if len(args) != 1 or not isinstance(args[0], str):
        raise ControlError(f"{address} takes one string; got {args!r}")
    return str(args[0])


def _flag(address: str, args: list[Any]) -> bool:
    if len(args) != 1 or isinstance(args[0], bool) or args[0] not in (0, 1):
        raise ControlError(f"{address} takes 1 (on) or 0 (off); got {args!r}")
    return bool(args[0])


def _checked(address: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValueError as error:
        raise ControlError(f"{address}: {error}") from None


def _session_path(address: str, args: list[Any], optional: bool) -> Path | None:
    if not args and optional:
        return None
    name = _text(address, args)
    if not name.endswith(".json"):
        raise ControlError(f"{address}: a session file name ends in .json; got {name!r}")
    return Path(name)
