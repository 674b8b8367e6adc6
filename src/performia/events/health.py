"""Server health counters the manager reads off supernova's stdout (xruns, late bundles,
errors), shared with the conductor through a tiny segment, any number of readers. Each
counter is one aligned 64-bit word (x86 total store order) with one writer: the manager
writes the server's three; the transport writes `osc_refused` (everything the event port
and the dispatcher refused: bad notes, rate limit, horizon; docs/OSC_API.md) through a
`HealthCounter`."""

from __future__ import annotations

from multiprocessing import shared_memory

from performia.events.ring import attach

FIELDS = ("xruns", "late", "errors", "osc_refused")
SIZE = 8 * len(FIELDS)


class HealthWriter:
    def __init__(self, name: str) -> None:
        self.shm = shared_memory.SharedMemory(name=name, create=True, size=SIZE)
        buf = self.shm.buf
        if buf is None:
            raise RuntimeError(f"shared memory {name} is not mapped")
        self._words = buf.cast("Q")
        for i in range(len(FIELDS)):
            self._words[i] = 0

    @property
    def name(self) -> str:
        return self.shm.name

    def update(self, xruns: int, late: int, errors: int) -> None:
        self._words[0], self._words[1], self._words[2] = xruns, late, errors

    def close(self) -> None:
        self._words.release()
        self.shm.close()
        self.shm.unlink()


class HealthCounter:
    """One counter of the segment, written by the one process that owns it (not the
    manager): e.g. the transport's `osc_refused`."""

    def __init__(self, name: str, field: str) -> None:
        if field not in FIELDS:
            raise ValueError(f"unknown health counter {field!r}: known are {', '.join(FIELDS)}")
        self.shm = attach(name)
        buf = self.shm.buf
        if buf is None:
            raise RuntimeError(f"shared memory {name} is not mapped")
        self._words = buf.cast("Q")
        self._index = FIELDS.index(field)

    def set(self, value: int) -> None:
        self._words[self._index] = value

    def close(self) -> None:
        self._words.release()
        self.shm.close()


class HealthReader:
    def __init__(self, name: str) -> None:
        self.shm = attach(name)
        buf = self.shm.buf
        if buf is None:
            raise RuntimeError(f"shared memory {name} is not mapped")
        self._words = buf.cast("Q")

    def read(self) -> dict[str, int]:
        return {field: int(self._words[i]) for i, field in enumerate(FIELDS)}

    def close(self) -> None:
        self._words.release()
        self.shm.close()
