"""Where masks go: the :class:`FrameSink` protocol, the frame it receives, and the null sink.

The pipeline hands a sink one :class:`ProcessedFrame` at a time from its output thread. The
arrays in it belong to a pooled slot that is reused as soon as ``write`` returns, so a sink that
needs the pixels later must copy them. ``close`` is idempotent and, for encoders, flushes and
finalizes the output. The window sink lives in ``display`` because it needs a GUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from livethresh.sources import StreamInfo


@dataclass
class ProcessedFrame:
    """One binarized frame, as a sink sees it.

    Attributes:
        index: 0-based position among the frames read from the source.
        gray: The upright uint8 luma the mask was computed from (H x W).
        mask: The uint8 mask, 0 or 255 (H x W).
        frame: The decoded frame (for example an ``av.VideoFrame``), for sinks that need the
            color input or the original timestamps; None for sources without one.
        pts: Presentation timestamp in ``time_base`` units, or None if unknown.
        time_base: Unit of ``pts``, or None.
        decoded_at: ``time.perf_counter()`` when the frame left the decoder.
    """

    index: int
    gray: np.ndarray
    mask: np.ndarray
    frame: Any = None
    pts: int | None = None
    time_base: Fraction | None = None
    decoded_at: float = 0.0

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None if unknown."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)


class StopPipeline(Exception):
    """Raised by a sink to end the run cleanly, for example when the user presses ``q``."""


@runtime_checkable
class FrameSink(Protocol):
    """Something that consumes masks: a window, an encoder, a counter."""

    def open(self, info: StreamInfo) -> None:
        """Prepare for frames described by ``info``; called once, before the first write."""

    def write(self, frame: ProcessedFrame) -> None:
        """Consume one frame; raise :class:`StopPipeline` to end the run cleanly."""

    def close(self) -> None:
        """Flush and release everything; safe to call more than once."""


class NullSink:
    """Discards masks but counts them: for measuring the pipeline itself."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed = False

    def open(self, info: StreamInfo) -> None:
        self.frames = 0

    def write(self, frame: ProcessedFrame) -> None:
        self.frames += 1

    def close(self) -> None:
        self.closed = True


class TeeSink:
    """Feeds every frame to several sinks in order, such as an encoder and a preview window.

    Each sink is opened and closed once; ``close`` closes every sink even if one fails, and
    re-raises the first failure. A sink raising :class:`StopPipeline` ends the run after the
    sinks before it have taken the frame, so put the one that must not miss frames first.
    """

    def __init__(self, sinks: list[FrameSink]) -> None:
        self.sinks = list(sinks)

    def open(self, info: StreamInfo) -> None:
        for sink in self.sinks:
            sink.open(info)

    def write(self, frame: ProcessedFrame) -> None:
        for sink in self.sinks:
            sink.write(frame)

    def close(self) -> None:
        failure: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
