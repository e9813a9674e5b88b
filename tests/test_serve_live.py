"""The serve session on a real socket (127.0.0.1): streams, a stalled viewer, paths, tokens, and
half-sent requests that must not crowd out a real one."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from livethresh.serve import connections
from livethresh.serve.session import SEND_BUFFER_BYTES
from livethresh.sources import open_source
from tests.live_server import (
    PATTERN,
    Running,
    frame_indices,
    open_stream,
    read_parts,
    serving,
    start,
)


@pytest.fixture(scope="module")
def server() -> Iterator[Running]:
    yield from start()


@pytest.fixture(scope="module")
def guarded() -> Iterator[Running]:
    yield from start("tok-123")


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
