"""`--events FILE`: one JSON object per line for every note played and everything heard (a
public contract, docs/EVENTS.md). `t` is seconds from the song's start (sample 0 of
`--record`). Two processes append to the file (the dispatcher: notes; the conductor: what
was heard), whole lines with one `write()` on an O_APPEND descriptor, so lines never mix.
Lines are written by a background thread so neither process waits on the disk."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

from performia.events.note import VOICE_AGENT, NoteEvent

log = logging.getLogger(__name__)

BATCH = 256          # lines written at most in one write()


def note_record(event: NoteEvent, start_time: float) -> dict[str, Any]:
    agent = event.agent_name
    if agent == "test":
        agent = VOICE_AGENT.get(event.voice_name, agent)
    return {"t": round(event.time - start_time, 6), "agent": agent, "voice": event.voice_name,
            "midi": event.pitch, "vel": round(event.velocity, 4),
            "dur": round(event.duration, 6)}


class EventLog:
    def __init__(self, path: str | Path, start_time: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.start_time = start_time
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._thread = threading.Thread(target=self._write, name="event-log", daemon=True)
        self._thread.start()

    def add(self, event: NoteEvent) -> None:
        self._queue.put(note_record(event, self.start_time))

    def add_heard(self, record: dict[str, Any]) -> None:
        """Something the listening side heard; its `t` is clock time, made song time here."""
        self._queue.put({**record, "t": round(float(record["t"]) - self.start_time, 6)})

    def _write(self) -> None:
        """Whole lines only, in as few writes as the queue allows (a bar line can bring a
        burst of records: one write for all of them holds the interpreter lock less)."""
        while (record := self._queue.get()) is not None:
            lines = [json.dumps(record)]
            ended = False
            while len(lines) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    ended = True
                    break
                lines.append(json.dumps(more))
            os.write(self._fd, ("\n".join(lines) + "\n").encode())
            if ended:
                return

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5.0)
        os.close(self._fd)
