"""server/osc.decode on hostile datagrams: refused with OscDecodeError, bounded depth, and
never a log line (python-osc's bundle parser logs one unbounded line per unknown element)."""

from __future__ import annotations

import logging
import struct

import pytest

from performia.server.osc import (
    MAX_BUNDLE_DEPTH,
    OscDecodeError,
    decode,
    encode_bundle,
    encode_message,
)


def _nest(inner: bytes, depth: int) -> bytes:
    for _ in range(depth):
        inner = b"#bundle\0" + struct.pack(">II", 0, 1) + struct.pack(">i", len(inner)) + inner
    return inner


def test_messages_and_bundles_decode() -> None:
    message = encode_message("/performia/mode", ["play"])
    assert decode(message) == [("/performia/mode", ["play"])]
    bundle = encode_bundle(None, [("/a", [1]), ("/b", [2.5, "x"])])
    assert decode(bundle) == [("/a", [1]), ("/b", [2.5, "x"])]
    assert decode(_nest(message, MAX_BUNDLE_DEPTH)) == [("/performia/mode", ["play"])]


@pytest.mark.parametrize("datagram", [
    b"", b"x" * 4000, b"#bundle\0", b"#bundle\0" + b"\0" * 8 + b"\0\0\0\x08" + b"\0" * 8,
    b"#bundle\0" + b"\0" * 8 + b"\0\0\0\x40" + b"/abc", b"#bundle\0" + b"\0" * 8 + b"\0\0",
    b"#bundle\0" + b"\0" * 8 + b"\xff\xff\xff\xff",
])
def test_garbage_is_refused_without_a_log_line(datagram: bytes,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError):
        decode(datagram)
    assert caplog.records == []


def test_deep_nesting_is_refused_without_recursing() -> None:
    message = encode_message("/performia/mode", ["play"])
    with pytest.raises(OscDecodeError, match="nested deeper"):
        decode(_nest(message, MAX_BUNDLE_DEPTH + 1))
    with pytest.raises(OscDecodeError):
        decode(_nest(message, 3000))


def test_a_message_cut_short_is_refused_whatever_python_osc_pads() -> None:
    """python-osc pads a float cut off at the end with zeros (for Reaktor): a tempo of 150
    cut after its first byte would read 128 and be obeyed."""
    whole = encode_message("/performia/tempo", [150.0])
    assert decode(whole) == [("/performia/tempo", [150.0])]
    for end in range(len(whole) - 4, len(whole)):
        with pytest.raises((OscDecodeError, ValueError)):
            decode(whole[:end])
    with pytest.raises(OscDecodeError, match="cut short"):
        decode(whole[:-3])
    with pytest.raises(OscDecodeError, match="cut short"):
        decode(encode_bundle(None, [("/performia/tempo", [150.0])])[:-3].replace(
            struct.pack(">i", len(whole)), struct.pack(">i", len(whole) - 3)))
