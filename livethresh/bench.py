"""Measuring the pipeline itself: a source through the binarizer into the null sink.

``livethresh bench`` reads a source as fast as it can (or paced, ``live``), binarizes every frame
and discards the masks, so the statistics show what decoding and binarizing cost and what
latency a live source would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from livethresh.config import ThresholdConfig
from livethresh.frames import SourceKind, StreamInfo
from livethresh.pipeline import Pipeline
from livethresh.sinks import NullSink
from livethresh.sources import open_source
from livethresh.stats import Stats

#: The default source: an FFmpeg test pattern, so a benchmark needs no camera and no file.
BENCH_SOURCE = "testsrc2=size=1920x1080:rate=30"
#: Frames read from a source that never ends (pattern, camera, live stream) unless told.
ENDLESS_FRAMES = 300


@dataclass(frozen=True)
class BenchResult:
    """What was measured: the source's description and the pipeline's statistics."""

    info: StreamInfo
    stats: Stats

    def describe_source(self) -> str:
        """One line: the source, its format and how it was read."""
        info = self.info
        rate = f"{float(info.frame_rate):g} fps" if info.frame_rate else "unknown rate"
        mode = "live (oldest frame dropped when behind)" if info.is_live else "as fast as possible"
        return f"{info.name}: {info.width}x{info.height} {info.pix_fmt} {rate}, {mode}"


def bench(
    source: str = BENCH_SOURCE,
    config: ThresholdConfig | None = None,
    *,
    live: bool = False,
    frames: int | None = None,
    size: tuple[int, int] | str | None = None,
    rate: float | Fraction | None = None,
    input_format: str | None = None,
) -> BenchResult:
    """Run ``source`` through the pipeline into the null sink and measure it.

    Args:
        source: Anything :func:`~livethresh.sources.open_source` reads.
        config: The threshold settings (the defaults when None).
        live: Pace a file or pattern at its native rate, as a camera would deliver it; stale
            frames are then dropped rather than queued. Cameras and streams are live anyway.
        frames: Stop after this many frames; None reads a file to its end and
            :data:`ENDLESS_FRAMES` from a source that never ends.
        size: Size to ask a camera or pattern for.
        rate: Frame rate to ask a camera or pattern for.
        input_format: Camera pixel format or codec.

    Raises:
        InputError: The source cannot be opened or read.
    """
    with open_source(
        source, live=live or None, size=size, rate=rate, input_format=input_format
    ) as opened:
        info = opened.info
        endless = info.kind is not SourceKind.FILE and (
            info.is_live or info.kind is SourceKind.LAVFI
        )
        if frames is None and endless:
            frames = ENDLESS_FRAMES
        stats = Pipeline(opened, NullSink(), config or ThresholdConfig(), max_frames=frames).run()
    return BenchResult(info, stats)
