"""Shared fixtures: synthetic frames so no test needs a committed media file."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.clips import Picture, Tone, make_video
from tests.helpers import document_frame


@pytest.fixture
def doc_1080p() -> np.ndarray:
    return document_frame(1080, 1920)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 10-frame H.264 clip of a moving page, in Matroska."""
    return make_video(tmp_path / "clip.mkv", Picture(frames=10))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small archive for the batch tests: in/a.mp4 (with audio), sub/b.mkv, sub/deeper/c.mov,
    fake.mp4 (text), sub/cut.mp4 (truncated), notes.txt and .hidden/h.mp4 (not searched)."""
    root = tmp_path_factory.mktemp("archive") / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    make_video(root / "a.mp4", Picture(frames=12), audio=Tone("aac"))
    make_video(root / "sub" / "b.mkv", Picture(frames=10))
    make_video(root / "sub" / "deeper" / "c.mov", Picture(frames=8))
    (root / "fake.mp4").write_text("not a video\n")
    whole = make_video(root.parent / "whole.mp4", Picture(frames=10)).read_bytes()
    (root / "sub" / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("not searched\n")
    make_video(root / ".hidden" / "h.mp4", Picture(frames=2))
    return root


def start_xvfb() -> tuple[subprocess.Popen[bytes], str] | None:
    """Start Xvfb on a random unused display number; None if it did not come up."""
    number = random.SystemRandom().randrange(200, 5000)
    if any(os.path.exists(p) for p in (f"/tmp/.X{number}-lock", f"/tmp/.X11-unix/X{number}")):
        return None
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        # -noreset: by default the server resets when its last client leaves, and refuses
        # connections meanwhile, which would fail the next test's window at random.
        [
            "Xvfb",
            f":{number}",
            "-displayfd",
            str(write_fd),
            "-screen",
            "0",
            "1280x720x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as announced:
        ready = announced.readline().strip()  # written once the server accepts clients
    if ready != str(number) or server.poll() is not None:
        server.kill()
        server.wait(10)
        return None
    return server, f":{number}"


@pytest.fixture(scope="module")
def xvfb() -> Iterator[str]:
    """A private Xvfb server for this module's tests; yields its DISPLAY value."""
    if shutil.which("Xvfb") is None:
        message = "Xvfb is not installed (Debian package xvfb); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    for _ in range(5):
        started = start_xvfb()
        if started is not None:
            break
    else:
        pytest.fail("Xvfb did not start on any of 5 display numbers")
    server, display = started
    try:
        yield display
    finally:
        server.terminate()
        server.wait(10)
