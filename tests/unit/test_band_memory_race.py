"""BandMemory is read by the conductor's state publisher thread while the band loop adds
notes (issue 14: "deque mutated during iteration" in BandMemory.recent)."""

from __future__ import annotations

import sys
import threading
import time

from performia.band.agent import BandMemory
from performia.events.note import NoteEvent


def test_recent_while_another_thread_adds() -> None:
    memory = BandMemory(horizon=256)
    event = NoteEvent.make(0.0, "drums", "kick", 36, 0.9)
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = 0

    def band_loop() -> None:
        try:
            while not stop.is_set():
                for _ in range(1000):
                    memory.add("drums", event)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    def publisher() -> None:
        nonlocal reads
        try:
            while not stop.is_set():
                notes = memory.recent("drums", since=-1.0)
                if not 0 < len(notes) <= 256:
                    raise AssertionError(f"{len(notes)} notes")
                reads += 1
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    memory.add("drums", event)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)      # switch threads as often as the interpreter can
    threads = [threading.Thread(target=band_loop), threading.Thread(target=publisher)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert reads > 100
