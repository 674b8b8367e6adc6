"""Bounded input for the UDP ports anyone on the machine can write to (the event port and
the control port): a per-sender rate limit, and refusals counted per reason and logged at
most once per reason per second with their payload truncated. See docs/OSC_API.md.

Nothing here sleeps or blocks: `RateLimiter.allow` and `Rejects.refuse` are a few dict
operations, safe to call for every datagram on a receive path.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_LOGGED_CHARS = 200        # a payload or an error text is cut to this in a log line
LOG_INTERVAL_S = 1.0          # at most one line per reason per interval
MAX_SENDERS = 1024            # senders tracked by the rate limiter (the oldest idle goes)

# Linux: recvmsg reports the socket's count of datagrams dropped by the kernel (queue full)
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
KERNEL_DROPPED = "kernel_dropped"
RATE_LIMITED = "rate_limited"
TOO_LATE = "too_late"         # a note past its time: stale (OSC input) or held up (the rings)

Clock = Callable[[], float]


def truncated(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """`value` as text (bytes as their repr), at most `limit` characters."""
    text = repr(value) if isinstance(value, bytes | bytearray) else str(value)
    if len(text) <= limit:
        return text
    cut = f"... ({len(text)} chars)"
    return text[:limit - len(cut)] + cut


class RateLimiter:
    """A token bucket per sender: `rate` datagrams per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None, max_senders: int = MAX_SENDERS,
                 clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate {rate}: must be > 0 datagrams per second")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self.max_senders = max_senders
        self.clock = clock
        self._buckets: dict[object, list[float]] = {}    # sender → [tokens, last time]

    def allow(self, sender: object) -> bool:
        """Whether one more datagram from `sender` is within its rate now."""
        now = self.clock()
        bucket = self._buckets.get(sender)
        if bucket is None:
            if len(self._buckets) >= self.max_senders:
                self._forget(now)
            bucket = self._buckets[sender] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _forget(self, now: float) -> None:
        """Make room: drop the senders whose bucket has refilled (idle), else the oldest."""
        refill = self.burst / self.rate
        idle = [s for s, (_tokens, last) in self._buckets.items() if now - last >= refill]
        for sender in idle:
            del self._buckets[sender]
        if len(self._buckets) >= self.max_senders:
            del self._buckets[next(iter(self._buckets))]

    @property
    def senders(self) -> int:
        return len(self._buckets)


class Rejects:
    """What one port refused, counted per reason; one log line per reason per interval."""

    def __init__(self, port_name: str, interval: float = LOG_INTERVAL_S,
                 clock: Clock = time.monotonic, logger: logging.Logger = log) -> None:
        self.port_name = port_name
        self.interval = interval
        self.clock = clock
        self.logger = logger
        self.counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def refuse(self, reason: str, sender: str, detail: object, payload: object = None,
               count: int = 1) -> None:
        """Count `count` refusals for `reason`; log one line unless one was logged for this
        reason less than `interval` ago (those are counted and mentioned in the next line)."""
        self.counts[reason] = self.counts.get(reason, 0) + count
        now = self.clock()
        last = self._last_logged.get(reason)
        if last is not None and now - last < self.interval:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + count
            return
        self._last_logged[reason] = now
        unlogged = self._unlogged.pop(reason, 0)
        more = f" (+{unlogged} more since the last line)" if unlogged else ""
        shown = f"; payload {truncated(payload)}" if payload is not None else ""
        self.logger.warning("%s: refused from %s (%s): %s%s%s", self.port_name, sender, reason,
                            truncated(detail), shown, more)

    def summary(self) -> str:
        """One line: the refusals per reason (for the log at exit)."""
        if not self.counts:
            return f"{self.port_name}: nothing refused"
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.counts.items()))
        return f"{self.port_name}: refused {self.total} ({reasons})"


def watch_kernel_drops(sock: socket.socket) -> bool:
    """Ask the kernel to report the socket's dropped-datagram count with each recvmsg
    (Linux SO_RXQ_OVFL). False where it is not supported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    except OSError as error:
        log.info("kernel drop counts unavailable: %s", error)
        return False
    return True


ANCILLARY_SPACE = socket.CMSG_SPACE(4)


def kernel_drops(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The socket's cumulative count of datagrams dropped by the kernel, from recvmsg's
    ancillary data; None when it is not there."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder)
    return None
