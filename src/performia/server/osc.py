"""OSC over UDP to the server: messages, timetagged bundles, and replies waited for by address."""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pythonosc.osc_message import OscMessage

log = logging.getLogger(__name__)

OscArg = int | float | str | bytes
Message = tuple[str, Sequence[OscArg]]
Handler = Callable[[str, list[Any]], None]
# A SendReply frame read in one step: (node, reply ID, the values as float32, big-endian)
FrameHandler = Callable[[int, int, "npt.NDArray[np.float32]"], None]

NTP_EPOCH_OFFSET = 2208988800   # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_INT = struct.Struct(">i")
_FLOAT = struct.Struct(">f")
_TIMETAG = struct.Struct(">II")


class OscTimeoutError(TimeoutError):
    """The server did not answer in time."""


LOOPBACK = "127.0.0.1"


def local_socket(target_host: str, bind: str | None = None) -> socket.socket:
    """A UDP socket to send to `target_host`, bound to `bind`; by default to the loopback
    address when the target is on this machine (so nothing off the machine can reach it),
    else to every address (the kernel picks the route)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if bind is None:
        bind = LOOPBACK if target_host in (LOOPBACK, "localhost") or \
            target_host.startswith("127.") else "0.0.0.0"
    try:
        sock.bind((bind, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def _osc_string(text: str) -> bytes:
    return _pad(text.encode("utf-8"))


def encode_message(address: str, args: Iterable[OscArg] = ()) -> bytes:
    """One OSC message (int32 'i', float32 'f', string 's', blob 'b')."""
    tags = [","]
    payload = []
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, int | float | str | bytes):
            raise TypeError(f"OSC argument {arg!r} for {address} must be int, float, str or "
                            "bytes")
        if isinstance(arg, int):
            tags.append("i")
            payload.append(_INT.pack(arg))
        elif isinstance(arg, float):
            tags.append("f")
            payload.append(_FLOAT.pack(arg))
        elif isinstance(arg, str):
            tags.append("s")
            payload.append(_osc_string(arg))
        else:
            tags.append("b")
            payload.append(_INT.pack(len(arg)) + arg + b"\0" * (-len(arg) % 4))
    return _osc_string(address) + _osc_string("".join(tags)) + b"".join(payload)


def timetag(time: float | None) -> bytes:
    """NTP timetag for Unix seconds `time`; None means 'immediately' (1)."""
    if time is None:
        return _TIMETAG.pack(0, 1)
    seconds = int(time)
    fraction = int((time - seconds) * 4294967296.0)
    return _TIMETAG.pack(seconds + NTP_EPOCH_OFFSET, min(fraction, 0xFFFFFFFF))


def encode_bundle(time: float | None, messages: Iterable[Message]) -> bytes:
    """A bundle timetagged at `time` (Unix seconds), or immediately when `time` is None."""
    parts = [b"#bundle\0", timetag(time)]
    for address, args in messages:
        element = encode_message(address, args)
        parts.append(_INT.pack(len(element)))
        parts.append(element)
    return b"".join(parts)


MAX_BUNDLE_DEPTH = 8     # decode: bundles nested deeper are refused (no deep recursion)
_BUNDLE_HEAD = b"#bundle\0"


class OscDecodeError(ValueError):
    """A datagram that is not OSC: a bundle cut off or too deep, or no message."""


_FIXED_SIZES = {"i": 4, "f": 4, "c": 4, "r": 4, "m": 4, "d": 8, "h": 8, "t": 8}


def _padded(size: int) -> int:
    return (size + 4) & ~3          # a string's bytes, its NUL, zeros to a multiple of 4


def _type_tags(raw: bytes, address: str) -> str:
    """The type tag string of a message that parsed (",ssiff" for a note)."""
    at = _padded(len(address.encode()))
    end = raw.find(b"\0", at)
    return raw[at:end if end >= 0 else len(raw)].decode(errors="replace")


def _message_size(address: str, tags: str, args: list[Any]) -> int:
    """The bytes a complete message with these arguments takes: python-osc pads a float cut
    off at the end of a datagram with zeros, so a note cut short would parse."""
    size = _padded(len(address.encode())) + _padded(len(tags.encode()))
    values = iter(args)
    for tag in tags[1:]:
        if tag in _FIXED_SIZES:
            size += _FIXED_SIZES[tag]
            next(values, None)
        elif tag == "s":
            size += _padded(len(str(next(values, "")).encode()))
        elif tag == "b":
            size += 4 + ((len(bytes(next(values, b""))) + 3) & ~3)
    return size


def decode_message(datagram: bytes) -> tuple[str, list[Any]]:
    """One OSC message: (address, arguments). Raises python-osc's errors for a broken one,
    and OscDecodeError for one cut short (fewer bytes than its type tags promise)."""
    message = OscMessage(datagram)
    args = list(message.params)
    if len(datagram) < _message_size(message.address, _type_tags(datagram, message.address),
                                     args):
        raise OscDecodeError(f"{message.address}: cut short: its type tags promise more "
                             f"arguments than its {len(datagram)} bytes hold")
    return message.address, args


def decode(datagram: bytes, _depth: int = 0) -> list[tuple[str, list[Any]]]:
    """All messages in a datagram (bundles flattened, at most MAX_BUNDLE_DEPTH deep).
    Raises OscDecodeError (or python-osc's ParseError for a broken message) for anything
    that is not OSC; never logs (python-osc's bundle parser warns through the root logger
    for every element it does not know, one unbounded line each)."""
    if not datagram.startswith(_BUNDLE_HEAD):
        if not datagram.startswith(b"/"):
            raise OscDecodeError(f"neither an OSC message nor a bundle ({len(datagram)} bytes)")
        return [decode_message(datagram)]
    if _depth >= MAX_BUNDLE_DEPTH:
        raise OscDecodeError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if len(datagram) < 16:
        raise OscDecodeError("a bundle without its timetag")
    out: list[tuple[str, list[Any]]] = []
    at = 16
    while at < len(datagram):
        if at + 4 > len(datagram):
            raise OscDecodeError(f"a bundle element's size cut off at byte {at}")
        (size,) = _INT.unpack_from(datagram, at)
        at += 4
        if size < 0 or at + size > len(datagram):
            raise OscDecodeError(f"a bundle element of {size} bytes at byte {at} does not fit")
        out += decode(datagram[at:at + size], _depth + 1)
        at += size
    return out


class OscClient:
    """A UDP socket talking to one server; a thread receives replies and dispatches them."""

    def __init__(self, host: str, port: int, name: str = "osc") -> None:
        self.target = (host, port)
        self.sock = local_socket(host)
        self.sock.settimeout(0.2)
        self._handlers: dict[str, list[Handler]] = {}
        self._frames: dict[bytes, tuple[int, int, FrameHandler]] = {}
        self._waiters: list[tuple[str, Callable[[list[Any]], bool], queue.Queue[list[Any]]]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._receive_cpu = 0.0       # the receive thread's CPU time when it ended
        self._thread = threading.Thread(target=self._receive, name=f"{name}-receive", daemon=True)
        self._thread.start()

    # -- sending ------------------------------------------------------------
    def send(self, address: str, *args: OscArg) -> None:
        self.sock.sendto(encode_message(address, args), self.target)

    def send_raw(self, datagram: bytes) -> None:
        self.sock.sendto(datagram, self.target)

    def send_bundle(self, time: float | None, messages: Iterable[Message]) -> None:
        self.sock.sendto(encode_bundle(time, messages), self.target)

    def request(self, address: str, *args: OscArg, reply: str = "/done",
                match: Callable[[list[Any]], bool] | None = None,
                timeout: float = 5.0) -> list[Any]:
        """Send a message and wait for the reply with address `reply` (and `match(args)`)."""
        inbox: queue.Queue[list[Any]] = queue.Queue()
        waiter = (reply, match or (lambda _args: True), inbox)
        with self._lock:
            self._waiters.append(waiter)
        try:
            self.send(address, *args)
            return inbox.get(timeout=timeout)
        except queue.Empty:
            host, port = self.target
            raise OscTimeoutError(f"no {reply} from {host}:{port} for {address} within "
                                  f"{timeout:.1f} s") from None
        finally:
            with self._lock:
                self._waiters.remove(waiter)

    # -- receiving ----------------------------------------------------------
    def on(self, address: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault(address, []).append(handler)

    def off(self, address: str, handler: Handler) -> None:
        with self._lock:
            handlers = self._handlers.get(address, [])
            if handler in handlers:
                handlers.remove(handler)

    def on_frame(self, address: str, values: int, handler: FrameHandler) -> None:
        """A fast path for SendReply frames of `values` floats at `address` (the analysis
        spectra: python-osc takes 1.1 ms to decode 800 floats, numpy 5 µs). A datagram that
        is not exactly such a frame goes the normal way."""
        prefix = _osc_string(address) + _osc_string(",ii" + "f" * values)
        with self._lock:
            self._frames[prefix] = (len(prefix) + 8 + 4 * values, values, handler)

    def _frame(self, datagram: bytes) -> bool:
        for prefix, (size, values, handler) in self._frames.items():
            if len(datagram) == size and datagram.startswith(prefix):
                node, reply_id = struct.unpack_from(">ii", datagram, len(prefix))
                frame = np.frombuffer(datagram, ">f4", values, len(prefix) + 8)
                try:
                    handler(node, reply_id, frame)
                except Exception:
                    log.exception("OSC frame handler failed")
                return True
        return False

    def _receive(self) -> None:
        try:
            self._receive_datagrams()
        finally:
            self._receive_cpu = time.thread_time()

    def _receive_datagrams(self) -> None:
        while not self._closed.is_set():
            try:
                datagram = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if self._frames and self._frame(datagram):
                continue
            try:
                messages = decode(datagram)
            except Exception:
                log.warning("malformed OSC from the server ignored (%d bytes)", len(datagram))
                continue
            for address, args in messages:
                self._dispatch(address, args)

    def _dispatch(self, address: str, args: list[Any]) -> None:
        with self._lock:
            handlers = list(self._handlers.get(address, ()))
            waiters = [w for w in self._waiters if w[0] == address]
        for _reply, match, inbox in waiters:
            if match(args):
                inbox.put(args)
        for handler in handlers:
            try:
                handler(address, args)
            except Exception:
                log.exception("OSC handler for %s failed", address)

    def receive_cpu_seconds(self) -> float:
        """CPU time the receive thread has used (so far, or in all once it has ended)."""
        ident = self._thread.ident
        if ident is None or not self._thread.is_alive():
            return self._receive_cpu
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(ident))
        except OSError:                  # it ended in between
            return self._receive_cpu

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=1.0)
        self.sock.close()
