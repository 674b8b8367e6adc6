"""The socket's fast path for the analysis frames: a SendReply of N floats read with numpy,
equal to what python-osc decodes; anything else goes the normal way."""

from __future__ import annotations

import queue
import socket
from typing import Any

import numpy as np

from performia.server.osc import OscClient, encode_message


def _pair() -> tuple[socket.socket, OscClient]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    client = OscClient("127.0.0.1", server.getsockname()[1], name="test")
    return server, client


def test_a_frame_is_read_with_numpy_and_equals_the_message() -> None:
    server, client = _pair()
    frames: queue.Queue[tuple[int, int, Any]] = queue.Queue()
    normal: queue.Queue[list[Any]] = queue.Queue()
    client.on_frame("/spectrum", 800, lambda node, rid, values: frames.put((node, rid, values)))
    client.on("/spectrum", lambda _a, args: normal.put(args))
    try:
        values = np.random.default_rng(1).random(800).astype(np.float32)
        target = client.sock.getsockname()
        server.sendto(encode_message("/spectrum", [1000, 3, *map(float, values)]), target)
        node, reply_id, got = frames.get(timeout=2)
        assert (node, reply_id) == (1000, 3)
        np.testing.assert_array_equal(got, values)
        # a frame of another size is not the fast path's: python-osc decodes it
        server.sendto(encode_message("/spectrum", [1000, 3, 0.5, 0.25]), target)
        assert normal.get(timeout=2) == [1000, 3, 0.5, 0.25]
        assert frames.empty()
    finally:
        client.close()
        server.close()


def test_the_receive_threads_cpu_is_counted_while_it_runs_and_kept_when_it_ends() -> None:
    server, client = _pair()
    received: queue.Queue[list[Any]] = queue.Queue()
    client.on("/pitch", lambda _a, args: received.put(args))
    try:
        target = client.sock.getsockname()
        before = client.receive_cpu_seconds()
        for _ in range(20):          # python-osc decodes each: CPU on the receive thread
            for i in range(100):     # (a hundred at a time: UDP drops what overflows)
                server.sendto(encode_message("/pitch", [1000, 0, 440.0, 1.0, float(i)]), target)
            for _ in range(100):
                received.get(timeout=5)
        running = client.receive_cpu_seconds()
        assert running > before
    finally:
        client.close()
        server.close()
    assert client.receive_cpu_seconds() >= running      # its total, read as it ended
