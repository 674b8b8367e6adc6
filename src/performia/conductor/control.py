"""The conductor's control port: OSC commands that change what the band does, from the
manager (the sustain pedal), a foot controller, a phone, sclang or `performia send`
(docs/OSC_API.md has every command and when it takes effect).

A thread at the lowest real-time priority blocks on the socket (holding no lock while it
waits) and hands each command to its handler, which only checks it and queues it for the
band loop (control/commands.py): this thread never makes the band wait, and never waits
on anything but the socket. Input is bounded like the event port's
(transport/guard.py): a rate limit per sender, at most 64 messages per datagram, refusals
counted per reason and logged at most once per reason per second with the payload cut to
200 characters, the kernel's drops counted; a summary line at close. Optionally only some
addresses may send (`[osc] control_allow`) and senders must give a shared secret first
(`[osc] control_secret`, `/performia/auth`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from performia.processes import set_background_realtime
from performia.server.osc import OscArg, decode, encode_bundle, encode_message
from performia.transport.guard import (
    ANCILLARY_SPACE,
    KERNEL_DROPPED,
    RATE_LIMITED,
    RateLimiter,
    Rejects,
    kernel_drops,
    watch_kernel_drops,
)

log = logging.getLogger(__name__)

MODE_ADDRESS = "/performia/mode"
AUTH_ADDRESS = "/performia/auth"
DONE_ADDRESS = "/performia/done"
FAIL_ADDRESS = "/performia/fail"
MAX_MESSAGES = 64              # per datagram (bundles flattened)
MAX_AUTHORIZED = 64            # senders remembered as authorized (the oldest goes)
DEFAULT_RATE = 2000.0

Address = tuple[str, int]
Command = Callable[[list[Any]], None]


class ControlError(ValueError):
    """A control command with the wrong arguments."""


class UnknownCommandError(ControlError):
    """An address the control port does not know."""


@dataclass(frozen=True)
class Reply:
    """What to send back to the sender of a command."""

    address: str
    args: tuple[OscArg, ...] = ()


Handler = Callable[[str, list[Any], Address], Reply | None]


def command_table(commands: dict[str, Command]) -> Handler:
    """A handler from a table of exact addresses (each command answered /performia/done)."""
    def handle(address: str, args: list[Any], _sender: Address) -> Reply | None:
        command = commands.get(address)
        if command is None:
            raise UnknownCommandError(f"unknown command {address!r} (known: "
                                 f"{', '.join(sorted(commands))})")
        command(args)
        return Reply(DONE_ADDRESS, (address,))
    return handle


class ControlPort:
    """A UDP socket bound to `(host, port)`; `commands` is a table of exact addresses or a
    handler for every address (control/commands.py)."""

    def __init__(self, host: str, port: int, commands: dict[str, Command] | Handler, *,
                 rate_limit: float = DEFAULT_RATE, secret: str = "",
                 allow: Sequence[str] = ()) -> None:
        self.handler = command_table(commands) if isinstance(commands, dict) else commands
        self.accepted = 0
        self.rejects = Rejects("control port", logger=log)
        self.reply_failures = Rejects("control port replies", logger=log)
        self.limiter = RateLimiter(rate_limit)
        self.secret = secret
        self.allow = tuple(ipaddress.ip_network(a, strict=False) for a in allow)
        self._authorized: OrderedDict[Address, None] = OrderedDict()
        self._kernel_dropped = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self._watch_drops = watch_kernel_drops(self.sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="control-port", daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def rejected(self) -> int:
        return self.rejects.total

    def start(self) -> ControlPort:
        self._thread.start()
        return self

    def send(self, datagram: bytes, address: Address) -> None:
        """Send from the control port (replies, notifications); never blocks."""
        self.sock.sendto(datagram, socket.MSG_DONTWAIT, address)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            # wake the blocked receive with an empty datagram (no polling while we wait)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as waker:
                waker.sendto(b"", self.sock.getsockname())
            self._thread.join(timeout=2.0)
        self.sock.close()
        log.info("%s; %d commands accepted", self.rejects.summary(), self.accepted)

    def _receive(self) -> None:
        # commands are not time-critical: the lowest real-time priority, below the band's
        set_background_realtime("control port")
        while True:
            try:
                datagram, ancdata, _flags, sender = self.sock.recvmsg(65536, ANCILLARY_SPACE)
            except OSError:
                return                             # closed
            if self._stop.is_set():
                return
            if self._watch_drops:
                self._count_kernel_drops(ancdata, sender)
            self.handle(datagram, (str(sender[0]), int(sender[1])))

    def _count_kernel_drops(self, ancdata: list[tuple[int, int, bytes]],
                            sender: Address) -> None:
        total = kernel_drops(ancdata)
        if total is not None and total > self._kernel_dropped:
            self.rejects.refuse(KERNEL_DROPPED, f"{sender[0]}:{sender[1]}",
                                "the socket's queue was full",
                                count=total - self._kernel_dropped)
            self._kernel_dropped = total

    def handle(self, datagram: bytes, sender: Address = ("?", 0)) -> None:
        """Run every command in `datagram`; count and log (bounded) the ones refused."""
        who = f"{sender[0]}:{sender[1]}"
        if not self.limiter.allow(sender):
            self.rejects.refuse(RATE_LIMITED, who, f"over {self.limiter.rate:g} datagrams/s")
            return
        if self.allow and not self._allowed(sender[0]):
            self.rejects.refuse("not_allowed", who, "not in [osc] control_allow")
            return
        try:
            messages = decode(datagram)
        except Exception as error:  # not OSC at all (python-osc raises several kinds)
            self.rejects.refuse("not_osc", who, f"not OSC ({error})", payload=datagram)
            return
        if len(messages) > MAX_MESSAGES:
            self.rejects.refuse("too_many_messages", who,
                                f"{len(messages)} messages (at most {MAX_MESSAGES})")
            return
        answered_failure = False
        for address, args in messages:
            failure = self._run(address, args, sender, who)
            if failure is not None and not answered_failure:
                answered_failure = True        # one answer per datagram: no amplification
                self._reply(Reply(FAIL_ADDRESS, (address, failure)), sender)

    def _run(self, address: str, args: list[Any], sender: Address, who: str) -> str | None:
        """Run one command; None, or why it was refused."""
        if address == AUTH_ADDRESS:
            return self._auth(args, sender, who)
        if self.secret and sender not in self._authorized:
            self.rejects.refuse("unauthorized", who, f"{address}: send {AUTH_ADDRESS} first")
            return f"send {AUTH_ADDRESS} with the secret first"
        try:
            reply = self.handler(address, args, sender)
        except UnknownCommandError as error:
            self.rejects.refuse("unknown_address", who, error)
            return str(error)
        except ValueError as error:
            self.rejects.refuse("bad_arguments", who, f"{address}: {error}", payload=args)
            return str(error)
        except Exception as error:
            self.rejects.refuse("failed", who, f"{address} {args!r}: {error!r}")
            log.debug("control: %s failed", address, exc_info=True)
            return f"failed: {error}"
        self.accepted += 1
        if reply is not None:
            self._reply(reply, sender)
        return None

    def _auth(self, args: list[Any], sender: Address, who: str) -> str | None:
        given = args[0] if len(args) == 1 and isinstance(args[0], str) else None
        if self.secret and (given is None or not hmac.compare_digest(
                given.encode("utf-8"), self.secret.encode("utf-8"))):
            self.rejects.refuse("unauthorized", who, f"{AUTH_ADDRESS}: wrong secret")
            return "wrong secret"
        self._authorized[sender] = None
        self._authorized.move_to_end(sender)
        while len(self._authorized) > MAX_AUTHORIZED:
            self._authorized.popitem(last=False)
        self._reply(Reply(DONE_ADDRESS, (AUTH_ADDRESS,)), sender)
        return None

    def _allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    def _reply(self, reply: Reply, sender: Address) -> None:
        try:
            self.send(encode_message(reply.address, reply.args), sender)
        except (OSError, TypeError, ValueError) as error:   # its queue is full, it is gone
            self.reply_failures.refuse("not_sent", f"{sender[0]}:{sender[1]}", error)


def mode_command(set_mode: Callable[[str], None], modes: tuple[str, ...]) -> Command:
    """/performia/mode s → `set_mode(s)`, for one of `modes`."""
    def command(args: list[Any]) -> None:
        if len(args) != 1 or args[0] not in modes:
            raise ControlError(f"{MODE_ADDRESS} takes one of {', '.join(modes)}; got {args!r}")
        set_mode(str(args[0]))
    return command


class ControlSender:
    """Sends control commands to a conductor's control port (used for the pedal). With a
    secret, each command goes in a bundle after `/performia/auth`."""

    def __init__(self, host: str, port: int, secret: str = "") -> None:
        self.target = (host, port)
        self.secret = secret
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, address: str, args: Sequence[OscArg] = ()) -> None:
        if self.secret:
            datagram = encode_bundle(None, [(AUTH_ADDRESS, [self.secret]), (address, args)])
        else:
            datagram = encode_message(address, args)
        self.sock.sendto(datagram, self.target)

    def set_mode(self, mode: str) -> None:
        self.send(MODE_ADDRESS, [mode])

    def close(self) -> None:
        self.sock.close()
