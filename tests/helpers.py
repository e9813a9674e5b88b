"""What many test modules share: generated frames, fake sources and sinks, the CLI runners, the
error rule.

Frames are made at run time (no binary fixtures; clips are written by ``tests/clips.py``):
:func:`invoke` runs a command in-process, :func:`run_cli` in a real process as a user would,
and :func:`assert_one_line` checks the rule every bad input must follow.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from livethresh.binarize import Binarizer
from livethresh.cli import app
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError, OutputError
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.sinks import StopPipeline
from livethresh.synthetic import document_photo

#: Seconds any subprocess may take before a test calls it a hang.
HANG = 120


def run_binarizer(gray: np.ndarray, config: ThresholdConfig, threads: int = 1) -> np.ndarray:
    """The mask of one frame, from a Binarizer of ``threads`` bands (a copy it owns)."""
    with Binarizer(config, gray.shape, threads=threads) as binarize:
        return binarize(gray).copy()


def random_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), np.uint8)


def document_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Document-like content at any size, down to 1x1 (cropped from a rendered page)."""
    page, _ = document_photo(max(height, 64), max(width, 64), seed=seed)
    return np.ascontiguousarray(page[:height, :width])


def noise_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random gray inside the limited range (16-235), so coding it as video changes nothing."""
    return np.random.default_rng(seed).integers(16, 236, (height, width), np.uint8)


def invoke(*args: object, **kwargs: Any) -> Any:
    """Run ``livethresh ARGS...`` in this process (typer's runner; stderr kept apart)."""
    return CliRunner().invoke(app, [str(a) for a in args], **kwargs)


def run_cli(
    *args: object, timeout: float = HANG, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The command in a real process, as a user runs it, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "livethresh", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def as_from_a_terminal() -> None:
    """A child's ``preexec_fn``: the stop signals at their defaults, as a shell in a terminal
    starts a command. Tests started in the background by a script (``cmd &``) have SIGINT
    ignored, which a child inherits: Python then installs no KeyboardInterrupt handler, and a
    command that relies on it (``bench``) would ignore the test's Ctrl-C."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start_cli(*args: object, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The command in a real process, still running (for signals and streams), started as
    from a terminal (:func:`as_from_a_terminal`)."""
    if sys.platform != "win32":
        kwargs.setdefault("preexec_fn", as_from_a_terminal)
    return subprocess.Popen(
        [sys.executable, "-m", "livethresh", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def assert_one_line(stderr: str, code: int, expected_code: int, *texts: str) -> str:
    """The rule: the documented exit code and one line on stderr saying what and what to do."""
    assert code == expected_code, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for text in texts:
        assert text in lines[0], lines[0]
    return lines[0]


def one_line(result: Any) -> str:
    """The rule for bad input (exit 2, one line, no traceback) on an in-process run."""
    return assert_one_line(result.stderr, result.exit_code, 2)


def digest(path: Path) -> str:
    """The file's SHA-256: what shows an input was left untouched."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for_partial_output(
    folder: Path, min_bytes: int, process: subprocess.Popen[Any], timeout: float = 60
) -> None:
    """Wait until the temporary file a running ``transcode`` writes for ``folder/out.*`` holds
    ``min_bytes``, so that a signal sent next lands in the middle of the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = [p for p in folder.iterdir() if p.name.startswith(".out.")]
        if parts and parts[0].stat().st_size > min_bytes:
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail("the output never grew")


class ArraySource:
    """A fake source of numpy frames: counts, fails, paces and changes size on demand."""

    def __init__(
        self,
        count: int | None,
        shape: tuple[int, int] = (48, 64),
        *,
        live: bool = False,
        fail_at: int | None = None,
        delay: float = 0.0,
        shapes: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        self.count, self.fail_at, self.delay = count, fail_at, delay
        self.shapes = shapes or {}
        self.info = StreamInfo("fake", shape[1], shape[0], Fraction(30), is_live=live)
        self.shape = shape
        self.generator_closed = False
        self.images: dict[tuple[int, int, int], np.ndarray] = {}
        self.decode_errors = 0
        self.interrupted = 0

    def interrupt(self) -> None:
        self.interrupted += 1

    def image(self, index: int) -> np.ndarray:
        for start in sorted(self.shapes, reverse=True):
            if index >= start:
                shape = self.shapes[start]
                break
        else:
            shape = self.shape
        key = (*shape, index % 3)
        if key not in self.images:
            self.images[key] = document_frame(*shape, seed=index % 3)
        return self.images[key]

    def frames(self) -> Iterator[np.ndarray]:
        try:
            index = 0
            while self.count is None or index < self.count:
                if index == self.fail_at:
                    raise InputError("the fake source broke")
                if self.delay:
                    time.sleep(self.delay)
                yield self.image(index)
                index += 1
        finally:
            self.generator_closed = True

    def close(self) -> None:
        pass

    def __enter__(self) -> ArraySource:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class RecordingSink:
    """Keeps copies of what it was given; optionally slow, failing or stopping."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        fail_at: int | None = None,
        stop_at: int | None = None,
        on_write: Any = None,
    ) -> None:
        self.delay, self.fail_at, self.stop_at, self.on_write = delay, fail_at, stop_at, on_write
        self.indices: list[int] = []
        self.masks: list[np.ndarray] = []
        self.grays: list[np.ndarray] = []
        self.opened = 0
        self.closed = 0

    def open(self, info: StreamInfo) -> None:
        self.opened += 1

    def write(self, frame: ProcessedFrame) -> None:
        if self.on_write is not None:
            self.on_write(frame)
        if frame.index == self.fail_at:
            raise OutputError("the fake sink broke")
        if self.delay:
            time.sleep(self.delay)
        self.indices.append(frame.index)
        self.masks.append(frame.mask.copy())
        self.grays.append(frame.gray.copy())
        if len(self.indices) == self.stop_at:
            raise StopPipeline

    def close(self) -> None:
        self.closed += 1
