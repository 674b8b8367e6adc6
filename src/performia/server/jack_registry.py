"""JACK's shared-memory registry (`/dev/shm/jack-shm-registry`) keeps one slot per running
server, eight in all (jack2's MAX_SERVERS). A jackd that is killed (SIGKILL, a power cut, a
parent-death signal) leaves its slot behind, and jackd reclaims a dead server's slot only
when a new server has the *same* name: after eight dead servers of other names every new
jackd exits at start with nothing but its banner (ENOSPC inside). A musician whose JACK
crashed a few times would find it will not start any more.

`reclaim_dead_servers` empties the slots whose process is gone (or is not a jackd any
more: a reused PID) before we start jackd. It never touches a live server's slot, and it
writes only slots whose owner is dead, so it cannot disturb a server registering now.

`mapped_here` says whether this process has the registry mapped: libjack maps it when the
process opens its first JACK client (the pedal's MIDI client) and never lets it go. If the
file were removed and a later jackd made a new one, this process would go on reading the
old one, and every JACK client it opens after that fails ("Cannot open shm segment",
"JACK server not running?"): a process that runs the band again (a test, a benchmark)
would lose its pedal.

Layout (jack2 1.9, `shm.h`): a 24-byte header (magic "JACK" little-endian, protocol,
type, size, hdr_len, entry_len), then MAX_SERVERS slots of {int32 pid; char name[257]}
padded to 264 bytes; `hdr_len` = 24 + 8 × 264.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

from performia.processes import pid_alive

log = logging.getLogger(__name__)

REGISTRY = Path("/dev/shm/jack-shm-registry")
MAGIC = 0x4A41434B               # "JACK"
HEADER = struct.Struct("<IHHiiii")
MAX_SERVERS = 8


def reclaim_dead_servers(path: Path = REGISTRY) -> list[str]:
    """Empty the registry slots of servers whose process is gone; their names. Nothing
    happens (and [] is returned) when the file is missing, unreadable or not a registry
    this code knows."""
    try:
        with open(path, "r+b") as registry:
            header = registry.read(HEADER.size)
            if len(header) < HEADER.size:
                return []
            magic, _, _, _, _, hdr_len, _ = HEADER.unpack(header)
            slot = (hdr_len - HEADER.size) // MAX_SERVERS
            if magic != MAGIC or slot < 8 or HEADER.size + slot * MAX_SERVERS != hdr_len:
                return []
            reclaimed = []
            for index in range(MAX_SERVERS):
                offset = HEADER.size + index * slot
                registry.seek(offset)
                entry = registry.read(slot)
                pid = struct.unpack_from("<i", entry)[0]
                if pid <= 0 or _is_jackd(pid):
                    continue
                name = entry[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
                registry.seek(offset)
                registry.write(bytes(slot))
                reclaimed.append(name)
    except OSError as error:
        log.debug("JACK registry %s not checked: %s", path, error)
        return []
    if reclaimed:
        log.info("JACK registry: %d slot(s) of servers that died without leaving freed: %s",
                 len(reclaimed), ", ".join(reclaimed))
    return reclaimed


def mapped_here(path: Path = REGISTRY, maps: Path = Path("/proc/self/maps")) -> bool:
    """Does this process map `path` (libjack's registry, once a JACK client was opened)?
    True when the maps cannot be read: then nobody may remove it."""
    try:
        text = maps.read_text()
    except OSError:
        return True
    return any(line.endswith(" " + str(path)) or line.endswith(f" {path} (deleted)")
               for line in text.splitlines())


def _is_jackd(pid: int) -> bool:
    """Is `pid` a live jackd (a process we cannot see counts as one: never freed)?"""
    if not pid_alive(pid):
        return False
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return True
    return comm.startswith("jackd")
