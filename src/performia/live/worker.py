"""The live agents' process: runs the musicians' own code, away from the real-time path.

    python -m performia.live.worker --budget-ms 1.0 --timeout 1.0

It reads `performia.live.protocol` messages on stdin and answers on stdout (see there).
User code runs only here, at normal priority (nice 10), never inside the conductor: an
agent that loops forever, sleeps or crashes the interpreter costs this process, not the
band. The conductor asks for each bar a bar ahead and plays the built-in agent for any
bar whose notes are not there in time.

Inside, each step's CPU time is measured (`time.thread_time`, so being preempted does not
count): a step over the budget, one that raises, or a bar that returns something that is
not notes rejects that version of the file; the previous version goes on playing (or the
built-in agent, if there was none), and the error is reported with the file and line. A
bar that does not finish within `--timeout` seconds (an endless loop, a sleep, a call that
blocks) makes `faulthandler` print where it was and end the process; the conductor blames
the file it was running and restarts the process without that version.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import gc
import json
import os
import random
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from performia.band.patterns import Pattern, parse_pattern
from performia.control.settings import AGENT_VOICES, BAND
from performia.live.api import Note, Step
from performia.live.protocol import decode, encode
from performia.theory import Chord, Key

PR_SET_PDEATHSIG = 1
MAX_MESSAGE_CHARS = 300
STEPS_PER_BEAT = 4


class AgentError(Exception):
    """A version of an agent file that cannot play: `line` in the file, and why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message[:MAX_MESSAGE_CHARS]


@dataclass
class Version:
    path: str
    digest: str
    agent: str
    step: Callable[[Step], Any]
    previous: Version | None = None
    proven: bool = False                     # has played a bar
    memory: dict[str, object] = field(default_factory=dict)

    @property
    def line(self) -> int:
        code = getattr(self.step, "__code__", None)
        return int(getattr(code, "co_firstlineno", 1))


def error_line(error: BaseException, path: str) -> int:
    """The last line of `path` in the traceback of `error` (0 if it is not in it)."""
    line = 0
    if isinstance(error, SyntaxError) and error.filename == path:
        return int(error.lineno or 0)
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == path:
            line = frame.lineno or 0
    return line


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Worker:
    def __init__(self, out: BinaryIO, budget_ms: float, timeout: float) -> None:
        self.out = out
        self.budget = budget_ms / 1000.0
        self.timeout = timeout
        self.versions: dict[str, Version] = {}     # path → the version that plays
        self.agents: dict[str, str] = {}           # agent → path
        self.last_ctx: dict[str, Any] | None = None

    # -- messages ----------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(encode(message))
        self.out.flush()

    def handle(self, message: dict[str, Any]) -> None:
        op = message["op"]
        if op == "load":
            self.load(str(message["path"]), str(message["source"]), str(message["digest"]))
        elif op == "unload":
            self.unload(str(message["path"]))
        elif op == "bar":
            self.last_ctx = dict(message["ctx"], bar=int(message["bar"]))
            self.compute_bar(self.last_ctx)
        else:
            raise ValueError(f"unknown op {op!r}")

    def error(self, path: str, digest: str, line: int, message: str,
              agent: str | None) -> None:
        self.send({"op": "error", "path": path, "digest": digest, "line": line,
                   "message": message[:MAX_MESSAGE_CHARS], "agent": agent})

    # -- loading -----------------------------------------------------------------------------

    def load(self, path: str, source: str, digest: str) -> None:
        self.send({"op": "begin", "path": path})
        faulthandler.dump_traceback_later(self.timeout, exit=True)
        try:
            version = self._compile(path, source, digest)
        except AgentError as error:
            self.error(path, digest, error.line, error.message, None)
            return
        finally:
            faulthandler.cancel_dump_traceback_later()
        owner = self.agents.get(version.agent)
        if owner is not None and owner != path:
            self.error(path, digest, 1, f"{version.agent} is already played by {owner}: "
                                        "one file per agent", version.agent)
            return
        current = self.versions.get(path)
        if current is not None and current.agent != version.agent:
            self._drop(current)
            current = None
        version.previous = current if current is None or current.proven else current.previous
        self.versions[path] = version
        self.agents[version.agent] = path
        self.send({"op": "loaded", "path": path, "digest": digest, "agent": version.agent})
        if self.last_ctx is not None:
            self.compute_agent(version, self.last_ctx)   # the bar already asked for: the new
                                                         # version takes it if it is in time

    def _compile(self, path: str, source: str, digest: str) -> Version:
        try:
            code = compile(source, path, "exec")
        except SyntaxError as error:
            raise AgentError(int(error.lineno or 0), f"SyntaxError: {error.msg}") from None
        name = f"performia_live_{abs(hash(path))}"
        module = types.ModuleType(name)
        module.__file__ = path
        sys.modules[name] = module
        try:
            exec(code, module.__dict__)  # noqa: S102 (the musician's own file)
        except (Exception, SystemExit) as error:
            raise AgentError(error_line(error, path) or 1, describe(error)) from None
        agent = getattr(module, "AGENT", None)
        if agent not in BAND:
            raise AgentError(1, f"the file must say which agent it plays: AGENT = one of "
                                f"{', '.join(repr(a) for a in BAND)} (got {agent!r})")
        step = getattr(module, "step", None)
        if not callable(step):
            raise AgentError(1, "the file must define step(s) -> list of Note")
        return Version(path, digest, str(agent), step)

    def unload(self, path: str) -> None:
        version = self.versions.pop(path, None)
        if version is not None:
            self._drop(version)

    def _drop(self, version: Version) -> None:
        if self.agents.get(version.agent) == version.path:
            del self.agents[version.agent]
        self.send({"op": "unloaded", "path": version.path, "agent": version.agent})

    # -- playing -----------------------------------------------------------------------------

    def compute_bar(self, ctx: dict[str, Any]) -> None:
        """Every agent's notes for the bar; proven versions first, so a new file that hangs
        cannot hold up the others."""
        paths = sorted(self.agents.values(), key=lambda p: self.versions[p].proven,
                       reverse=True)
        for path in paths:
            version = self.versions.get(path)
            if version is not None:
                self.compute_agent(version, ctx)

    def compute_agent(self, version: Version, ctx: dict[str, Any]) -> None:
        while True:
            try:
                notes, cpu = self._run_bar(version, ctx)
            except AgentError as error:
                self.error(version.path, version.digest, error.line, error.message,
                           version.agent)
                previous = version.previous
                if previous is None:
                    self.versions.pop(version.path, None)
                    self._drop(version)
                    return
                self.versions[version.path] = previous       # the previous version plays
                version = previous
                continue
            version.proven = True
            version.previous = None
            self.send({"op": "notes", "bar": ctx["bar"], "agent": version.agent,
                       "path": version.path, "digest": version.digest,
                       "cpu_ms": round(cpu * 1000.0, 4), "notes": notes})
            return

    def _run_bar(self, version: Version, ctx: dict[str, Any]) -> tuple[list[list[Any]], float]:
        agent = version.agent
        own = ctx["agents"].get(agent, {})
        patterns: dict[str, Pattern] = {voice: parse_pattern(text)
                                        for voice, text in own.get("patterns", {}).items()}
        params: dict[str, float] = dict(own.get("params", {}))
        bar, bpb = int(ctx["bar"]), int(ctx["beats_per_bar"])
        rng = random.Random(f"{ctx.get('seed', 0)}:{agent}:{bar}")
        key, chord = Key.parse(ctx["key"]), Chord.parse(ctx["chord"])
        next_chord = Chord.parse(ctx["next_chord"])
        voices = AGENT_VOICES[agent]
        notes: list[list[Any]] = []
        longest = 0.0
        self.send({"op": "begin", "path": version.path})
        faulthandler.dump_traceback_later(self.timeout, exit=True)
        gc.disable()
        try:
            for index in range(bpb * STEPS_PER_BEAT):
                step = Step(agent=agent, bar=bar, index=index, beats_per_bar=bpb,
                            bpm=float(ctx["bpm"]), key=key, chord=chord,
                            next_chord=next_chord, mode=str(ctx["mode"]),
                            playing=bool(ctx["playing"]), params=params, patterns=patterns,
                            rng=rng, memory=version.memory)
                started = time.thread_time()
                try:
                    result = version.step(step)
                except (Exception, SystemExit) as error:
                    raise AgentError(error_line(error, version.path) or version.line,
                                     f"{describe(error)} (bar {bar + 1}, step {index + 1})"
                                     ) from None
                spent = time.thread_time() - started
                longest = max(longest, spent)
                if spent > self.budget:
                    raise AgentError(version.line, f"step took {spent * 1000:.2f} ms of CPU, "
                                     f"over the budget of {self.budget * 1000:g} ms "
                                     f"(bar {bar + 1}, step {index + 1})")
                notes.extend(self._checked(version, result, index, voices, step.length))
        finally:
            gc.enable()
            faulthandler.cancel_dump_traceback_later()
        return notes, longest

    @staticmethod
    def _checked(version: Version, result: object, index: int, voices: tuple[str, ...],
                 length: float) -> list[list[Any]]:
        if result is None:
            return []
        if not isinstance(result, list | tuple):
            raise AgentError(version.line, f"step must return a list of Note, got "
                                           f"{type(result).__name__}")
        out = []
        for note in result:
            if not isinstance(note, Note):
                raise AgentError(version.line, f"step returned {note!r}: not a Note")
            if note.voice not in voices:
                raise AgentError(version.line, f"{version.agent} has no voice "
                                 f"{note.voice!r}: use {', '.join(voices)}")
            if note.offset >= length:
                raise AgentError(version.line, f"a note's offset ({note.offset}) must be "
                                 f"less than the step's length ({length} beats)")
            out.append([index, note.voice, note.midi, float(note.velocity),
                        float(note.offset), float(note.length), float(note.param)])
        return out


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError as error:
        print(f"live agents: no parent-death signal ({error})", file=sys.stderr)
    if os.getppid() != parent:
        raise SystemExit(0)                  # the conductor is already gone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="performia.live.worker")
    parser.add_argument("--budget-ms", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    try:
        os.nice(10)
    except OSError as error:
        print(f"live agents: nice: {error}", file=sys.stderr)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                            # print() in an agent goes to the log, not to us
    sys.stdout = sys.stderr
    worker = Worker(out, args.budget_ms, args.timeout)
    for line in sys.stdin.buffer:
        try:
            message = decode(line)
        except (ValueError, json.JSONDecodeError) as error:
            print(f"live agents: bad message: {error}", file=sys.stderr)
            continue
        worker.handle(message)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
