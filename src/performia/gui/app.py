"""The read-only GUI web app: the page, the snapshot as JSON, and a WebSocket at `fps`.

One broadcaster task reads the snapshot once per frame and offers the same message to
every client through the client's own bounded queue (drop oldest). Each client has its own
sender task, so a slow or stalled client only misses frames; one that makes no progress
for `stall_s` seconds is dropped. Nothing here can change the performance: the app has
only GET and WebSocket endpoints, ignores whatever a client sends, and its reader maps the
snapshot read-only. Nothing can be read from another site either (DNS rebinding): every
request must name one of the allowed hosts in `Host` (403 otherwise), and a WebSocket opened
by a page must come from one of them (`Origin`; closed with 1008 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from performia.config import PROJECT_ROOT
from performia.events.snapshot import StateReader, empty_state

log = logging.getLogger(__name__)

DEFAULT_STATIC_DIR = PROJECT_ROOT / "gui"
QUEUE_SIZE = 2          # frames a client may fall behind before the oldest is dropped
CLOSE_TIMEOUT_S = 0.5   # how long a dropped client's close frame may take
_EMPTY_JSON = json.dumps(empty_state(), separators=(",", ":"))
_NO_STORE = {"Cache-Control": "no-store"}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")   # always allowed, with the configured host
POLICY_VIOLATION = 1008                            # WebSocket close code for a refused Origin


def host_name(value: str) -> str | None:
    """The host name of a `Host` header ('localhost:5001' → 'localhost', '[::1]:5001' →
    '::1'), lowercased; None when it has none."""
    try:
        name = urlsplit(f"//{value.strip()}").hostname
    except ValueError:
        return None
    return name or None


def origin_host(value: str) -> str | None:
    """The host name of an `Origin` header ('http://localhost:5001' → 'localhost'); None
    for 'null' or anything that is not a URL with a host."""
    try:
        return urlsplit(value.strip()).hostname or None
    except ValueError:
        return None


class HostCheck:
    """ASGI middleware: HTTP and WebSocket requests whose `Host` is not an allowed host name
    get 403; a WebSocket whose `Origin` (sent by browsers) names another host is closed with
    1008 before it is accepted."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(name.lower().strip("[]") for name in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        refused = self.refusal(headers.get("host"),
                               headers.get("origin") if scope["type"] == "websocket" else None)
        if refused is None:
            await self.app(scope, receive, send)
            return
        log.warning("GUI: refused a %s request: %s", scope["type"], refused[:200])
        if scope["type"] == "http":
            await PlainTextResponse(refused, status_code=403)(scope, receive, send)
        else:
            await WebSocketClose(code=POLICY_VIOLATION, reason=refused[:120])(scope, receive,
                                                                                send)

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a request with these headers is refused; None when it is allowed."""
        allowed = ", ".join(sorted(self.allowed))
        if host is None or host_name(host) not in self.allowed:
            return f"Host {host!r} is not one of {allowed}"
        if origin is not None and origin_host(origin) not in self.allowed:
            return f"Origin {origin!r} is not one of {allowed}"
        return None


@dataclass(frozen=True)
class Frame:
    """One consistent read of the snapshot, as JSON text."""

    version: int
    payload: str
    age_s: float | None   # seconds since the version last changed; None = never published


class Snapshot:
    """Reads the segment and tracks how long ago the published version last changed."""

    def __init__(self, reader: StateReader) -> None:
        self._reader = reader
        self._version = -1
        self._changed = time.monotonic()

    def frame(self) -> Frame:
        raw = self._reader.read_raw()
        now = time.monotonic()
        if raw is None:
            return Frame(0, _EMPTY_JSON, None)
        version, payload = raw
        if version != self._version:
            self._version, self._changed = version, now
        return Frame(version, payload.decode("utf-8", "replace"), now - self._changed)


def frame_message(frame: Frame, number: int) -> str:
    """The WebSocket message: {"frame": n, "age_s": s, "state": <snapshot>}."""
    age = "null" if frame.age_s is None else f"{frame.age_s:.3f}"
    return f'{{"frame":{number},"age_s":{age},"state":{frame.payload}}}'


class Client:
    """One WebSocket client: a bounded queue (drop oldest) drained by its own sender."""

    def __init__(self, websocket: WebSocket, queue_size: int = QUEUE_SIZE) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.last_progress = time.monotonic()
        self.sent = 0
        self.missed = 0
        self.dropped = False
        self._scope: anyio.CancelScope | None = None

    def offer(self, message: str) -> None:
        """Queue `message` without ever waiting: the oldest queued frame makes room."""
        if self.queue.full():
            self.queue.get_nowait()
            self.missed += 1
        self.queue.put_nowait(message)

    def stalled(self, now: float, limit_s: float) -> bool:
        return now - self.last_progress > limit_s

    def drop(self) -> None:
        """Stop sending to this client; `serve` then closes the connection."""
        self.dropped = True
        if self._scope is not None:
            self._scope.cancel()

    async def serve(self) -> None:
        """Send until the client disconnects or is dropped; incoming messages are ignored."""
        try:
            async with anyio.create_task_group() as group:
                self._scope = group.cancel_scope
                if self.dropped:
                    group.cancel_scope.cancel()
                group.start_soon(self._send_frames)
                group.start_soon(self._ignore_incoming, group.cancel_scope)
        except* WebSocketDisconnect:
            pass                          # the client went away: the normal ending
        except* Exception as group:       # e.g. the connection reset mid-send
            log.info("GUI client ended: %r", group.exceptions)
        if self.dropped:
            await self._close()

    async def _send_frames(self) -> None:
        while True:
            message = await self.queue.get()
            await self.websocket.send_text(message)
            self.sent += 1
            self.last_progress = time.monotonic()

    async def _ignore_incoming(self, scope: anyio.CancelScope) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                scope.cancel()
                return

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(self.websocket.close(code=1013), CLOSE_TIMEOUT_S)
        except (TimeoutError, RuntimeError, OSError) as error:
            log.info("closing a dropped GUI client: %r", error)


class Broadcaster:
    """At `fps`, reads the snapshot once and offers it to every client; drops stalled ones."""

    def __init__(self, snapshot: Snapshot, fps: int, stall_s: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps {fps}: must be positive")
        self.snapshot = snapshot
        self.fps = fps
        self.stall_s = stall_s
        self.clients: set[Client] = set()
        self.frames = 0
        self.dropped_clients = 0
        self.task: asyncio.Task[None] | None = None

    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="gui-broadcaster")

    async def stop(self) -> None:
        for client in list(self.clients):
            client.drop()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.fps
        next_tick = loop.time()
        while True:
            try:
                self.tick(time.monotonic())
            except Exception:
                log.exception("GUI broadcast frame failed")
            next_tick += period
            delay = next_tick - loop.time()
            if delay < -period:   # fell behind (machine busy): skip, do not burst
                next_tick, delay = loop.time(), 0.0
            await asyncio.sleep(max(0.0, delay))

    def tick(self, now: float) -> None:
        """One frame: read once, offer to all, drop the clients that made no progress."""
        self.frames += 1
        message = frame_message(self.snapshot.frame(), self.frames)
        for client in list(self.clients):
            if client.stalled(now, self.stall_s):
                log.warning("dropping a GUI client stalled for %.1f s", now - client.last_progress)
                self.clients.discard(client)
                self.dropped_clients += 1
                client.drop()
            else:
                client.offer(message)


def create_app(reader: StateReader, fps: int = 30, static_dir: Path = DEFAULT_STATIC_DIR,
               stall_s: float = 3.0, hosts: Iterable[str] = ()) -> FastAPI:
    """The GUI app reading `reader`; WebSocket clients get `fps` frames per second. Requests
    must name 127.0.0.1, localhost, ::1 or one of `hosts` (the configured [gui] host)."""
    broadcaster = Broadcaster(Snapshot(reader), fps, stall_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        broadcaster.start()
        try:
            yield
        finally:
            await broadcaster.stop()

    app = FastAPI(title="Performia GUI", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.broadcaster = broadcaster
    _add_routes(app, broadcaster, static_dir)
    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    app.add_middleware(HostCheck, allowed=(*LOCAL_HOSTS, *hosts))
    return app


def _add_routes(app: FastAPI, broadcaster: Broadcaster, static_dir: Path) -> None:
    snapshot = broadcaster.snapshot

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(static_dir / "index.html", headers=_NO_STORE)

    @app.get("/api/state")
    async def state() -> Response:
        return Response(snapshot.frame().payload, media_type="application/json",
                        headers=_NO_STORE)

    @app.get("/api/health")
    async def health() -> dict[str, object]:
        frame = snapshot.frame()
        return {"ok": broadcaster.running(), "version": frame.version,
                "age_s": None if frame.age_s is None else round(frame.age_s, 3),
                "fps": broadcaster.fps, "clients": len(broadcaster.clients),
                "dropped_clients": broadcaster.dropped_clients}

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        await ws.accept()
        client = Client(ws)
        broadcaster.clients.add(client)
        try:
            await client.serve()
        finally:
            broadcaster.clients.discard(client)
