"""The node tree: analysis first, the instruments side by side, the master chain last.

    0 root
    └─ 1 performia (group)
       ├─ 100 input    (group, head: guitar analysis, rehearsal take)
       ├─ 2 band       (ParGroup: its instruments run side by side on -T threads)
       │  ├─ 10 drums    (ParGroup: the voices of one instrument run side by side too)
       │  ├─ 11 bass     (ParGroup)
       │  ├─ 12 harmony  (ParGroup)
       │  └─ 13 melody   (ParGroup)
       └─ 200 master   (serial group, tail: mix + ceiling, then the recorder)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from performia.server.osc import OscClient

ROOT = 1
INPUT = 100
BAND = 2
MASTER = 200
MASTER_SYNTH = 201
INSTRUMENT_GROUPS: dict[str, int] = {"drums": 10, "bass": 11, "harmony": 12, "melody": 13}

# Private stereo audio buses, one per instrument (and the guitar), summed by the master.
INSTRUMENT_BUSES: dict[str, int] = {"drums": 16, "bass": 18, "harmony": 20, "melody": 22,
                                    "input": 24, "test": 26}

ADD_TO_HEAD, ADD_TO_TAIL, ADD_BEFORE, ADD_AFTER = 0, 1, 2, 3


@dataclass
class Node:
    node_id: int
    children: list[Node] = field(default_factory=list)
    synthdef: str | None = None   # None for a group

    def find(self, node_id: int) -> Node | None:
        if self.node_id == node_id:
            return self
        for child in self.children:
            found = child.find(node_id)
            if found is not None:
                return found
        return None

    def describe(self, indent: int = 0) -> str:
        kind = self.synthdef or "group"
        lines = [" " * indent + f"{self.node_id} {kind}"]
        lines += [c.describe(indent + 2) for c in self.children]
        return "\n".join(lines)


def build_tree(client: OscClient, timeout: float = 5.0, instruments: bool = True) -> None:
    """Create the groups and the master synth; wait until the server has done it (/sync).
    Without `instruments`, the instruments' groups are left out (`add_instruments` adds
    them later: until then no note can sound, see the manager's server restart)."""
    client.send("/g_new", ROOT, ADD_TO_HEAD, 0)
    client.send("/g_new", INPUT, ADD_TO_HEAD, ROOT)
    client.send("/p_new", BAND, ADD_AFTER, INPUT)
    if instruments:
        for group in INSTRUMENT_GROUPS.values():
            client.send("/p_new", group, ADD_TO_TAIL, BAND)
    client.send("/g_new", MASTER, ADD_TO_TAIL, ROOT)
    master_args: list[str | int] = []
    for name, bus in INSTRUMENT_BUSES.items():
        master_args += [name, bus]
    client.send("/s_new", "master", MASTER_SYNTH, ADD_TO_HEAD, MASTER, *master_args)
    sync(client, timeout)


def add_instruments(client: OscClient, at: float | None) -> None:
    """The instruments' groups, at server time `at` (Unix seconds; None = now): the band's
    notes sound from then on."""
    client.send_bundle(at, [("/p_new", [group, ADD_TO_TAIL, BAND])
                            for group in INSTRUMENT_GROUPS.values()])


def free_tree(client: OscClient, timeout: float = 5.0) -> None:
    client.send("/n_free", ROOT)
    sync(client, timeout)


_sync_ids = iter(range(1000, 2**31))


def sync(client: OscClient, timeout: float = 5.0) -> None:
    """Wait until the server has run every command sent before (/sync → /synced)."""
    sync_id = next(_sync_ids)
    client.request("/sync", sync_id, reply="/synced", match=lambda a: a[:1] == [sync_id],
                   timeout=timeout)


def query_tree(client: OscClient, group: int = 0, timeout: float = 5.0) -> Node:
    """The server's tree under `group` (/g_queryTree without controls)."""
    args = client.request("/g_queryTree", group, 0, reply="/g_queryTree.reply", timeout=timeout)
    node, _ = _parse(args, 1)
    return node


def _parse(args: list[Any], i: int) -> tuple[Node, int]:
    node_id, count = int(args[i]), int(args[i + 1])
    i += 2
    if count == -1:
        return Node(node_id, synthdef=str(args[i])), i + 1
    node = Node(node_id)
    for _ in range(count):
        child, i = _parse(args, i)
        node.children.append(child)
    return node, i


def check_tree(tree: Node) -> list[str]:
    """What is wrong with the tree's shape (empty when right)."""
    problems = []
    root = tree.find(ROOT)
    if root is None:
        return [f"group {ROOT} missing"]
    order = [c.node_id for c in root.children]
    if order != [INPUT, BAND, MASTER]:
        problems.append(f"group {ROOT} children are {order}, expected [{INPUT}, {BAND}, {MASTER}]")
    band = tree.find(BAND)
    if band is not None:
        found = sorted(c.node_id for c in band.children)  # a ParGroup keeps no order
        expected = list(INSTRUMENT_GROUPS.values())
        if found != expected:
            problems.append(f"band group holds {found}, expected {expected}")
    master = tree.find(MASTER)
    if master is None or not master.children or master.children[0].synthdef != "master":
        problems.append("master synth missing at the head of the master group")
    return problems
