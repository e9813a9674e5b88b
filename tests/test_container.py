"""Opening an input (``livethresh.sources.container``): each input that cannot be opened
(missing, a folder, empty, not a video, audio only, an MP4 cut before its index, a missing or
busy camera) is one line on stderr, exit code 2, nothing written and the input untouched."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import livethresh.sources.pyav
from tests.clips import Picture, make_video
from tests.helpers import assert_one_line, digest, invoke, run_cli


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
        whole = make_video(folder / "whole.mp4", Picture(frames=20)).read_bytes()
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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="v4l2 device paths")
def test_a_missing_camera_is_one_line_in_bench_and_transcode(tmp_path: Path) -> None:
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
def test_a_busy_camera_says_to_close_the_program_using_it(monkeypatch: pytest.MonkeyPatch) -> None:
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
