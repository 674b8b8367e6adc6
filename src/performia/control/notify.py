"""Subscribers to the band's changes (`/performia/notify 1`, like scsynth's `/notify`), and
the thread that tells them.

Anything (the band loop at a bar line, the control port, the live agents' host, the ears)
calls `notify(address, args)`: one put on a queue, never a wait. The notifier's thread
encodes the message and sends it from the control port's socket to every subscriber, so
a subscriber hears it from the address it sent `/performia/notify` to.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from performia.processes import set_background_realtime
from performia.server.osc import OscArg, encode_message
from performia.transport.guard import Rejects

log = logging.getLogger(__name__)

MAX_SUBSCRIBERS = 32
Address = tuple[str, int]
Send = Callable[[bytes, Address], None]


class Notifier:
    def __init__(self, send: Send, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._send = send
        self.max_subscribers = max_subscribers
        self._subscribers: tuple[Address, ...] = ()      # replaced whole, never mutated
        self._queue: queue.SimpleQueue[tuple[str, tuple[OscArg, ...]] | None] = \
            queue.SimpleQueue()
        self.sent = 0
        self.failures = Rejects("notifications", logger=log)
        self._thread = threading.Thread(target=self._run, name="control-notify", daemon=True)

    def start(self) -> Notifier:
        self._thread.start()
        return self

    @property
    def subscribers(self) -> tuple[Address, ...]:
        return self._subscribers

    def subscribe(self, address: Address) -> None:
        """Add `address` (the oldest subscriber goes when there are too many)."""
        kept = tuple(a for a in self._subscribers if a != address)
        self._subscribers = (kept + (address,))[-self.max_subscribers:]

    def unsubscribe(self, address: Address) -> None:
        self._subscribers = tuple(a for a in self._subscribers if a != address)

    def notify(self, address: str, args: Sequence[OscArg] = ()) -> None:
        """Tell every subscriber (from any thread; never blocks)."""
        if self._subscribers:
            self._queue.put((address, tuple(args)))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        set_background_realtime("control notifications")
        while (item := self._queue.get()) is not None:
            address, args = item
            try:
                datagram = encode_message(address, args)
            except (TypeError, ValueError) as error:
                self.failures.refuse("not_encodable", "us", error, payload=args)
                continue
            for subscriber in self._subscribers:
                try:
                    self._send(datagram, subscriber)
                    self.sent += 1
                except OSError as error:
                    self.failures.refuse("send_failed", f"{subscriber[0]}:{subscriber[1]}",
                                         error)
