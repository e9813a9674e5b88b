"""One segment of a split transcode, as a worker runs it: its video only, into a piece file.

The worker opens the input, seeks to the keyframe at or before its warm-up (or its start),
binarizes from there and writes the masks of its own frames, those from its start up to the
next segment's, with their input timestamps unchanged (``keep_timestamps``) into a piece in
the NUT container, which keeps any time base exactly. The pipeline, the binarizer and the
encoder are those of a single run (:func:`livethresh.transcode.record`), so a mask is the same
bytes whichever process made it. A piece is written like any output (``atomic_output``): a
stopped or failed segment leaves nothing behind.

Nothing raises out of :func:`run_segment`: its result says ``done``, ``failed`` (with one line)
or ``interrupted``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from livethresh.batch.task import failure_line
from livethresh.errors import InputError
from livethresh.split.plan import Segment

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig
    from livethresh.encode.plan import EncodeSettings
    from livethresh.frames import ProcessedFrame, StreamInfo
    from livethresh.sinks import FrameSink
    from livethresh.sources import FrameSource

log = logging.getLogger(__name__)

Status = Literal["done", "failed", "interrupted"]

#: The pieces' container: it stores every stream's own time base, so timestamps stay exact.
PIECE_FORMAT = "nut"


@dataclass(frozen=True)
class SegmentJob:
    """Everything a worker needs for one segment (it is pickled to the worker)."""

    input: str
    piece: str
    segment: Segment
    config: ThresholdConfig
    settings: EncodeSettings
    decoder_threads: int | None = None


@dataclass(frozen=True)
class SegmentResult:
    """What became of one segment.

    Attributes:
        index: The segment's position.
        span: The input times it covers (``12.000-18.000 s``).
        status: ``done``, ``failed`` or ``interrupted``.
        frames: Frames written to its piece.
        warm_up: Frames binarized before its start, not written.
        first_pts: Input pts of its first frame written.
        wall_s: Seconds on its worker.
        node: The machine (and Ray node) that ran it.
        error: One line, or None.
        aspect: The sample aspect ratio its piece's encoder was given (the join sets it
            again: the piece's container keeps none for square pixels).
    """

    index: int
    span: str
    status: Status
    frames: int = 0
    warm_up: int = 0
    first_pts: int | None = None
    wall_s: float = 0.0
    node: str | None = None
    error: str | None = None
    aspect: Fraction | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("aspect")
        return data


class StopRequested(Exception):
    """The run is being stopped: the segment is abandoned."""


class SegmentWindow:
    """A source that yields the frames of one segment and its warm-up, and no others.

    Frames before ``warm_from`` (decoded from the keyframe the seek found) are dropped before
    the pipeline; the first frame at or after ``end`` ends the stream.
    """

    def __init__(self, source: Any, segment: Segment) -> None:
        self.source = source
        self.segment = segment
        self.info: StreamInfo = source.info
        self.reached_end = False
        self.first_seen: int | None = None

    @property
    def decode_errors(self) -> int:
        return int(self.source.decode_errors)

    @decode_errors.setter
    def decode_errors(self, count: int) -> None:
        self.source.decode_errors = count

    def frames(self) -> Iterator[Any]:
        segment = self.segment
        begin = segment.warm_from if segment.warm_from is not None else segment.start
        for frame in self.source.frames():
            pts = frame.pts
            if self.first_seen is None:
                self.first_seen = pts
                if begin is not None and (pts is None or pts > begin):
                    raise InputError(
                        f"the seek for the segment at {segment.describe()} landed after its "
                        "first frame: the input's index is wrong"
                    )
            if pts is None:
                raise InputError("a frame without a timestamp: the input cannot be cut")
            if segment.end is not None and pts >= segment.end:
                self.reached_end = True
                return
            if begin is not None and pts < begin:
                continue
            yield frame

    def interrupt(self) -> None:
        self.source.interrupt()

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HoldBack:
    """A sink that lets the warm-up frames (before ``start``) through the binarizer only."""

    def __init__(
        self, sink: FrameSink, start: int | None, should_stop: Callable[[], bool] | None
    ) -> None:
        self.sink = sink
        self.start = start
        self.should_stop = should_stop
        self.held = 0
        self.first_pts: int | None = None

    def open(self, info: StreamInfo) -> None:
        self.sink.open(info)

    def write(self, frame: ProcessedFrame) -> None:
        if self.start is not None and frame.pts is not None and frame.pts < self.start:
            self.held += 1
            if self.should_stop is not None and self.should_stop():
                raise StopRequested
            return
        if self.first_pts is None:
            self.first_pts = frame.pts
        self.sink.write(frame)

    def close(self) -> None:
        self.sink.close()


def run_segment(
    job: SegmentJob,
    *,
    node: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> SegmentResult:
    """Encode one segment's masks into its piece, and say how it went.

    Args:
        job: The segment, the settings and where its piece goes.
        node: The name to report (default: the host name).
        should_stop: Polled as frames are written; True abandons the segment.
        on_frames: Called with the frames written so far, a few times a second.
    """
    from livethresh.encode.plan import output_aspect_ratio
    from livethresh.sources import open_source
    from livethresh.transcode import record

    remote = node is not None
    node = node or socket.gethostname()
    started = time.perf_counter()
    segment = job.segment
    held: list[HoldBack] = []
    aspect: list[Fraction] = []

    def result(status: Status, frames: int = 0, error: str | None = None) -> SegmentResult:
        hold = held[0] if held else None
        return SegmentResult(
            segment.index,
            segment.describe(),
            status,
            frames,
            hold.held if hold else 0,
            hold.first_pts if hold else None,
            round(time.perf_counter() - started, 3),
            node,
            error,
            aspect[0] if aspect else None,
        )

    def progress(frames: int) -> None:
        if should_stop is not None and should_stop():
            raise StopRequested
        if on_frames is not None:
            on_frames(frames)

    def hold_back(sink: FrameSink) -> FrameSink:
        held.append(HoldBack(sink, segment.start, should_stop))
        return held[0]

    if should_stop is not None and should_stop():
        return result("interrupted", error="not started")
    extra: dict[str, Any] = {}
    if job.decoder_threads is not None:
        extra["decoder_threads"] = job.decoder_threads
    try:
        with open_source(job.input, live=False, **extra) as source:
            begin = segment.warm_from if segment.warm_from is not None else segment.start
            if begin is not None:
                source.seek(begin)
            window = SegmentWindow(source, segment)
            aspect.append(output_aspect_ratio(source.info))
            done = record(
                window,
                job.piece,
                job.config,
                job.settings,
                on_progress=progress,
                handle_signals=False,
                wrap_sink=hold_back,
            )
            if segment.end is not None and not window.reached_end:
                raise InputError(
                    "the input ended before the segment did: it may be damaged or cut short"
                )
    except (StopRequested, KeyboardInterrupt):
        return result("interrupted", error="interrupted: its piece was removed")
    except Exception as exc:
        log.debug("failure in segment %d", segment.index, exc_info=True)
        error = failure_line(exc, job.input, str(job.piece), node, remote)
        return result("failed", error=error)
    return result("done", done.frames)
