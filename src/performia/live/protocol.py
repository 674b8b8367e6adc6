"""The messages between the conductor and the live agents' process: one JSON object per
line, on the process's stdin (conductor → worker) and stdout (worker → conductor).

conductor → worker
    {"op": "load", "path": p, "source": text, "digest": d}   a file saved (or a restart)
    {"op": "unload", "path": p}                              a file deleted
    {"op": "bar", "bar": n, "ctx": {...}}                    compute bar n for every agent
worker → conductor
    {"op": "begin", "path": p}                 about to run this file's code (blame on hang)
    {"op": "loaded", "path": p, "digest": d, "agent": a}
    {"op": "unloaded", "path": p, "agent": a}
    {"op": "error", "path": p, "digest": d, "line": n, "message": text, "agent": a|null}
    {"op": "notes", "bar": n, "agent": a, "path": p, "digest": d, "cpu_ms": x,
     "notes": [[index, voice, midi, velocity, offset, length, param], ...]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from performia.band.styles import swung_beat
from performia.events.note import NoteEvent, NoteValueError


def digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ValueError(f"not a message: {line[:200]!r}")
    return message


PlannedNote = tuple[str, int, float, float, float, float]  # voice, midi, vel, offset, len, param


@dataclass(frozen=True)
class BarNotes:
    """A bar of one live agent, computed ahead: notes per sixteenth, in beats."""

    agent: str
    bar: int
    path: str
    digest: str
    steps: dict[int, tuple[PlannedNote, ...]]

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> BarNotes:
        steps: dict[int, list[PlannedNote]] = {}
        for index, voice, midi, velocity, offset, length, param in message["notes"]:
            steps.setdefault(int(index), []).append(
                (str(voice), int(midi), float(velocity), float(offset), float(length),
                 float(param)))
        return cls(str(message["agent"]), int(message["bar"]), str(message["path"]),
                   str(message["digest"]), {k: tuple(v) for k, v in steps.items()})

    def events(self, index: int, beat: float, time_at: Any, swing: float
               ) -> tuple[list[NoteEvent], int]:
        """The note events of the step `index` starting at song `beat` (times from the tempo
        map now, swung), and how many notes could not be played."""
        events: list[NoteEvent] = []
        bad = 0
        for voice, midi, velocity, offset, length, param in self.steps.get(index, ()):
            start = beat + offset
            time = time_at(swung_beat(start, swing))
            end = time_at(swung_beat(start + length, swing))
            try:
                events.append(NoteEvent.make(time, self.agent, voice, midi, velocity,
                                             min(max(end - time, 0.0), 30.0), param=param))
            except (NoteValueError, ValueError):
                bad += 1
        return events, bad
