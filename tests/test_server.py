"""The foundation against a real supernova on a real (dummy-driver) JACK server."""

from __future__ import annotations

import time

from performia.server.session import ServerSession
from performia.server.tree import (
    BAND,
    INPUT,
    INSTRUMENT_GROUPS,
    MASTER,
    ROOT,
    check_tree,
    query_tree,
    sync,
)
from tests.conftest import RUN_ID, make_config, our_leftovers, our_segments


def test_node_tree_has_input_band_pargroups_and_master(server: ServerSession) -> None:
    assert server.client is not None
    tree = query_tree(server.client)
    assert check_tree(tree) == []
    root = tree.find(ROOT)
    assert root is not None
    assert [c.node_id for c in root.children] == [INPUT, BAND, MASTER]
    band = tree.find(BAND)
    assert band is not None
    assert sorted(c.node_id for c in band.children) == sorted(INSTRUMENT_GROUPS.values())


def test_synthdefs_are_loaded_and_play(server: ServerSession) -> None:
    assert server.client is not None
    status = server.status()
    assert status.synthdefs >= 13
    baseline = status.synths
    server.client.send("/s_new", "kick", -1, 0, INSTRUMENT_GROUPS["drums"], "out", 16)
    sync(server.client)
    assert server.status().synths == baseline + 1    # the kick sounds ...
    time.sleep(0.6)
    assert server.status().synths == baseline        # ... and frees itself


def test_boot_and_clean_stop_leave_nothing_behind() -> None:
    jack_name = RUN_ID + "clean"
    config = make_config(jack_name)
    session = ServerSession(config)
    session.start()
    assert session.supernova is not None and session.supernova.pid is not None
    pids = [session.supernova.pid] + ([session.jack.pid] if session.jack else [])
    session.stop()
    assert our_segments(config.server.port, jack_name=jack_name) == []
    assert not any(str(pid) in line for pid in pids for line in our_leftovers())


def test_stale_server_segment_from_a_crash_is_removed(tmp_path: object) -> None:
    config = make_config()
    stale = f"/dev/shm/SuperColliderServer_{config.server.port}"
    with open(stale, "wb") as f:
        f.write(b"\0" * 4096)
    session = ServerSession(config)
    try:
        session.start()
        assert session.status().synthdefs >= 13
    finally:
        session.stop()
    assert our_segments(config.server.port, jack_name="(not this one)") == []
