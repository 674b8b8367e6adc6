"""JACK's registry of servers (server/jack_registry.py): the slots of dead servers are
freed, a live jackd's never; a file that is not a registry is left alone."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

from performia.server.jack_registry import (
    HEADER,
    MAGIC,
    MAX_SERVERS,
    mapped_here,
    reclaim_dead_servers,
)

SLOT = 264


def registry(path: Path, servers: list[tuple[int, str]]) -> Path:
    """A registry laid out as jack2 1.9 writes it, with `servers` in its first slots."""
    hdr_len = HEADER.size + MAX_SERVERS * SLOT
    data = bytearray(hdr_len + 4096)
    HEADER.pack_into(data, 0, MAGIC, 0, 0, 1, len(data), hdr_len, 268)
    for index, (pid, name) in enumerate(servers):
        struct.pack_into("<i", data, HEADER.size + index * SLOT, pid)
        encoded = name.encode()
        data[HEADER.size + index * SLOT + 4:HEADER.size + index * SLOT + 4 + len(encoded)] = \
            encoded
    path.write_bytes(bytes(data))
    return path


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_dead_servers_slots_are_freed_and_a_live_jackd_keeps_its_own(tmp_path: Path) -> None:
    fake_jackd = tmp_path / "jackd"                  # a live process whose name is jackd
    shutil.copy("/bin/sleep", fake_jackd)
    live = subprocess.Popen([str(fake_jackd), "30"])
    try:
        path = registry(tmp_path / "jack-shm-registry",
                        [(live.pid, "jack-0:alive:"), (dead_pid(), "jack-0:killed:"),
                         (os.getpid(), "jack-0:pid-reused:")])
        before = path.read_bytes()
        assert reclaim_dead_servers(path) == ["jack-0:killed:", "jack-0:pid-reused:"]
        after = path.read_bytes()
        assert after[:HEADER.size + SLOT] == before[:HEADER.size + SLOT]   # the live one
        assert after[HEADER.size + SLOT:HEADER.size + 3 * SLOT] == bytes(2 * SLOT)
        assert after[HEADER.size + 3 * SLOT:] == before[HEADER.size + 3 * SLOT:]
        assert reclaim_dead_servers(path) == []                          # nothing more
    finally:
        live.kill()
        live.wait()


def test_a_file_that_is_not_a_registry_is_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_bytes(b"not a registry" * 100)
    assert reclaim_dead_servers(other) == [] and other.read_bytes() == b"not a registry" * 100
    assert reclaim_dead_servers(tmp_path / "missing") == []
    short = tmp_path / "short"
    short.write_bytes(b"JACK")
    assert reclaim_dead_servers(short) == []


def test_a_registry_this_process_maps_is_known_to_be_in_use(tmp_path: Path) -> None:
    """libjack maps the registry when a JACK client opens and keeps it: a file mapped here
    (as libjack maps it) is in use, one only written is not; unreadable maps count as in
    use, so nobody removes a registry they cannot vouch for."""
    import mmap

    used = registry(tmp_path / "jack-shm-registry", [])
    other = registry(tmp_path / "jack-shm-registry-2", [])
    with open(used, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as mapped:
        assert mapped[:4] == struct.pack("<I", MAGIC)
        assert mapped_here(used)
        assert not mapped_here(other)
    assert not mapped_here(used)
    assert mapped_here(used, maps=tmp_path / "no-such-maps")
