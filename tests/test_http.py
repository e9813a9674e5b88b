"""HTTP inputs (``livethresh.sources.http``): read once with their audio, and a server that
hangs up told from the end of the video, whether framed by Content-Length or by chunks."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.clips import Picture, Tone, audio_times, make_video, video_frames
from tests.helpers import invoke, one_line


@pytest.fixture
def http_folder(tmp_path: Path) -> Any:
    """A plain HTTP server on 127.0.0.1 serving ``tmp_path/www`` (with Content-Length)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_audio_of_an_http_stream_is_carried(http_folder: Any, tmp_path: Path) -> None:
    """An HTTP input is read once: its audio comes from the same demuxer as the video."""
    folder, base = http_folder
    make_video(folder / "clip.ts", Picture(frames=45), audio=Tone("aac"), fmt="mpegts")
    out = tmp_path / "out.mkv"
    result = invoke("transcode", f"{base}/clip.ts", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["frames"] == 45 and report["audio"] == ["#1 aac copied"]
    times = audio_times(out)
    # The whole 1.5 s of the tone, in order, not only what came with the first frame.
    assert times == sorted(times) and len(times) > 60
    assert max(times) - min(times) > 1.3


@pytest.fixture
def framed_server(tmp_path: Path) -> Any:
    """Serve an MPEG-TS clip once over HTTP, framed by Content-Length or chunks, whole or
    hanging up halfway (between two chunks, as a killed server does)."""
    data = make_video(tmp_path / "live.ts", Picture(frames=60), fmt="mpegts").read_bytes()
    servers: list[socket.socket] = []

    def start(framing: str, whole: bool) -> str:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(30)
        servers.append(server)
        body = data if whole else data[: len(data) // 2 // 1000 * 1000]

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n"
                if framing == "length":
                    conn.sendall(head + b"Content-Length: %d\r\n\r\n" % len(data) + body)
                    return
                conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                for start in range(0, len(body), 1000):
                    chunk = body[start : start + 1000]
                    conn.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                if whole:
                    conn.sendall(b"0\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{server.getsockname()[1]}/live.ts"

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_an_http_source_that_hangs_up_is_told_from_its_end(
    framed_server: Any, tmp_path: Path, framing: str
) -> None:
    out = tmp_path / "whole.mkv"
    result = invoke("transcode", framed_server(framing, True), out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 60 == len(video_frames(out))

    out = tmp_path / "cut.mkv"
    line = one_line(invoke("transcode", framed_server(framing, False), out))
    expected = "a chunked response without its final chunk" if framing == "chunked" else " of "
    assert "stopped after" in line and "the server hung up" in line and expected in line
    kept = int(line.rsplit("the ", 1)[1].split()[0])
    assert 0 < kept < 60 and len(video_frames(out)) == kept
