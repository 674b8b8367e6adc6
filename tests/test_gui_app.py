"""The GUI app in-process: endpoints, WebSocket rate, and a stalled client hurting nobody."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from performia.events.snapshot import StateReader, StateWriter, empty_state, shm_path
from performia.gui.app import create_app

LOCAL = "http://127.0.0.1:5001"     # the app answers only to its own host names


class Publisher:
    """Publishes a changing state at ~`hz` from a thread, like the audio-control side."""

    def __init__(self, name: str, hz: float = 60.0, padding: int = 0) -> None:
        self.writer = StateWriter(name, 1 << 20)
        self.hz = hz
        self.padding = padding
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def state(self, n: int) -> dict[str, Any]:
        state: dict[str, Any] = empty_state()
        beat = n // 8
        state["transport"].update(bar=1 + beat // 4, beat=1 + beat % 4, playing=True)
        state["harmony"].update(chord="E:min", key="E:min", heard_chord="E:min",
                                heard_key="E:min", progression=["E:min", "C:maj"])
        state["agents"]["bass"]["notes"] = [{"t": time.time(), "midi": 40, "vel": 0.8,
                                             "dur": 0.25, "voice": "bass"}]
        state["heard"] = {"chord": "E:min7", "quality": "min7", "confidence": 0.9,
                          "key": "E:min", "key_confidence": None, "bpm": 96.5,
                          "bpm_confidence": None, "beats": [time.time() - 0.6, time.time()],
                          "downbeats": [], "beat_time": time.time(), "beat_in_bar": None,
                          "beats_per_bar": 4}
        state["form"] = {"bar": 1 + beat // 4, "bars": [
            {"bar": 1, "chords": [{"beat": 1, "chord": "E:min"}]},
            {"bar": 2, "chords": [{"beat": 1, "chord": "C:maj"}, {"beat": 3, "chord": "D:maj"}]}],
            "current": [{"beat": 1, "chord": "E:min"}], "prediction": None,
            "next": {"bar": 2 + beat // 4, "chord": "C:maj",
                     "chords": [{"beat": 1, "chord": "C:maj"}], "confidence": 0.75},
            "length": 2, "strength": 0.5, "sections": None, "position": 1}
        if self.padding:   # random hex: the WebSocket's deflate cannot shrink it much
            state["agents"]["melody"]["state"] = {"padding": os.urandom(self.padding // 2).hex()}
        return state

    def start(self) -> Publisher:
        self.writer.publish(self.state(0))
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(1.0 / self.hz):
            n += 1
            self.writer.publish(self.state(n))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.writer.close()
        self.writer.unlink()


@pytest.fixture
def name() -> Iterator[str]:
    segment = f"performia-test-{uuid.uuid4().hex[:10]}"
    yield segment
    shm_path(segment).unlink(missing_ok=True)


@pytest.fixture
def publisher(name: str) -> Iterator[Publisher]:
    pub = Publisher(name).start()
    yield pub
    pub.stop()


@pytest.fixture
def reader(publisher: Publisher) -> Iterator[StateReader]:
    with StateReader(publisher.writer.name) as state_reader:
        yield state_reader


@pytest.fixture
def client(reader: StateReader) -> Iterator[TestClient]:
    with TestClient(create_app(reader, fps=30), base_url=LOCAL) as test_client:
        yield test_client


def test_state_endpoint(client: TestClient) -> None:
    response = client.get("/api/state")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    state = response.json()
    for key, value in empty_state().items():
        assert key in state
        if isinstance(value, dict):
            assert set(value) <= set(state[key]), key
    assert state["version"] >= 1
    assert state["harmony"]["heard_chord"] == "E:min"
    heard, form = state["heard"], state["form"]     # passed through as published
    assert heard["chord"] == "E:min7" and heard["confidence"] == 0.9 and heard["bpm"] == 96.5
    assert heard["key_confidence"] is None and heard["beat_in_bar"] is None
    assert form["bars"][1]["chords"][1] == {"beat": 3, "chord": "D:maj"}
    assert form["next"]["confidence"] == 0.75 and form["prediction"] is None


def test_health_endpoint(client: TestClient) -> None:
    time.sleep(0.1)
    health = client.get("/api/health").json()
    assert health["ok"] is True
    assert health["version"] >= 1
    assert 0 <= health["age_s"] < 1.0
    assert health["fps"] == 30


def test_page_and_static_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="barbeat"' in page.text and "/static/app.js" in page.text
    for panel in ('id="heard-bpm"', 'id="heard-beats"', 'id="heard-pulse"', 'id="chord-conf"',
                  'id="quality"', 'id="form-bars"', 'id="next-chord"', 'id="next-conf"',
                  'name="viewport"'):
        assert panel in page.text, panel
    for path, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"]


def test_nothing_can_change_the_performance(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        assert methods <= {"GET", "HEAD"}, route
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/", "/api/state", "/api/health", "/static/app.js"):
            assert client.request(method, path).status_code in (404, 405), (method, path)


def test_websocket_pushes_at_least_30_frames_per_second(client: TestClient) -> None:
    with client.websocket_connect(LOCAL.replace("http", "ws") + "/ws") as ws:
        first = json.loads(ws.receive_text())
        start = time.monotonic()
        frames = [first]
        while time.monotonic() - start < 1.0:
            frames.append(json.loads(ws.receive_text()))
        ws.send_text("ignored: clients cannot change anything")
        frames.append(json.loads(ws.receive_text()))
    assert len(frames) >= 31                   # >= 30 in the second after the first
    numbers = [frame["frame"] for frame in frames]
    assert numbers == sorted(numbers)
    versions = [frame["state"]["version"] for frame in frames]
    assert versions == sorted(versions) and versions[-1] > versions[0]
    assert all(frame["age_s"] is not None and frame["age_s"] < 1.0 for frame in frames)


def test_state_before_anything_is_published(name: str) -> None:
    writer = StateWriter(name, 1 << 16)
    try:
        with StateReader(name) as state_reader, \
                TestClient(create_app(state_reader), base_url=LOCAL) as test_client:
            assert test_client.get("/api/state").json() == empty_state()
            health = test_client.get("/api/health").json()
            assert health["version"] == 0 and health["age_s"] is None
    finally:
        writer.close()
        writer.unlink()


# --- a real server: one stalled client must not slow another ---

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerThread:
    def __init__(self, app: FastAPI, port: int) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()


def _small_buffer_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive buffer, so a client that stops reading stalls."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _healthy_and_stalled(port: int, seconds: float) -> list[float]:
    """Arrival times at a reading client while a second client connects and never reads."""
    url = f"ws://127.0.0.1:{port}/ws"
    arrivals: list[float] = []
    async with websockets.connect(url, max_size=None) as healthy:
        stalled = await websockets.connect(url, sock=_small_buffer_socket(port), max_queue=1,
                                           max_size=None)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                await asyncio.wait_for(healthy.recv(), timeout=1.0)
                arrivals.append(time.monotonic())
        finally:
            stalled.transport.abort()
    return arrivals


def test_a_stalled_client_does_not_slow_another(name: str) -> None:
    publisher = Publisher(name, hz=60, padding=200_000).start()   # ~200 kB frames
    try:
        with StateReader(name) as state_reader:
            app = create_app(state_reader, fps=30, stall_s=1.0)
            port = _free_port()
            with ServerThread(app, port):
                arrivals = asyncio.run(_healthy_and_stalled(port, seconds=5.0))
                health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).json()
    finally:
        publisher.stop()
    assert health["dropped_clients"] >= 1     # the stalled client was dropped
    start = arrivals[0]
    # the stalled client would hold every frame back until it is dropped (1 s): the healthy
    # one never waits 0.2 s, and gets most of its 30 frames every second (a few fewer when
    # this VM stalls or the machine is loaded: 23-30 measured under load, 29-30 idle)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert max(gaps) < 0.2, max(gaps)
    for second in range(4):
        window = [t for t in arrivals if start + second <= t < start + second + 1]
        assert len(window) >= 20, (second, len(window))
    assert len([t for t in arrivals if t < start + 4]) >= 100


# --- only our own host names: no DNS rebinding, no other site's page on the WebSocket ---

@pytest.mark.parametrize("host", ["127.0.0.1:5001", "localhost:5001", "LOCALHOST", "[::1]:5001",
                                  "stage.local:5001"])
def test_http_answers_its_own_host_names(reader: StateReader, host: str) -> None:
    app = create_app(reader, hosts=["stage.local"])     # the configured [gui] host
    with TestClient(app, base_url=LOCAL) as test_client:
        assert test_client.get("/api/state", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:5001", "testserver", "127.0.0.1.evil.example",
                                  "", "localhost@evil.example"])
def test_http_refuses_other_host_names(reader: StateReader, host: str) -> None:
    with TestClient(create_app(reader), base_url=LOCAL) as test_client:
        for path in ("/", "/api/state", "/api/health", "/static/index.html"):
            response = test_client.get(path, headers={"Host": host})
            assert response.status_code == 403, (path, host)
            assert "Host" in response.text


def test_websocket_from_our_page_is_accepted(client: TestClient) -> None:
    for origin in ("http://127.0.0.1:5001", "http://localhost:5001"):
        with client.websocket_connect(LOCAL.replace("http", "ws") + "/ws",
                                      headers={"Origin": origin}) as ws:
            assert "frame" in json.loads(ws.receive_text())


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost.evil.example",
                                    "file://"])
def test_websocket_from_another_origin_is_closed_with_1008(client: TestClient,
                                                           origin: str) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect(LOCAL.replace("http", "ws") + "/ws",
                                     headers={"Origin": origin}) as ws:
        ws.receive_text()
    assert closed.value.code == 1008


def test_websocket_with_another_host_is_closed_with_1008(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect("ws://evil.example:5001/ws") as ws:
        ws.receive_text()
    assert closed.value.code == 1008
