"""Reading an input (``livethresh.sources.pyav``): damaged packets and truncated files, a
camera unplugged, a stream that stalls, hangs up or ends, each through the real commands; and
the audio, subtitles and tags of an input that can be read only once (a pipe, a UDP stream)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

import livethresh.sources
import livethresh.sources.pyav
from tests.clips import Coding, Picture, Streams, Tone, audio_times, make_video, video_frames
from tests.helpers import assert_one_line, digest, invoke


def test_truncated_matroska_keeps_the_frames_before_the_cut(tmp_path: Path) -> None:
    whole = make_video(
        tmp_path / "whole.mkv", Picture(frames=30), coding=Coding(codec="ffv1", pix_fmt="gray")
    )
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    readable = len(video_frames(cut))
    assert 0 < readable < 30
    before = digest(cut)
    out = tmp_path / "out.mkv"
    result = invoke("transcode", cut, out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == readable == len(video_frames(out))
    assert digest(cut) == before


def damage_packets(source: Path, indices: tuple[int, ...]) -> Path:
    """Break some video packets as a bad disk or network would: each first NAL unit's length
    field says more bytes than the packet holds, which H.264 decoders refuse (noise in a
    packet's middle is concealed or refused depending on the content coded there)."""
    data = bytearray(source.read_bytes())
    with av.open(str(source)) as container:
        # A packet's position is its container block's; its payload is found from there.
        payloads = [data.find(bytes(p), p.pos) for p in container.demux(video=0) if p.size]
    for index in indices:
        data[payloads[index] : payloads[index] + 4] = b"\x7f\xff\xff\xff"
    damaged = source.with_name("damaged" + source.suffix)
    damaged.write_bytes(bytes(data))
    return damaged


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_damaged_packets_are_counted_skipped_and_the_run_goes_on(
    tmp_path: Path, suffix: str
) -> None:
    source = damage_packets(
        make_video(tmp_path / f"in{suffix}", Picture(frames=30)), (10, 11, 12, 20)
    )
    with av.open(str(source)) as container:
        decodable = 0
        for packet in container.demux(video=0):
            with contextlib.suppress(av.error.InvalidDataError):
                decodable += len(packet.decode())
    assert decodable < 30
    before = digest(source)
    out = tmp_path / "out.mkv"
    result = invoke("transcode", source, out, "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["decode_errors"] == 30 - decodable
    assert stats["frames"] == decodable == len(video_frames(out))
    result = invoke("transcode", source, tmp_path / "again.mkv")
    assert result.exit_code == 0
    assert f"{30 - decodable} damaged input packets skipped" in result.stderr
    result = invoke("bench", source, "--json")
    assert json.loads(result.stdout)["decode_errors"] == 30 - decodable
    assert digest(source) == before


class UnpluggedAfter:
    """A real container whose demuxer fails with ENODEV after ``packets`` packets.

    This is what v4l2 reports when a USB camera is pulled out mid-stream.
    """

    def __init__(self, container: Any, packets: int) -> None:
        self._container, self._packets = container, packets
        self.streams = container.streams
        self.duration = container.duration

    def demux(self, *args: Any) -> Iterator[Any]:
        for count, packet in enumerate(self._container.demux(*args)):
            if count == self._packets:
                av.error.err_check(-errno.ENODEV)
            yield packet

    def close(self) -> None:
        self._container.close()


@pytest.fixture
def camera_unplugged_after_12(monkeypatch: pytest.MonkeyPatch) -> None:
    def open_camera(spec: Any, timeout: float) -> Any:
        assert spec.kind == "camera"
        pattern_source = av.open("testsrc2=size=160x120:rate=30", format="lavfi")
        return UnpluggedAfter(pattern_source, 12)

    monkeypatch.setattr(livethresh.sources.pyav, "open_container", open_camera)


@pytest.mark.usefixtures("camera_unplugged_after_12")
def test_camera_unplugged_mid_run_ends_with_one_line() -> None:
    result = invoke("bench", "0", "--frames", "1000")
    assert_one_line(
        result.stderr,
        result.exit_code,
        2,
        "'0' stopped after 12 frames",
        "No such device",
        "check that the camera is still connected",
    )


@pytest.mark.usefixtures("camera_unplugged_after_12")
def test_camera_unplugged_while_recording_keeps_the_frames(tmp_path: Path) -> None:
    out = tmp_path / "cam.mkv"
    result = invoke("transcode", "0", out)
    line = assert_one_line(result.stderr, result.exit_code, 2, "stopped after 12 frames")
    assert line.endswith(f"the 12 frames before it are kept in {out}")
    assert len(video_frames(out)) == 12


@pytest.mark.timeout(60)
def test_source_that_closes_after_n_frames_ends_the_run_cleanly(tmp_path: Path) -> None:
    """A FIFO whose writer goes away after 20 frames: the end of the stream, not an error."""
    stream = make_video(tmp_path / "feed.ts", Picture(frames=20), fmt="mpegts").read_bytes()
    fifo = tmp_path / "camera.ts"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as pipe:  # blocks until livethresh opens the FIFO
            for start in range(0, len(stream), 4096):
                pipe.write(stream[start : start + 4096])
                time.sleep(0.001)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "out.mkv"
    result = invoke("transcode", fifo, out, "--json")
    writer.join(10)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 20 == len(video_frames(out))


@pytest.fixture
def stream_server(tmp_path: Path) -> Iterator[Any]:
    """Serve half of an MPEG-TS clip over HTTP, then stall (or hang up) as told."""
    data = make_video(tmp_path / "live.ts", Picture(frames=60), fmt="mpegts").read_bytes()
    servers: list[socket.socket] = []
    release = threading.Event()

    def start(then: str) -> str:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n")
                conn.sendall(data[: len(data) // 2])
                if then == "stall":
                    release.wait(30)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{server.getsockname()[1]}/live.ts"

    yield start
    release.set()
    for server in servers:
        server.close()


@pytest.fixture
def one_second_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default read timeout is 10 s; 1 s keeps the test short.

    ``transcode`` and ``bench`` both leave ``timeout`` to ``open_source``'s default, which Python
    reads from the function's keyword defaults at each call: the one place to change it.
    """
    monkeypatch.setitem(livethresh.sources.open_source.__kwdefaults__, "timeout", 1.0)


@pytest.mark.usefixtures("one_second_timeout")
def test_stalled_stream_ends_with_the_read_timeout_and_keeps_the_frames(
    stream_server: Any, tmp_path: Path
) -> None:
    out = tmp_path / "recording.mkv"
    started = time.monotonic()
    result = invoke("transcode", stream_server("stall"), out)
    assert time.monotonic() - started < 20  # the timeout fired; nothing hung
    line = assert_one_line(
        result.stderr,
        result.exit_code,
        2,
        "no data for 1 s (read timeout)",
        "check the stream and the network",
    )
    kept = int(line.rsplit("the ", 1)[1].split()[0])
    assert kept > 0 and line.endswith(f"frames before it are kept in {out}")
    assert len(video_frames(out)) == kept
    result = invoke("bench", stream_server("stall"))
    assert_one_line(result.stderr, result.exit_code, 2, "no data for 1 s (read timeout)")


def test_stream_that_hangs_up_mid_run(stream_server: Any, tmp_path: Path) -> None:
    out = tmp_path / "recording.mkv"
    result = invoke("transcode", stream_server("hang up"), out)
    line = assert_one_line(
        result.stderr, result.exit_code, 2, "stopped after", "check the stream and the network"
    )
    kept = int(line.rsplit("the ", 1)[1].split()[0])
    assert len(video_frames(out)) == kept > 0


@pytest.mark.parametrize("no_audio", [False, True])
def test_audio_and_subtitles_of_a_fifo_are_carried(tmp_path: Path, no_audio: bool) -> None:
    """A pipe, like a stream, can be read only once; its tags and subtitles come along, also
    with ``--no-audio`` (which drops the audio alone, as for a file)."""
    data = make_video(
        tmp_path / "feed.mkv",
        Picture(frames=30),
        streams=Streams(tagged=True, subtitles=True),
        audio=Tone("aac"),
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


@pytest.mark.slow
def test_audio_of_a_udp_stream_is_carried(tmp_path: Path) -> None:
    """MPEG-TS with AAC sent over UDP on 127.0.0.1 as a live encoder would, paced over 2 s."""
    data = make_video(
        tmp_path / "feed.ts", Picture(frames=60), audio=Tone("aac"), fmt="mpegts"
    ).read_bytes()
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
