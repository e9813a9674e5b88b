"""``livethresh serve`` as a user runs it: the URL, signals with viewers connected, a taken port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import cast

import pytest

from livethresh.serve.session import DEFAULT_HOST
from livethresh.synthetic import write_document_clip
from tests.helpers import assert_one_line, run_cli, start_cli

ROOT = Path(__file__).resolve().parents[1]
PATTERN = "testsrc2=size=320x240:rate=30"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def start(*args: str) -> subprocess.Popen[str]:
    """``livethresh serve ARGS`` running, its output as text."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return cast("subprocess.Popen[str]", start_cli("serve", *args, text=True, cwd=ROOT, env=env))


def url_of(child: subprocess.Popen[str]) -> tuple[str, int]:
    assert child.stdout is not None
    line = child.stdout.readline()
    found = re.search(r"open (http://([\d.]+):(\d+)/\S*)", line)
    if found is None:
        child.kill()
        pytest.fail(f"no URL printed: {line!r} {child.communicate()[1]!r}")
    assert found[2] == DEFAULT_HOST
    return found[1], int(found[3])


def viewer(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(5)
    assert b"200 OK" in sock.recv(4096)
    return sock


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signals", "code"),
    [([signal.SIGINT], 130), ([signal.SIGTERM], 143), ([signal.SIGINT, signal.SIGINT], 130)],
)
def test_a_signal_ends_it_in_seconds_with_viewers_connected(signals: list[int], code: int) -> None:
    child = start(PATTERN, "--port", "0")
    url, port = url_of(child)
    assert url == f"http://127.0.0.1:{port}/"
    # A reading viewer, and one that never reads again once its first bytes came.
    watching, stalled = viewer(port), viewer(port, rcvbuf=4096)
    try:
        deadline = time.monotonic() + 5
        received = 0
        while received < 100_000 and time.monotonic() < deadline:
            received += len(watching.recv(65536))
        assert received >= 100_000
        sent = time.monotonic()
        for signum in signals:  # a second Ctrl-C forces the stop, still without a traceback
            child.send_signal(signum)
            time.sleep(0.05)
        try:
            stdout, stderr = child.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            pytest.fail("serve did not stop")
        elapsed = time.monotonic() - sent
    finally:
        watching.close()
        stalled.close()
    assert child.returncode == code
    assert elapsed < 5
    assert re.match(r"\d+ frames in [\d.]+ s \([\d.]+ fps\)", stdout), stdout
    assert "Traceback" not in stderr and "error" not in stderr.lower(), stderr


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = run_cli("serve", PATTERN, "--port", port, cwd=ROOT)
    line = assert_one_line(done.stderr, done.returncode, 2)
    assert line == (
        f"livethresh: error: port {port} on 127.0.0.1 is already in use: stop the other "
        "server or choose another port with --port"
    )
    assert done.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--host", "127.0.0.2"],  # loopback, but not one of the usual names
        ["--token", "p+q#r&s%t=u/v?w"],  # characters a query string must encode
        ["--host", "127.0.0.2", "--token", "a%2Bb+"],
    ],
)
def test_the_printed_url_works_as_printed(args: list[str]) -> None:
    child = start(PATTERN, "--port", "0", *args)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        found = re.search(r"open (\S+) \(Ctrl-C stops\)", line)
        assert found, line
        with urllib.request.urlopen(found[1], timeout=5) as response:
            assert response.status == 200
            assert b"<title>livethresh</title>" in response.read()
    finally:
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=10)


def test_loop_plays_a_file_again_from_its_start(tmp_path: Path) -> None:
    clip = write_document_clip(tmp_path / "clip.mp4", frames=10, height=120, width=160)
    child = start(str(clip), "--port", "0", "--loop")
    _, port = url_of(child)
    watching = viewer(port)  # a file starts with its first viewer
    try:
        data = b""
        deadline = time.monotonic() + 10
        while len(re.findall(rb"X-Frame-Index: (\d+)", data)) < 25:
            assert time.monotonic() < deadline, data[-200:]
            data += watching.recv(65536)
    finally:
        watching.close()
        child.send_signal(signal.SIGINT)
        stderr = child.communicate(timeout=10)[1]
    indices = [int(i) for i in re.findall(rb"X-Frame-Index: (\d+)", data)]
    assert max(indices) >= 20  # the ten frames, twice at least, counted on
    assert indices == sorted(indices)
    assert "ended" not in stderr, stderr
