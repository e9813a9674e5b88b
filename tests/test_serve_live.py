"""The serve session on a real socket (127.0.0.1): streams, a stalled viewer, paths, tokens."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.client
import http.server
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from livethresh.binarize import Binarizer
from livethresh.config import ThresholdConfig
from livethresh.frames import SourceKind, StreamInfo
from livethresh.serve import connections
from livethresh.serve.broadcaster import PART_HEADER, SourceState
from livethresh.serve.session import SEND_BUFFER_BYTES, ServeSession, bind
from livethresh.sources import FrameSource, open_source
from livethresh.synthetic import write_document_clip
from tests.helpers import ArraySource, document_frame

PATTERN = "testsrc2=size=320x240:rate=30"


class Running:
    """A session serving in a thread, and a plain HTTP client for it."""

    def __init__(self, session: ServeSession, port: int) -> None:
        self.session, self.port = session, port

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, headers=headers)


@contextlib.contextmanager
def serving(
    source: FrameSource,
    token: str | None = None,
    *,
    first_frame: bool = True,
    max_connections: int | None = None,
) -> Iterator[Running]:
    """A session serving ``source`` in a thread; once it has a frame, unless not ``first_frame``."""
    with contextlib.closing(bind("127.0.0.1", 0)) as sock:
        session = ServeSession(
            source, ThresholdConfig(), sock, token, max_connections=max_connections
        )
        thread = threading.Thread(target=session.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while first_frame and session.broadcaster.latest_index < 0:
            assert time.monotonic() < deadline, "no first frame"
            time.sleep(0.05)
        try:
            yield Running(session, sock.getsockname()[1])
        finally:
            session.stop()
            thread.join(10)
            assert not thread.is_alive()


def start(token: str | None = None) -> Iterator[Running]:
    with open_source(PATTERN, live=True) as source, serving(source, token) as running:
        yield running


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    yield from start()


@pytest.fixture(scope="module")
def guarded() -> Iterator[Running]:
    yield from start("tok-123")


def open_stream(port: int, path: str = "/stream.mjpg", rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def read_parts(
    sock: socket.socket, seconds: float, until: Callable[[int], bool] = lambda index: False
) -> list[tuple[int, int]]:
    """Read a stream for ``seconds``, or until a part's index satisfies ``until``;
    ``(X-Frame-Index, byte offset)`` of every part seen."""
    sock.settimeout(0.2)
    data = bytearray()
    deadline = time.monotonic() + seconds
    parts: list[tuple[int, int]] = []
    while time.monotonic() < deadline and not any(until(index) for index, _ in parts):
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
        parts = [(int(m[1]), m.start()) for m in re.finditer(rb"X-Frame-Index: (\d+)", data)]
    return parts


def frame_indices(sock: socket.socket, seconds: float) -> list[int]:
    return [index for index, _ in read_parts(sock, seconds)]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../session.py",
        "/static/%2e%2e/session.py",
        "/static/..%2fsession.py",
        "/static/%2e%2e%2fsession.py",
        "/static/%2e%2e%2f%2e%2e%2fconfig.py",
        "/static/..%5csession.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/static/....//session.py",
        "/static/%252e%252e/session.py",
        "/../session.py",
        "/%2e%2e/serve/session.py",
    ],
)
def test_no_file_outside_the_assets(server: Running, path: str) -> None:
    assert server.get("/static/app.js")[0] == 200
    status, body = server.get(path)
    assert status == 404, (path, status)
    assert b"import" not in body and b"root:" not in body


def test_stream_is_multipart_jpeg_and_side_is_twice_as_wide(server: Running) -> None:
    sock = open_stream(server.port, "/stream.mjpg?view=side")
    try:
        sock.settimeout(5)
        head = sock.recv(65536)
        while b"\xff\xd9" not in head:
            head += sock.recv(65536)
    finally:
        sock.close()
    assert b"multipart/x-mixed-replace; boundary=livethresh-frame" in head
    start = head.index(b"\xff\xd8")
    image = cv2.imdecode(np.frombuffer(head[start : head.index(b"\xff\xd9") + 2], np.uint8), 0)
    assert image.shape == (240, 640)


def test_stalled_viewer_slows_nobody_and_gets_the_latest_frame(server: Running) -> None:
    session = server.session
    stalled = open_stream(server.port, rcvbuf=4096)
    viewers = [open_stream(server.port) for _ in range(2)]
    try:
        time.sleep(0.5)
        frames_before = session.broadcaster.published
        encodes_before = sum(session.broadcaster.encodes.values())
        seen = [frame_indices(v, 2.0) for v in viewers]  # read one after the other: each
        # waits 2 s unread while the other is read, like a slow viewer
        frames = session.broadcaster.published - frames_before
        encodes = sum(session.broadcaster.encodes.values()) - encodes_before
        assert frames >= 80  # 30 fps for 4 s, minus slack for a loaded machine
        # At most one encode per frame for all viewers, whatever they do (plus one that was
        # under way when counting began).
        assert encodes <= frames + 1
        for indices in seen:
            assert len(indices) >= 30
            assert indices == sorted(indices)
        # Once the stalled viewer reads, it gets a current frame after at most the socket
        # buffers' worth of old ones: nothing else was queued for it.
        latest = session.broadcaster.latest_index
        parts = read_parts(stalled, 5.0, until=lambda index: index >= latest)
        fresh = [offset for index, offset in parts if index >= latest]
        assert fresh, (latest, parts)
        assert fresh[0] <= 2 * SEND_BUFFER_BYTES + 3 * 64 * 1024
        assert session.broadcaster.pool_size <= 4  # no per-viewer backlog of frames
    finally:
        for sock in (stalled, *viewers):
            sock.close()


def test_token_on_a_live_server(guarded: Running) -> None:
    for path in ("/stream.mjpg", "/api/events", "/snapshot.png", "/"):
        assert guarded.get(path)[0] == 401
    assert guarded.get("/snapshot.png?token=tok-123")[0] == 200
    assert guarded.get("/snapshot.png", {"Authorization": "Bearer tok-123"})[0] == 200
    sock = open_stream(guarded.port, "/stream.mjpg?token=tok-123")
    try:
        assert len(frame_indices(sock, 1.0)) >= 5
    finally:
        sock.close()


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def first_event(port: int) -> dict[str, Any]:
    """The first server-sent event of ``/api/events``, decoded."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\n\n" not in data.partition(b"data: ")[2]:
            data += sock.recv(65536)
    line = data.partition(b"data: ")[2].partition(b"\n\n")[0]
    event: dict[str, Any] = json.loads(line)
    return event


def dechunk(data: bytes) -> bytes:
    """The body of a chunked response, from the complete chunks in ``data``."""
    body = b""
    while b"\r\n" in data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        body, data = body + rest[:size], rest[size + 2 :]
    return body


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_a_finished_source_holds_its_last_frame_and_still_tunes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = "lavfi:testsrc2=size=160x120:rate=30:duration=0.5"
    with (
        caplog.at_level(logging.WARNING, "livethresh"),
        open_source(spec, live=True) as source,
        serving(source) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        assert re.search(r"ended after 1[0-5] frames", broadcaster.message)
        event = first_event(running.port)
        assert event["source"] == {"state": "ended", "message": broadcaster.message}
        side = decode_png(running.get("/snapshot.png?view=side")[1])
        gray, mask = side[:, :160], side[:, 160:]
        assert broadcaster.latest_index == 14
        changed = b'{"method": "sauvola", "block_size": 15}'
        assert running.request("PATCH", "/api/settings", changed)[0] == 200
        new = ThresholdConfig(method="sauvola", block_size=15)
        with Binarizer(new, gray.shape) as binarize:
            expected = binarize(gray)
        assert not np.array_equal(mask, expected)
        assert np.array_equal(decode_png(running.get("/snapshot.png")[1]), expected)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livethresh.serve")]
    assert lines == [broadcaster.message]


def test_a_viewer_who_comes_after_the_end_gets_the_held_frame_complete() -> None:
    spec = "lavfi:testsrc2=size=160x120:rate=30:duration=0.5"
    with open_source(spec, live=True) as source, serving(source) as running:
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        held = decode_png(running.get("/snapshot.png")[1])
        sock = open_stream(running.port)
        try:
            sock.settimeout(5)
            data = b""
            # No frame comes after the held one: the part must be whole without another, up
            # to the header of the next part, which is what makes a browser show it.
            while data.count(PART_HEADER.removeprefix(b"\r\n")) < 2:
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
        finally:
            sock.close()
    body = dechunk(data.partition(b"\r\n\r\n")[2])
    opening = PART_HEADER.removeprefix(b"\r\n")
    assert body.startswith(opening) and body.endswith(PART_HEADER)
    jpeg = body[len(opening) : -len(PART_HEADER)]
    assert jpeg[:2] == b"\xff\xd8" and jpeg.endswith(b"\xff\xd9")
    assert b"X-Frame-Index: 14" in jpeg[:64]  # the frame's index, as a JPEG comment
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.mean((shown > 127) != (held > 127)) < 0.02


def test_a_file_waits_for_its_first_viewer_then_plays_from_its_start(tmp_path: Path) -> None:
    clip = write_document_clip(tmp_path / "clip.mp4", frames=10, height=120, width=160)
    with (
        open_source(str(clip), live=True) as source,
        serving(source, first_frame=False) as running,
    ):
        broadcaster = running.session.broadcaster
        time.sleep(1.0)  # three times the clip's length: nobody watches, so it has not started
        assert broadcaster.published == 0
        assert first_event(running.port)["source"]["state"] == "starting"
        viewer = open_stream(running.port)
        try:
            parts = read_parts(viewer, 5.0, until=lambda index: index == 9)
        finally:
            viewer.close()
        indices = [index for index, _ in parts]
        assert indices[0] <= 1 and indices[-1] == 9, indices
        wait_for(lambda: broadcaster.state is SourceState.ENDED)


def test_a_failing_source_is_shown_and_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    camera = ArraySource(None, live=True, fail_at=3)
    camera.info = dataclasses.replace(camera.info, kind=SourceKind.CAMERA)
    with (
        caplog.at_level(logging.WARNING, "livethresh"),
        serving(camera) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.FAILED)
        assert broadcaster.message == ("the source failed: the fake source broke")
        assert running.get("/snapshot.png")[0] == 200  # the last frame is still there
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("livethresh.serve")]
    assert lines == ["the source failed: the fake source broke; the page keeps its last frame"]


def test_nothing_is_encoded_while_nobody_watches() -> None:
    with open_source(PATTERN, live=True) as source, serving(source) as running:
        broadcaster = running.session.broadcaster
        time.sleep(0.5)
        assert broadcaster.published > 5 and sum(broadcaster.encodes.values()) == 0
        viewer = open_stream(running.port)
        try:
            seen = frame_indices(viewer, 1.0)
        finally:
            viewer.close()
        encoded = sum(broadcaster.encodes.values())
        assert len(seen) >= 10 and 0 < encoded <= broadcaster.published
        wait_for(lambda: broadcaster.viewers == 0)
        published = broadcaster.published
        time.sleep(0.5)
        assert broadcaster.published > published  # the pipeline goes on...
        assert sum(broadcaster.encodes.values()) <= encoded + 1  # ...but nothing is encoded


def test_half_sent_requests_are_closed_and_never_crowd_out_a_real_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(connections, "REQUEST_SECONDS", 1.0)
    cap, attackers = 16, 60
    half_sent: list[socket.socket] = []
    with (
        caplog.at_level(logging.DEBUG),
        open_source(PATTERN, live=True) as source,
        serving(source, "tok-123", max_connections=cap) as running,
    ):
        try:
            for _ in range(attackers):  # no token needed to hold a connection this way
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                sock.sendall(b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                half_sent.append(sock)
            started = time.monotonic()
            status, _ = running.get("/api/stats", {"Authorization": "Bearer tok-123"})
            assert status == 200
            assert time.monotonic() - started < 2.0
            # At the cap the oldest are closed at once, the others at their deadline; none
            # gets an answer.
            deadline = time.monotonic() + 5
            for sock in half_sent:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                with contextlib.suppress(ConnectionResetError):  # closed with bytes unread
                    assert sock.recv(1024) == b""
            assert len(running.session._server.server_state.connections) <= cap
        finally:
            for sock in half_sent:
                sock.close()
    logged = [r for r in caplog.records if r.name.startswith(("asyncio", "uvicorn"))]
    assert sum(len(r.getMessage()) for r in logged) < 2000, logged


@contextlib.contextmanager
def http_files(folder: Path) -> Iterator[str]:
    """A plain HTTP server of ``folder`` on 127.0.0.1, in a thread; yields its base URL."""
    handler = functools.partial(QuietFiles, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/"
        finally:
            httpd.shutdown()
            thread.join(5)


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_file_over_http_plays_at_its_own_rate_like_a_local_one(tmp_path: Path) -> None:
    frames, fps = 45, 30
    write_document_clip(tmp_path / "clip.ts", frames=frames, height=120, width=160, fps=fps)
    with (
        http_files(tmp_path) as base,
        open_source(base + "clip.ts", live=True) as source,
        serving(source) as running,
    ):
        broadcaster = running.session.broadcaster
        wait_for(lambda: broadcaster.state is SourceState.ENDED)
        stats = running.session.pipeline.stats
    # Read as fast as the network allows, the clip would be over in a blink, most of its
    # frames dropped as stale; paced, it takes its 1.5 s and (nearly) every frame is shown.
    assert stats.wall_s >= 0.8 * frames / fps
    assert stats.frames_written >= 0.8 * frames


class BurstThenPaced:
    """A live source whose first frames come all at once (as when the machine is busy while
    the server starts), then one every frame interval."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.info = StreamInfo(
            "burst", 160, 120, Fraction(30), is_live=True, kind=SourceKind.CAMERA
        )
        self.decode_errors = 0
        self.image = document_frame(120, 160)

    def frames(self) -> Iterator[np.ndarray]:
        for _ in range(self.burst):
            yield self.image
        while True:
            time.sleep(1 / 30)
            yield self.image

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> BurstThenPaced:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_page_counts_only_the_frames_dropped_since_it_opened() -> None:
    with serving(BurstThenPaced(burst=60)) as running:
        stats = running.session.pipeline.stats
        wait_for(lambda: stats.frames_read > 70)
        assert stats.dropped > 0  # the burst, before anyone watched
        event = first_event(running.port)
        assert event["stats"]["dropped"] > 0  # the pipeline's own count keeps them
        assert event["dropped_here"] == 0
