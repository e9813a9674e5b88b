"""The output's clock: each mask keeps its input frame's time, shifted to start at 0.

Timestamps are the input's, shifted so that the output starts at 0 as FFmpeg does: each frame
keeps its ``pts`` in the input's time base, less the input time of the first frame or the
first companion (audio) packet, whichever is earlier, so a variable frame rate stays variable
and audio stays in sync. Only a missing or non-increasing ``pts`` is replaced by the next tick,
because encoders refuse them. ``keep_timestamps`` keeps them unshifted.

A container that stores a frame rate instead of timestamps (y4m) gets the stream's frame rate
as its time base, so its header says ``F30:1``. Each packet carries its input frame's duration,
so the output lasts as long as the input even when the last frames are sparse (encoders leave
packet durations at 0, and muxers would fill in one frame at the *average* rate, seconds long
for a sparse file).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import av

from livethresh.frames import FALLBACK_RATE

if TYPE_CHECKING:
    from livethresh.encode.tracks import MuxCompanion
    from livethresh.frames import ProcessedFrame, StreamInfo

log = logging.getLogger(__name__)


class OutputClock:
    """Stamps the masks of one output and the companions' origin, from the input's times.

    Args:
        companions: The streams muxed beside the video; they learn the origin from here.
        keep_timestamps: Keep the input's times as they are rather than starting at 0.
    """

    def __init__(self, companions: Sequence[MuxCompanion], keep_timestamps: bool) -> None:
        self.companions = companions
        self.keep_timestamps = keep_timestamps
        #: The output video stream's time base (the input's, when it had one).
        self.time_base = Fraction(1, 30)
        #: The frame rate the output stream declares.
        self.rate = FALLBACK_RATE
        # One frame in the time base: what a missing or repeated pts advances by.
        self._tick = 1
        self._last_pts: int | None = None
        # Input pts (output time base) that becomes 0; set by the first frame.
        self._origin: int | None = None
        # Input frame durations by output pts, until the encoder returns the frame's packet.
        self._durations: dict[int, int] = {}

    def start(self, info: StreamInfo, constant_rate: bool) -> None:
        """Take the stream's rate and time base; ``constant_rate`` for a y4m-like container."""
        rate = info.frame_rate
        self.rate = rate if rate and rate > 0 else FALLBACK_RATE
        # y4m writes the inverse of its time base as the frame rate.
        self.time_base = 1 / self.rate if constant_rate else (info.time_base or 1 / self.rate)
        self._tick = max(1, round(1 / (self.rate * self.time_base)))

    def stamp(self, picture: av.VideoFrame, frame: ProcessedFrame) -> int:
        """Give ``picture`` the output time of ``frame`` (and its duration); returns its pts."""
        pts = self._next_pts(frame)
        picture.pts = pts
        picture.time_base = self.time_base
        duration = self._input_duration(frame)
        if duration:
            picture.duration = duration
            self._durations[pts] = duration
        return pts

    def seconds(self, pts: int) -> float:
        """An output pts in seconds."""
        return float(pts * self.time_base)

    def fill_duration(self, packet: av.Packet[av.VideoStream]) -> None:
        """Give an encoded packet its input frame's duration, which the encoder dropped."""
        if packet.pts is not None and packet.pts in self._durations:
            # The packet is still in the codec time base; mux rescales pts and duration.
            packet.duration = self._durations.pop(packet.pts)

    def forget(self) -> None:
        """Drop the durations of frames whose packets will never come (the output closed)."""
        self._durations.clear()

    def _input_duration(self, frame: ProcessedFrame) -> int:
        """The decoded frame's duration in the output time base; 0 when it has none."""
        source = frame.frame
        if not isinstance(source, av.VideoFrame) or not source.duration or not source.time_base:
            return 0
        return max(1, round(source.duration * source.time_base / self.time_base))

    def _choose_origin(self, first: int | None) -> int:
        """The input pts (output time base) that becomes 0, and the companions' origin."""
        start = float(first * self.time_base) if first is not None else None
        origin = shared_origin(start, self.companions, self.keep_timestamps)
        for companion in self.companions:
            companion.set_origin(origin)
        # Rounded down, so the first frame never lands before 0.
        return math.floor(origin / self.time_base)

    def _next_pts(self, frame: ProcessedFrame) -> int:
        """The frame's pts in the output time base, forced strictly increasing."""
        pts: int | None = None
        if frame.pts is not None:
            pts = frame.pts
            if frame.time_base is not None and frame.time_base != self.time_base:
                pts = round(frame.pts * frame.time_base / self.time_base)
        if self._origin is None:
            self._origin = self._choose_origin(pts)
        if pts is not None:
            pts -= self._origin
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            fixed = 0 if self._last_pts is None else self._last_pts + self._tick
            if pts is not None:
                log.debug(
                    "frame %d: pts %d not after %s; using %d",
                    frame.index,
                    pts,
                    self._last_pts,
                    fixed,
                )
            pts = fixed
        self._last_pts = pts
        return pts


def shared_origin(
    first: float | None, companions: Sequence[MuxCompanion], keep_timestamps: bool
) -> float:
    """The input time in seconds that becomes 0 in an output whose video starts at ``first``.

    It is the earliest of the first frame and the companions' first packets, as FFmpeg takes
    the input's start time: every stream moves by the same amount, so they stay in sync. With
    ``keep_timestamps`` nothing moves (0). A split run's join takes the same origin.
    """
    if keep_timestamps:
        return 0.0
    starts = [first] if first is not None else []
    starts += [s for c in companions if (s := c.start_time()) is not None]
    return min(starts) if starts else 0.0
