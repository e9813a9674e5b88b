"""Encoding masks to video files, pipes and network streams: the :class:`EncoderSink`.

The sink is one more :class:`~livethresh.sinks.FrameSink`. It copies each mask straight into the
luma plane of a reusable encoder frame whose chroma planes stay constant (128, neutral gray), so
an 8-bit planar output format costs one memory copy per frame and no color conversion. Before
each copy the frame is made writable: if the encoder still references the previous picture (as
frame-threaded encoders do), FFmpeg gives the frame a fresh buffer instead of letting livethresh
overwrite a picture that is still being encoded.

Output rules, decided here once for every caller:

* the container follows the file extension (mp4, mkv, webm, mov, avi, ts), or ``format``;
* ``-`` writes a streamable container (``mpegts`` by default) to standard output;
* ``udp://``, ``srt://`` and ``tcp://`` get MPEG-TS, ``rtmp://`` gets FLV;
* timestamps are the input's, shifted so that the output starts at 0 as FFmpeg does: each
  frame keeps its ``pts`` in the input's time base, less the input time of the first frame or
  the first companion (audio) packet, whichever is earlier, so a variable frame rate stays
  variable and audio stays in sync (only a missing or non-increasing ``pts`` is replaced by
  the next tick, because encoders refuse them). ``keep_timestamps`` keeps them unshifted;
* a container that stores a frame rate instead of timestamps (y4m) gets the stream's frame
  rate as its time base, so its header says ``F30:1``; every output carries the input's
  sample aspect ratio (``A1:1`` when the input states none);
* each packet carries its input frame's duration, so the output lasts as long as the input even
  when the last frames are sparse (encoders leave packet durations at 0, and muxers would fill
  in one frame at the *average* rate, seconds long for a sparse file);
* with a 4:2:0 or 4:2:2 format, an odd width or height is padded by one pixel that repeats the
  last column or row, because those formats cannot describe half a chroma sample. ``gray``
  (and 4:4:4) keep the exact size;
* the output is flagged full range (masks are exactly 0 and 255), so with ``side_by_side`` an
  input in the limited (MPEG) range, the usual one for YUV video, is stretched to full range
  on the way in; its colors are turned upright with its luma when the input is rotated.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import av

from livethresh.errors import OutputError
from livethresh.files import write_failure
from livethresh.frames import FALLBACK_RATE
from livethresh.sinks.codecs import quiet_encoder_library
from livethresh.sinks.picture import PictureComposer
from livethresh.sinks.plan import (
    CONSTANT_RATE_FORMATS,
    EncodeSettings,
    output_aspect_ratio,
    padded_size,
    plan_encoding,
)
from livethresh.sinks.tracks import MuxCompanion
from livethresh.sinks.y4m import Y4MWriter

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream

    from livethresh.frames import ProcessedFrame, StreamInfo


log = logging.getLogger(__name__)


class EncoderSink:
    """Encodes masks (or input|mask pairs) into a container, with the input's timestamps.

    Args:
        target: A file path, ``-`` for standard output, a network URL, or a writable binary
            file object (with ``settings.format``).
        settings: Codec, quality and layout; see :class:`EncodeSettings`.
        companions: Other streams muxed beside the video (copied audio).
        container_options: Muxer options, e.g. ``{"movflags": "+faststart"}``.

    Raises:
        OutputError, ConfigError: From :func:`plan_encoding`, at construction.
    """

    def __init__(
        self,
        target: str | Path | BinaryIO,
        settings: EncodeSettings | None = None,
        *,
        companions: Sequence[MuxCompanion] = (),
        container_options: dict[str, str] | None = None,
    ) -> None:
        self.plan = plan_encoding(target, settings or EncodeSettings())
        self.companions = list(companions)
        self.container_options = dict(container_options or {})
        self.frames = 0
        self.container: OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._pictures: PictureComposer | None = None
        self._time_base = Fraction(1, 30)
        self._tick = 1
        self._last_pts: int | None = None
        # Input pts (output time base) that becomes 0; set by the first frame.
        self._origin: int | None = None
        # Input frame durations by output pts, until the encoder returns the frame's packet.
        self._durations: dict[int, int] = {}
        self._closed = False
        self._y4m: Y4MWriter | None = None

    # -- FrameSink ---------------------------------------------------------------------------

    def open(self, info: StreamInfo) -> None:
        """Open the container and configure the video stream for ``info``'s frames.

        Raises:
            OutputError: FFmpeg cannot open the output or the encoder refuses the settings.
        """
        plan = self.plan
        rate = info.frame_rate if info.frame_rate and info.frame_rate > 0 else FALLBACK_RATE
        # y4m writes the inverse of its time base as the frame rate.
        constant_rate = plan.format in CONSTANT_RATE_FORMATS
        self._time_base = 1 / rate if constant_rate else (info.time_base or 1 / rate)
        # One frame, in the stream's time base: what a missing or repeated pts advances by.
        self._tick = max(1, round(1 / (rate * self._time_base)))
        width = info.width * (2 if plan.side_by_side else 1)
        enc_width, enc_height = padded_size(width, info.height, plan.pix_fmt)
        where = "stdout" if plan.target == "pipe:1" else repr(plan.target)
        try:
            target: str | BinaryIO | Y4MWriter = plan.target
            if constant_rate:
                target = self._y4m = Y4MWriter(plan.target, output_aspect_ratio(info))
            self.container = av.open(
                target, "w", format=plan.format, options=self.container_options
            )
        except (av.error.FFmpegError, OSError) as exc:
            self._close_y4m()
            raise OutputError(f"cannot open output {where}: {exc}") from exc
        quiet_encoder_library(plan.codec)
        try:
            stream = self.container.add_stream(plan.codec, rate=rate, options=plan.options)
            assert isinstance(stream, av.VideoStream)  # plan.codec is a video encoder
            stream.width, stream.height, stream.pix_fmt = enc_width, enc_height, plan.pix_fmt
            stream.time_base = self._time_base
            context = stream.codec_context
            context.time_base = self._time_base
            # Masks are 0 and 255: signal full range so that players show exactly that.
            context.color_range = av.video.reformatter.ColorRange.JPEG
            context.sample_aspect_ratio = output_aspect_ratio(info)
            context.thread_count = plan.threads
            context.thread_type = "AUTO"
            stream.codec_context.open()
        except (av.error.FFmpegError, ValueError) as exc:
            self._abandon()
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            settings = ", ".join(f"{k}={v}" for k, v in plan.options.items()) or "no options"
            raise OutputError(
                f"encoder {plan.codec!r} refused {enc_width}x{enc_height} {plan.pix_fmt} "
                f"({settings}): {reason}; try other --crf, --encoder-preset or --pix-fmt "
                "values, or another --codec"
            ) from exc
        try:
            for companion in self.companions:
                companion.add_streams(self.container)
        except BaseException:
            self._abandon()
            raise
        self._stream = stream
        if (enc_width, enc_height) != (width, info.height):
            log.info(
                "padding %dx%d to %dx%d for %s",
                width,
                info.height,
                enc_width,
                enc_height,
                plan.pix_fmt,
            )
        self._pictures = PictureComposer(
            plan.pix_fmt, plan.side_by_side, (info.width, info.height), (enc_width, enc_height)
        )

    def write(self, frame: ProcessedFrame) -> None:
        """Encode one mask with its input timestamp and mux what the encoder gives back."""
        if self._stream is None or self.container is None:
            raise OutputError("EncoderSink.write called before open or after close")
        assert self._pictures is not None  # opened with the stream
        picture = self._pictures.compose(frame)
        pts = self._next_pts(frame)
        picture.pts = pts
        picture.time_base = self._time_base
        duration = self._input_duration(frame)
        if duration:
            picture.duration = duration
            self._durations[pts] = duration
        try:
            self._mux(self._stream.encode(picture))
            self.frames += 1
            if self.companions:
                now = float(pts * self._time_base)
                for companion in self.companions:
                    companion.advance(self.container, now)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot write the output: {write_failure(exc)}") from exc

    def close(self) -> None:
        """Flush the encoder, let companions finish, write the trailer; safe to call again.

        Raises:
            OutputError: Flushing or finalizing failed (the container is closed regardless).
        """
        if self._closed:
            return
        self._closed = True
        container, self.container = self.container, None
        if container is None:
            return
        try:
            if self._stream is not None:
                self._mux(self._stream.encode(None), container)
            for companion in self.companions:
                companion.finish(container)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot finalize the output: {write_failure(exc)}") from exc
        finally:
            self._stream = None
            self._pictures = None
            self._durations.clear()
            try:
                container.close()
                self._close_y4m()
            except (av.error.FFmpegError, OSError) as exc:
                raise OutputError(f"cannot finalize the output: {write_failure(exc)}") from exc

    def __enter__(self) -> EncoderSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun: the output is being (or has been) finalized."""
        return self._closed

    @property
    def time_base(self) -> Fraction:
        """The output video stream's time base (the input's, when it had one)."""
        return self._time_base

    # -- internals ---------------------------------------------------------------------------

    def _abandon(self) -> None:
        """Close an output that failed to open, before anything was written to it."""
        if self.container is not None:
            self.container.close()
            self.container = None
        self._close_y4m()

    def _close_y4m(self) -> None:
        if self._y4m is not None:
            self._y4m.close()

    def _mux(
        self, packets: list[av.Packet[av.VideoStream]], container: OutputContainer | None = None
    ) -> None:
        target = container or self.container
        assert target is not None
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                # The packet is still in the codec time base; mux rescales pts and duration.
                packet.duration = self._durations.pop(packet.pts)
            target.mux(packet)

    def _input_duration(self, frame: ProcessedFrame) -> int:
        """The decoded frame's duration in the output time base; 0 when it has none."""
        source = frame.frame
        if not isinstance(source, av.VideoFrame) or not source.duration or not source.time_base:
            return 0
        return max(1, round(source.duration * source.time_base / self._time_base))

    def _choose_origin(self, first: int | None) -> int:
        """The input pts (output time base) that becomes 0, and the companions' origin."""
        start = float(first * self._time_base) if first is not None else None
        origin = shared_origin(start, self.companions, self.plan.keep_timestamps)
        for companion in self.companions:
            companion.set_origin(origin)
        # Rounded down, so the first frame never lands before 0.
        return math.floor(origin / self._time_base)

    def _next_pts(self, frame: ProcessedFrame) -> int:
        """The frame's pts in the output time base, forced strictly increasing."""
        pts: int | None = None
        if frame.pts is not None:
            pts = frame.pts
            if frame.time_base is not None and frame.time_base != self._time_base:
                pts = round(frame.pts * frame.time_base / self._time_base)
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
    ``keep_timestamps`` nothing moves (0).
    """
    if keep_timestamps:
        return 0.0
    starts = [first] if first is not None else []
    starts += [s for c in companions if (s := c.start_time()) is not None]
    return min(starts) if starts else 0.0
