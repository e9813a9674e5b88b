"""Hardening found by an adversarial round (issue 14): costly settings, library wording and
misuse, messages, image sequences, network audio and hang-ups. Each case goes through the
command or the public API, with media generated here."""

from __future__ import annotations

import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from livethresh import Binarizer, ThresholdConfig
from livethresh.errors import FrameShapeError, LivethreshError, OutputError
from livethresh.images import binarize_image
from livethresh.transcode import transcode
from tests.helpers import assert_one_line, document_frame, invoke, make_video, video_frames


def one_line(result: Any) -> str:
    """The rule for bad input (exit 2, one line, no traceback) on an in-process run."""
    return assert_one_line(result.stderr, result.exit_code, 2)


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), document_frame(120, 160))
    return path


# -- 10: settings whose cost explodes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "limit"),
    [
        (["--blur", "10001"], "1 to 63"),
        (["-b", "10001"], "from 3 to 255 with gaussian, whose cost grows"),
    ],
)
def test_costly_settings_are_refused_with_their_limit(
    page: Path, tmp_path: Path, args: list[str], limit: str
) -> None:
    line = one_line(invoke("image", page, tmp_path / "mask.png", *args))
    assert limit in line
    assert not (tmp_path / "mask.png").exists()


def test_help_states_the_limits() -> None:
    # The help is drawn in boxes and wrapped: compare its words.
    text = " ".join(invoke("image", "--help").stdout.replace("│", " ").split())
    assert "1 to 63" in text and "3 to 1001" in text and "gaussian: to 255" in text


# -- 13: library wording and safety ------------------------------------------------------------


def test_library_errors_name_the_argument_and_the_cli_its_flag(page: Path, tmp_path: Path) -> None:
    out = tmp_path / "mask.png"
    binarize_image(page, out, ThresholdConfig())
    with pytest.raises(OutputError, match=r"already exists; pass overwrite=True to replace it"):
        binarize_image(page, out, ThresholdConfig())
    line = one_line(invoke("image", page, out))
    assert line.endswith("already exists; pass -y/--overwrite to replace it")


@pytest.mark.parametrize("shape", [(240, 320, 3), (240,), "240x320", (240.0, 320)])
def test_a_shape_that_is_not_height_width_is_a_clear_error(shape: Any) -> None:
    with pytest.raises(FrameShapeError, match=r"must be \(height, width\) of gray frames") as err:
        Binarizer(ThresholdConfig(), shape)
    if len(shape) == 3:
        assert "image.shape[:2] (240, 320)" in str(err.value)


def test_a_closed_binarizer_refuses_frames() -> None:
    gray = document_frame(64, 80)
    binarizer = Binarizer(ThresholdConfig(), gray.shape, threads=2)
    first = binarizer(gray).copy()
    binarizer.close()
    binarizer.close()  # idempotent
    with pytest.raises(LivethreshError, match="this Binarizer is closed"):
        binarizer(gray)
    with Binarizer(ThresholdConfig(), gray.shape) as fresh:
        assert np.array_equal(fresh(gray), first)


# -- 11: messages ------------------------------------------------------------------------------


def test_an_unsupported_image_extension_is_refused_up_front_in_one_line(
    page: Path, tmp_path: Path
) -> None:
    """OpenCV has a GIF writer that cannot take a gray mask: refused before reading, quietly."""
    result = invoke("image", page, tmp_path / "x.gif")
    line = one_line(result)
    assert "cannot write a gray mask as '.gif'; use .png" in line
    assert "[ERROR" not in result.output and not (tmp_path / "x.gif").exists()
    result = invoke("image", tmp_path / "missing.png", tmp_path / "x.gif")
    assert "'.gif'" in one_line(result)  # the output is checked before the input is read


def test_opencv_prints_nothing_of_its_own_in_a_real_process(page: Path, tmp_path: Path) -> None:
    """OpenCV logs from C++ straight to fd 2, which only a real process shows."""

    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-m", "livethresh", "image", str(page), str(tmp_path / "x.gif")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "livethresh: error: cannot write a gray mask as '.gif'; use .png, .tif, .bmp, .webp or .pgm"
    ]


def test_a_preset_that_is_a_directory_says_so(page: Path, tmp_path: Path) -> None:
    line = one_line(invoke("image", page, tmp_path / "m.png", "--preset", tmp_path))
    assert f"preset {str(tmp_path)!r} is a directory" in line


def test_a_url_is_not_mangled_and_not_supported_for_still_images(tmp_path: Path) -> None:
    line = one_line(invoke("image", "http://127.0.0.1:9/page.png", tmp_path / "m.png"))
    assert "'http://127.0.0.1:9/page.png' is a URL: still images are read from files only" in line
    line = one_line(invoke("image", tmp_path / "page.png", "http://127.0.0.1:9/m.png"))
    assert "output 'http://127.0.0.1:9/m.png' is a URL: still images are written to files" in line


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("udp://127.0.0.1:99999", "its port '99999' is not a number from 1 to 65535"),
        ("udp://127.0.0.1:0", "its port 0 is not a port a stream can use"),
        ("srt://127.0.0.1:x", "its port 'x'"),
    ],
)
def test_an_invalid_stream_port_is_refused(tmp_path: Path, url: str, problem: str) -> None:
    line = one_line(invoke("transcode", "testsrc2", url, "--frames", "2"))
    assert f"invalid output URL {url!r}: {problem}" in line
    line = one_line(invoke("bench", url, "--frames", "2"))
    assert f"invalid input URL {url!r}" in line


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_a_renamed_output_folder_leaves_no_partial_file_and_is_named(
    tmp_path: Path, name: str
) -> None:

    folder, moved = tmp_path / "results", tmp_path / "elsewhere"
    folder.mkdir()

    def rename_once(frames: int) -> None:
        if folder.exists():
            folder.rename(moved)

    with pytest.raises(OutputError) as caught:
        transcode(
            "testsrc2=size=64x48",
            str(folder / name),
            ThresholdConfig(),
            max_frames=10,
            on_progress=rename_once,
            handle_signals=False,
        )
    assert f"output folder {str(folder)!r} was renamed or removed" in str(caught.value)
    assert list(moved.iterdir()) == []


# -- 12: image sequences -----------------------------------------------------------------------


@pytest.fixture
def frames_folder(tmp_path: Path) -> Path:
    """Twelve numbered PNG frames starting at 1, as exported by an editor."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in range(1, 13):
        cv2.imwrite(str(folder / f"{number:04d}.png"), document_frame(48, 64, seed=number))
    return folder


@pytest.mark.parametrize(("pattern", "rate"), [("%04d.png", 10), ("*.png", None)])
def test_an_image_sequence_transcodes_at_its_rate(
    frames_folder: Path, tmp_path: Path, pattern: str, rate: int | None
) -> None:

    out = tmp_path / "out.mkv"
    args = ["transcode", frames_folder / pattern, out, "--json"]
    result = invoke(*args, *(["--rate", rate] if rate else []))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 12
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream)]
    step = 1 / (rate or 25)  # FFmpeg's default rate for a sequence
    assert len(times) == 12
    assert times == pytest.approx([i * step for i in range(12)], abs=1e-3)


def test_bench_reads_an_image_sequence(frames_folder: Path) -> None:
    result = invoke("bench", frames_folder / "%04d.png", "--rate", "5")
    assert result.exit_code == 0, result.output
    assert "64x48" in result.stdout and "5 fps" in result.stdout
    assert "12 frames" in result.stdout


def test_a_sequence_without_its_first_frame_is_a_clear_error(
    frames_folder: Path, tmp_path: Path
) -> None:
    line = one_line(invoke("transcode", frames_folder / "%03d.png", tmp_path / "out.mkv"))
    assert f"image sequence '{frames_folder}/%03d.png' has no first frame: none of " in line
    assert f"{frames_folder}/000.png ... {frames_folder}/004.png exists" in line
    line = one_line(invoke("bench", frames_folder / "*.jpg"))
    assert "no file matches the image sequence" in line
    assert not (tmp_path / "out.mkv").exists()


# -- 3: audio from network sources -------------------------------------------------------------


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


def audio_times(path: Path) -> list[float]:

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        stream = container.streams.audio[0]
        return [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None]


def test_audio_of_an_http_stream_is_carried(http_folder: Any, tmp_path: Path) -> None:
    """An HTTP input is read once: its audio comes from the same demuxer as the video."""

    folder, base = http_folder
    make_video(folder / "clip.ts", frames=45, audio="aac", fmt="mpegts")
    out = tmp_path / "out.mkv"
    result = invoke("transcode", f"{base}/clip.ts", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["frames"] == 45 and report["audio"] == ["#1 aac copied"]
    times = audio_times(out)
    # The whole 1.5 s of the tone, in order, not only what came with the first frame.
    assert times == sorted(times) and len(times) > 60
    assert max(times) - min(times) > 1.3


@pytest.mark.parametrize("no_audio", [False, True])
def test_audio_and_subtitles_of_a_fifo_are_carried(tmp_path: Path, no_audio: bool) -> None:
    """A pipe, like a stream, can be read only once; its tags and subtitles come along, also
    with ``--no-audio`` (which drops the audio alone, as for a file)."""
    data = make_video(
        tmp_path / "feed.mkv", frames=30, audio="aac", tagged=True, subtitles=True
    ).read_bytes()
    fifo = tmp_path / "camera.mkv"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "out.mkv"
    result = invoke("transcode", fifo, out, "--json", *(["--no-audio"] if no_audio else []))
    writer.join(10)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        (subtitle,) = container.streams.subtitles
        assert subtitle.language == "eng" and container.metadata.get("title")
        assert len(list(container.demux(subtitle))) > 1
        assert len(container.streams.audio) == (0 if no_audio else 1)
    if not no_audio:
        assert json.loads(result.stdout)["audio"] == ["#1 aac copied"]
        assert len(audio_times(out)) > 40


# -- 4: an HTTP source that hangs up -----------------------------------------------------------


@pytest.fixture
def framed_server(tmp_path: Path) -> Any:
    """Serve an MPEG-TS clip once over HTTP, framed by Content-Length or chunks, whole or
    hanging up halfway (between two chunks, as a killed server does)."""

    data = make_video(tmp_path / "live.ts", frames=60, fmt="mpegts").read_bytes()
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


@pytest.mark.slow
def test_audio_of_a_udp_stream_is_carried(tmp_path: Path) -> None:
    """MPEG-TS with AAC sent over UDP on 127.0.0.1 as a live encoder would, paced over 2 s."""

    data = make_video(tmp_path / "feed.ts", frames=60, audio="aac", fmt="mpegts").read_bytes()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now; the reader binds it next
    done = threading.Event()

    def send() -> None:
        time.sleep(0.5)  # the reader is listening by then
        step = 1316  # 7 TS packets per datagram, as FFmpeg sends them
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for start in range(0, len(data), step):
                if done.is_set():
                    return
                sender.sendto(data[start : start + step], ("127.0.0.1", port))
                time.sleep(2.0 * step / len(data))

    feeder = threading.Thread(target=send, daemon=True)
    feeder.start()
    out = tmp_path / "out.mkv"
    try:
        result = invoke("transcode", f"udp://127.0.0.1:{port}", out, "--frames", "20", "--json")
    finally:
        done.set()
        feeder.join(10)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["audio"] == ["#1 aac copied"]
    assert len(audio_times(out)) > 10
