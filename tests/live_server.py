"""What the serve tests on a real socket share: a session serving a source in a thread on
127.0.0.1, a plain HTTP client for it, and readers of its MJPEG stream and its events."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from livethresh.config import ThresholdConfig
from livethresh.serve.session import ServeSession, bind
from livethresh.sources import FrameSource, open_source

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
