"""What livethresh does with everything a user may throw at it, through the real commands.

Each case checks the rule of the README's "What happens when..." table: one clear line on
stderr, the documented exit code, no traceback, no hang (subprocesses have timeouts), and the
input untouched. Cases already covered elsewhere are not repeated here: variable frame rate,
10-bit, odd sizes and resolution changes (``test_transcode.py``), output == input by any name
(``test_transcode.py``, ``test_cli_image.py``), single SIGINT/SIGTERM (``test_transcode.py``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

import livethresh.bench
import livethresh.sources
import livethresh.sources.pyav
from tests.helpers import (
    HANG,
    assert_one_line,
    document_frame,
    invoke,
    make_video,
    noise_frame,
    run_cli,
    video_frames,
    wait_for_partial_output,
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- bad inputs --------------------------------------------------------------------------------


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def bad_input(kind: str, folder: Path) -> Path:
    """Make one kind of broken input in ``folder``."""
    path = (
        folder
        / {
            "directory": "clip.mp4",
            "zero-byte": "empty.mp4",
            "text": "notes.mp4",
            "random": "noise.mkv",
            "audio-only": "song.m4a",
            "truncated-mp4": "cut.mp4",
            "missing": "nope.mp4",
        }[kind]
    )
    if kind == "directory":
        path.mkdir()
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 100)
    elif kind == "random":
        path.write_bytes(np.random.default_rng(3).bytes(50_000))
    elif kind == "audio-only":
        audio_only(path)
    elif kind == "truncated-mp4":
        # Without faststart the index (moov) comes last: cut the file and the index is gone.
        whole = make_video(folder / "whole.mp4", frames=20).read_bytes()
        (folder / "whole.mp4").unlink()
        path.write_bytes(whole[: len(whole) * 2 // 3])
    return path


BAD_INPUTS = {
    "missing": "does not exist: check the path",
    "directory": "is a directory; give a video file",
    "zero-byte": "is empty (0 bytes); give a video file",
    "text": "it is not a video FFmpeg can read, or it is damaged",
    "random": "it is not a video FFmpeg can read, or it is damaged",
    "audio-only": "has only audio; give a video",
    "truncated-mp4": "MP4/MOV without its index (moov box)",
}


@pytest.mark.parametrize("command", ["transcode", "bench"])
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_untouched(
    tmp_path: Path, kind: str, command: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    source = bad_input(kind, folder)
    before = digest(source) if source.is_file() else None
    out = tmp_path / "out"
    out.mkdir()
    args = [command, source] + ([out / "masks.mp4"] if command == "transcode" else [])
    result = invoke(*args)
    assert_one_line(result.stderr, result.exit_code, 2, BAD_INPUTS[kind])
    assert list(out.iterdir()) == []  # nothing written, not even a temporary file
    if before is not None:
        assert digest(source) == before


def test_bad_inputs_through_a_real_process_keep_to_one_line(tmp_path: Path) -> None:
    """Outside the test runner, FFmpeg's and the logger's own output must not add lines."""
    for kind in ("random", "truncated-mp4", "audio-only"):
        source = bad_input(kind, tmp_path)
        done = run_cli("transcode", source, tmp_path / f"{kind}.mkv")
        assert_one_line(done.stderr, done.returncode, 2, BAD_INPUTS[kind])


def test_truncated_matroska_keeps_the_frames_before_the_cut(tmp_path: Path) -> None:
    whole = make_video(tmp_path / "whole.mkv", frames=30, codec="ffv1", pix_fmt="gray")
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
    source = damage_packets(make_video(tmp_path / f"in{suffix}", frames=30), (10, 11, 12, 20))
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


def test_rotation_metadata_gives_upright_output(tmp_path: Path) -> None:
    # Coded 64x48 with a display matrix of 90 degrees: it is shown (and binarized) as 48x64.
    source = make_video(
        tmp_path / "phone.mp4",
        lossless=True,
        lumas=[noise_frame(48, 64, s) for s in range(4)],
        rotation=90,
    )
    out = tmp_path / "upright.mkv"
    result = invoke("transcode", source, out, "--codec", "ffv1")
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == 4 and (frames[0].width, frames[0].height) == (48, 64)
    assert frames[0].rotation == 0


@pytest.mark.parametrize(
    ("size", "encoded"), [((2, 2), (2, 2)), ((1, 1), (2, 2)), ((3, 2), (4, 2))]
)
def test_tiny_frames(tmp_path: Path, size: tuple[int, int], encoded: tuple[int, int]) -> None:
    source = make_video(tmp_path / "tiny.mkv", size=size, frames=5, codec="ffv1", pix_fmt="gray")
    out = tmp_path / "tiny.mp4"
    result = invoke("transcode", source, out, "--json")
    assert result.exit_code == 0, result.output
    frames = video_frames(out)
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == encoded
    assert json.loads(invoke("bench", source, "--json").stdout)["frames"] == 5


@pytest.mark.slow
def test_8k_frames(tmp_path: Path) -> None:
    width, height = 7680, 4320
    source = tmp_path / "8k.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        for index in range(2):
            gray = np.tile(noise_frame(270, 480, index), (16, 16))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(gray, format="gray")))
        container.mux(stream.encode(None))
    out = tmp_path / "8k.mp4"
    result = invoke("transcode", source, out, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 2
    frames = video_frames(out)
    assert len(frames) == 2 and (frames[0].width, frames[0].height) == (width, height)


def test_image_whose_header_claims_a_huge_size(tmp_path: Path) -> None:
    """A damaged BMP header (found by the fuzzer) made OpenCV raise instead of refusing."""
    import cv2

    page = tmp_path / "page.bmp"
    cv2.imwrite(str(page), noise_frame(48, 64))
    data = bytearray(page.read_bytes())
    data[22:26] = (2**31 - 1).to_bytes(4, "little")  # biHeight
    page.write_bytes(bytes(data))
    result = invoke("image", page, tmp_path / "mask.png")
    assert_one_line(result.stderr, result.exit_code, 2, "is not an image OpenCV can decode")
    assert not (tmp_path / "mask.png").exists()


# -- outputs -----------------------------------------------------------------------------------


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "clip.mkv", frames=10)


def test_output_in_a_missing_folder(clip: Path, tmp_path: Path) -> None:
    result = invoke("transcode", clip, tmp_path / "no" / "such" / "out.mp4")
    assert_one_line(result.stderr, result.exit_code, 2, "does not exist; create it first")


def test_output_folder_not_writable(clip: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root may write in any folder whatever its mode: use one no one can create files in.
        target = Path("/proc/masks.mp4")
        message = "cannot create a file in '/proc'"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "masks.mp4"
        message = "is not writable"
    result = invoke("transcode", clip, target)
    assert_one_line(result.stderr, result.exit_code, 2, message)
    assert not target.exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_device_is_written_in_place_and_fails_cleanly(clip: Path, tmp_path: Path) -> None:
    device = os.stat("/dev/full")
    # A device is written in place (a rename would replace the device node itself), so it
    # needs no -y; /dev/full answers every write with ENOSPC.
    result = invoke("transcode", clip, "/dev/full", "--format", "matroska")
    assert_one_line(
        result.stderr, result.exit_code, 2, "No space left on device", "free some space"
    )
    link = tmp_path / "masks.mkv"
    link.symlink_to("/dev/full")
    result = invoke("transcode", clip, link, "-y")  # through a symlink: the same
    assert_one_line(result.stderr, result.exit_code, 2, "No space left on device")
    assert link.is_symlink() and os.readlink(link) == "/dev/full"
    after = os.stat("/dev/full")
    assert (after.st_ino, after.st_rdev) == (device.st_ino, device.st_rdev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "masks.mkv"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_still_image_on_a_full_device_fails_cleanly(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    cv2.imwrite(str(page), document_frame(64, 64))
    link = tmp_path / "mask.png"
    link.symlink_to("/dev/full")
    result = invoke("image", page, link, "-y")
    assert_one_line(
        result.stderr, result.exit_code, 2, "No space left on device", "free some space"
    )
    assert link.is_symlink() and os.readlink(link) == "/dev/full"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_disk(clip: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "livethresh", "transcode", clip, "-"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=HANG,
        )
    assert_one_line(
        done.stderr, done.returncode, 2, "cannot write the output", "No space left on device"
    )


def test_stdout_reader_that_goes_away(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mkv", size=(320, 240), frames=200)
    child = subprocess.Popen(
        [sys.executable, "-m", "livethresh", "transcode", source, "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(1000)
    child.stdout.close()  # like `| head -c 1000`
    try:
        stderr = child.stderr.read().decode()
        child.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("transcode hung after its reader went away")
    assert_one_line(
        stderr, child.returncode, 2, "Broken pipe", "the reader of the output went away"
    )


def limit_file_size() -> None:
    """In the child: files may not grow past 200 kB, as on a disk that fills up mid-run.

    Python ignores SIGXFSZ, so a write past the limit fails with EFBIG like ENOSPC would.
    """
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_disk_filling_up_mid_run_leaves_no_broken_file(tmp_path: Path, suffix: str) -> None:
    source = make_video(
        tmp_path / "in.mkv", size=(320, 240), frames=60, codec="ffv1", pix_fmt="gray"
    )
    before = digest(source)
    out = tmp_path / f"out{suffix}"
    out.write_bytes(b"the previous version")
    done = run_cli("transcode", source, out, "-y", "--codec", "ffv1", preexec_fn=limit_file_size)
    assert_one_line(
        done.stderr,
        done.returncode,
        2,
        "cannot ",
        "File too large",
        "free some space or write to another disk",
    )
    # The half-written file is not put in place: the old one stays, and no temporary is left.
    assert out.read_bytes() == b"the previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", out.name]
    assert digest(source) == before


def test_symlinked_output_writes_where_the_link_points(clip: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.bin"  # the container comes from OUTPUT's name, not the target's
    real.write_bytes(b"old")
    link = tmp_path / "masks.mp4"
    link.symlink_to(real.name)
    result = invoke("transcode", clip, link, "-y")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and len(video_frames(real)) == 10
    with av.open(str(real)) as container:
        assert "mp4" in container.format.name


def test_output_codec_the_container_cannot_hold(clip: Path, tmp_path: Path) -> None:
    result = invoke("transcode", clip, tmp_path / "masks.ts", "--codec", "ffv1")
    assert_one_line(
        result.stderr,
        result.exit_code,
        2,
        "container 'mpegts' cannot hold 'ffv1' video; choose another codec",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv"]


# -- sources that fail -------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 device paths")
def test_missing_camera(tmp_path: Path) -> None:
    if Path("/dev/video9").exists():
        pytest.skip("this machine has a /dev/video9")
    for command in (["bench", "9"], ["transcode", "9", tmp_path / "cam.mkv"]):
        result = invoke(*command)
        assert_one_line(
            result.stderr,
            result.exit_code,
            2,
            "camera '9' (/dev/video9) not found",
            "check that it is connected",
        )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 device paths")
def test_busy_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = av.open

    def open_busy(target: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("format") == "v4l2":  # what the kernel answers when another app has it
            av.error.err_check(-errno.EBUSY, str(target))
        return real_open(target, *args, **kwargs)

    monkeypatch.setattr(livethresh.sources.pyav.av, "open", open_busy)
    result = invoke("bench", "0")
    assert_one_line(
        result.stderr,
        result.exit_code,
        2,
        "camera '0' (/dev/video0) is busy",
        "close the program using it",
    )


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
    stream = make_video(tmp_path / "feed.ts", frames=20, fmt="mpegts").read_bytes()
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
    data = make_video(tmp_path / "live.ts", frames=60, fmt="mpegts").read_bytes()
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
    """The default read timeout is 10 s; 1 s keeps the test short."""
    quick = functools.partial(livethresh.sources.open_source, timeout=1.0)
    monkeypatch.setattr(livethresh.sources, "open_source", quick)
    monkeypatch.setattr(livethresh.bench, "open_source", quick)


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


# -- signals -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("gap", [0.0, 0.01, 0.03, 0.1])
def test_second_ctrl_c_during_finalization_does_not_corrupt_the_output(
    tmp_path: Path, gap: float
) -> None:
    """SIGINT, then another one ``gap`` seconds later: during the shutdown, the encoder's flush,
    MP4's faststart rewrite (about 10 MB of lossless noise moved behind the index), the rename
    or the report. Whichever it hits, the file is whole and the exit code is 130.
    """
    source = tmp_path / "noise.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "gray"
        for index in range(300):
            noise = noise_frame(480, 640, index % 7)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noise, format="gray")))
        container.mux(stream.encode(None))
    before = digest(source)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livethresh",
            "transcode",
            source,
            out,
            "--json",
            "--crf",
            "0",
            "--method",
            "mean",
            "-b",
            "3",
            "--blur",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    wait_for_partial_output(tmp_path, 8_000_000, child)
    child.send_signal(signal.SIGINT)
    time.sleep(gap)
    child.send_signal(signal.SIGINT)
    try:
        stdout, stderr = child.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("transcode hung after two Ctrl-C")
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    stats = json.loads(stdout)
    assert stats["interrupted"] == "SIGINT"
    frames = video_frames(out)  # decodes from start to end: the file is whole
    assert 0 < len(frames) == stats["frames"] < 300
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == len(frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mkv", "out.mp4"]
    assert digest(source) == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_signal_forces_the_stop_only_until_finalization_begins() -> None:
    from livethresh.runs import stop_on_signals

    stops: list[int] = []
    finalizing = False
    received: list[int] = []
    with stop_on_signals(lambda: stops.append(1), received, lambda: finalizing):
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while not stops and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [signal.SIGINT] and stops == [1]  # the graceful stop
        finalizing = True
        os.kill(os.getpid(), signal.SIGTERM)  # noted, not raised: the trailer is being written
        time.sleep(0.05)
        finalizing = False
        with pytest.raises(KeyboardInterrupt):  # while waiting for threads: forced
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    # The run was ended by a signal: its caller is exiting, and a further one must not cut that.
    try:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    with stop_on_signals(lambda: None, [], lambda: False):
        pass  # a run that no signal ended gives the previous handlers back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def run_as_transcode_does(sink: Any) -> tuple[Any, BaseException | None, list[int]]:
    """200 small frames into ``sink`` under transcode's signal guard; the handlers are put
    back afterwards. Returns the stats, the error and the signals received."""
    from livethresh.config import ThresholdConfig
    from livethresh.pipeline import Pipeline
    from livethresh.runs import RunControl, run_to_the_end, stop_on_signals
    from tests.helpers import ArraySource

    pipeline = Pipeline(ArraySource(200), sink, ThresholdConfig(), queue_size=2)
    control, received = RunControl(), list[int]()
    control.attach(pipeline, sink)
    try:
        with stop_on_signals(control.stop, received, control.finalizing, writing=control.writing):
            stats, error = run_to_the_end(pipeline, sink, received)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    return stats, error, received


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_signal_during_a_write_leaves_the_count_equal_to_the_frames_written() -> None:
    """Two Ctrl-C while the sink writes a frame: the first stops the run, the second waits for
    the frame to be counted, so the run reports every frame the output holds."""
    from tests.helpers import RecordingSink

    class InterruptedTwice(RecordingSink):
        closing = False

        def write(self, frame: Any) -> None:
            super().write(frame)  # the frame is in the output now
            if frame.index == 5:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # both handlers run here, inside the write

    sink = InterruptedTwice()
    stats, error, received = run_as_transcode_does(sink)
    assert received == [signal.SIGINT] and error is None
    assert 6 <= stats.frames_written == len(sink.indices) < 200


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_third_signal_ends_a_write_that_hangs() -> None:
    """The second Ctrl-C waits for the frame being written; a write that hangs would keep it
    waiting, so a third one forces the stop at once."""
    from tests.helpers import RecordingSink

    class Hanging(RecordingSink):
        closing = False

        def write(self, frame: Any) -> None:
            if frame.index == 5:
                for _ in range(3):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.05)  # each handler runs here, inside the write
                time.sleep(30)  # the hang the third signal cuts short
            super().write(frame)

    sink = Hanging()
    started = time.monotonic()
    stats, error, received = run_as_transcode_does(sink)
    assert time.monotonic() - started < 10
    assert received == [signal.SIGINT] and error is None
    assert stats.frames_written == len(sink.indices) == 5


def test_frames_read_before_a_source_fails_all_reach_the_sink() -> None:
    """Nothing read is lost: a failing source ends the stream, the queues drain, then it raises."""
    from livethresh.config import ThresholdConfig
    from livethresh.errors import InputError
    from livethresh.pipeline import Pipeline
    from tests.helpers import ArraySource, RecordingSink

    for _ in range(20):  # the frames in flight differ from run to run
        sink = RecordingSink(delay=0.002)
        with pytest.raises(InputError, match="broke"):
            Pipeline(ArraySource(None, fail_at=9), sink, ThresholdConfig()).run()
        assert sink.indices == list(range(9)) and sink.closed == 1
