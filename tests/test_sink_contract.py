"""One contract, every sink: open, write, close; close twice; close after an error; a new size.

Each check takes a factory that builds a fresh sink and returns it with a function telling how
many frames the sink really delivered (decoded from the encoder's bytes, counted by the null
sink, shown by the window...). The window runs in a child process under a private Xvfb, as the
other window tests do, so that Qt never loads into the test process.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from livethresh.encode.plan import EncodeSettings
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.sinks import FrameSink, NullSink, ProgressSink, TeeSink
from livethresh.sinks.encoder import EncoderSink

#: A built sink, and how many frames it has delivered so far (checked after close).
Built = tuple[FrameSink, Callable[[], int]]
Factory = Callable[[], Built]

SIZE = (48, 64)
INFO = StreamInfo("contract", SIZE[1], SIZE[0], Fraction(30), Fraction(1, 1000))


def frame(index: int, shape: tuple[int, int] = SIZE) -> ProcessedFrame:
    gray = np.full(shape, 40 + index, np.uint8)
    mask = np.zeros(shape, np.uint8)
    mask[:, index % shape[1] :] = 255
    return ProcessedFrame(index, gray, mask, None, pts=index * 33, time_base=Fraction(1, 1000))


# -- the sinks ---------------------------------------------------------------------------------


def counted(make: Callable[[], Any], attribute: str = "frames") -> Factory:
    """The factory of a sink that counts the frames it delivered in ``attribute``."""

    def build() -> Built:
        sink = make()
        return sink, lambda: getattr(sink, attribute)

    return build


def tee_sink() -> Built:
    first, second = NullSink(), NullSink()
    tee = TeeSink([first, second])
    return tee, lambda: min(first.frames, second.frames)


def progress_sink() -> Built:
    reports: list[int] = []
    inner = NullSink()
    sink = ProgressSink(inner, reports.append)
    # Delivered means the inner sink got it and the last report says so.
    return sink, lambda: inner.frames if reports and reports[-1] == inner.frames else -1


def encoder_sink() -> Built:
    buffer = io.BytesIO()
    sink = EncoderSink(buffer, EncodeSettings(format="matroska", codec="ffv1", pix_fmt="gray"))

    def decoded() -> int:
        if not sink.closing or sink.frames == 0:
            return sink.frames
        buffer.seek(0)
        with av.open(buffer) as container:
            frames = list(container.decode(video=0))
        assert all((f.height, f.width) == SIZE for f in frames)  # a new size is scaled
        return len(frames)

    return sink, decoded


def broadcaster() -> Any:
    from livethresh.serve.broadcaster import Broadcaster

    return Broadcaster()


def window() -> Any:
    from livethresh.sinks.window import WindowSink

    return WindowSink("contract", wait_key=lambda ms: -1)


#: Every sink the contract runs over: one line per sink. A sink that counts what it delivered
#: in ``frames`` needs only ``counted(ItsClass)``.
SINKS: dict[str, Factory] = {
    "null": counted(NullSink),
    "tee": tee_sink,
    "progress": progress_sink,
    "encoder": encoder_sink,
    "broadcaster": counted(broadcaster, "published"),
}
#: Sinks that open a window: they run in a child process under a private Xvfb.
SINKS_ON_A_DISPLAY: dict[str, Factory] = {
    "window": counted(window),
}


# -- the contract ----------------------------------------------------------------------------


def open_write_close(build: Factory) -> None:
    sink, delivered = build()
    sink.open(INFO)
    for index in range(5):
        sink.write(frame(index))
    sink.close()
    assert delivered() == 5


def close_is_idempotent(build: Factory) -> None:
    sink, delivered = build()
    sink.open(INFO)
    sink.write(frame(0))
    sink.close()
    sink.close()
    assert delivered() == 1


def close_after_an_error(build: Factory) -> None:
    """The pipeline closes a sink after any failure: before open, or in the middle of a run."""
    sink, _ = build()
    sink.close()  # its open failed or never came: close still works
    sink, delivered = build()
    sink.open(INFO)
    sink.write(frame(0))
    # An empty picture: a sink that looks at pixels refuses it, which is allowed; what matters
    # is the close below.
    with contextlib.suppress(Exception):
        sink.write(frame(1, (0, 0)))
    sink.close()
    assert delivered() >= 1  # what came before the error is kept and finalized


def frame_size_change(build: Factory) -> None:
    sink, delivered = build()
    sink.open(INFO)
    sink.write(frame(0))
    sink.write(frame(1, (30, 40)))  # a resolution change mid-stream
    sink.write(frame(2))
    sink.close()
    assert delivered() == 3


CHECKS = {
    f.__name__: f
    for f in (open_write_close, close_is_idempotent, close_after_an_error, frame_size_change)
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("kind", list(SINKS))
def test_sink_contract(kind: str, check: str) -> None:
    CHECKS[check](SINKS[kind])


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("kind", list(SINKS_ON_A_DISPLAY))
def test_sink_contract_on_a_display(kind: str, check: str, xvfb: str) -> None:
    # OpenCV before PyAV, as livethresh itself imports them: with FFmpeg's libraries loaded
    # first, OpenCV's Qt window creation hangs.
    code = f"""
        import cv2
        from tests.test_sink_contract import CHECKS, SINKS_ON_A_DISPLAY
        CHECKS[{check!r}](SINKS_ON_A_DISPLAY[{kind!r}])
        print("kept the contract")
    """
    env = {**os.environ, "DISPLAY": xvfb}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "kept the contract" in done.stdout, done.stderr
