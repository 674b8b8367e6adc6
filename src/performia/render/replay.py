"""`--replay performance.jsonl`: the notes of a live run's `--events` log, to render again.

Note lines (those with an `agent`) become the note events the live dispatcher sent, at their
`t`. What the log does not carry: `param` (each voice's brightness; replayed notes use 0.0,
the default), and which lines were release-all events (kind 2): a line with `midi` 0,
`vel` 0 and `dur` 0 on a held voice (bass, keys, lead, guitar) is taken as one, since no
agent plays a silent note. Answers (voice "answer") were sent the moment an accent was
heard, so their `t` is when they were decided; they sound in the next block, as live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from performia.events.note import (
    AGENTS,
    VOICE_AGENT,
    VOICES,
    NoteEvent,
    NoteKind,
    agent_index,
    voice_index,
)
from performia.plan import ANSWER_RING
from performia.transport.voices import GATED_VOICES


class ReplayError(ValueError):
    """The log cannot be replayed (names the file, the line and the problem)."""


@dataclass(frozen=True)
class Replay:
    notes: list[tuple[str, NoteEvent]]      # (ring, note) in time order
    heard: list[dict[str, object]]          # the log's heard lines, kept for --events
    end: float                              # the last note's end


def load(path: Path) -> Replay:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReplayError(f"{path}: is a directory") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayError(f"{path}: cannot be read ({error})") from None
    notes: list[tuple[float, int, str, NoteEvent]] = []
    heard: list[dict[str, object]] = []
    end = 0.0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if "agent" not in record:
                heard.append(record)
                continue
            ring, event = _note(record)
        except (ValueError, KeyError, TypeError) as error:
            raise ReplayError(f"{path}, line {number}: not an events line ({error})") from None
        notes.append((event.time, len(notes), ring, event))
        end = max(end, event.time + event.duration)
    if not notes:
        raise ReplayError(f"{path}: no note lines (lines with an \"agent\") to replay")
    notes.sort(key=lambda n: (n[0], n[1]))
    return Replay([(ring, event) for _, _, ring, event in notes], heard, end)


def _note(record: dict[str, Any]) -> tuple[str, NoteEvent]:
    voice = str(record["voice"])
    if voice not in VOICES:
        raise ValueError(f"unknown voice {voice!r}")
    agent = str(record["agent"])
    if agent not in AGENTS:            # a live-coded agent's name: its voice's instrument
        agent = VOICE_AGENT[voice]
    t, midi = float(record["t"]), int(record["midi"])
    vel, dur = float(record["vel"]), float(record["dur"])
    if t < 0:
        raise ValueError(f"t = {t} is before the song's start")
    ring = ANSWER_RING if voice == "answer" else agent
    if voice in GATED_VOICES and midi == 0 and vel == 0.0 and dur == 0.0:
        return ring, NoteEvent(time=t, agent=agent_index(agent), voice=voice_index(voice),
                               pitch=0, velocity=0.0, kind=NoteKind.RELEASE)
    return ring, NoteEvent.make(t, agent, voice, midi, vel, dur, reactive=voice == "answer")
