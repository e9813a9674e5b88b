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
* timestamps are the input's: each frame keeps its ``pts`` in the input's time base, so a
  variable frame rate stays variable (only a missing or non-increasing ``pts`` is replaced by
  the next tick, because encoders refuse them);
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

import errno
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import urlsplit

import av
import cv2
import numpy as np

from livethresh.errors import ConfigError, OutputError
from livethresh.sources import ROTATE_CODES, plane_view, upright_rotation

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream

    from livethresh.sinks import ProcessedFrame
    from livethresh.sources import StreamInfo

log = logging.getLogger(__name__)

#: Container (FFmpeg muxer) chosen by an output file's extension.
CONTAINER_BY_EXTENSION = {
    ".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".webm": "webm", ".mov": "mov",
    ".avi": "avi", ".ts": "mpegts",
}
#: Containers that can be written to a pipe (no seeking back to patch a header).
STREAM_FORMATS = ("mpegts", "matroska", "yuv4mpegpipe")
#: Container for network outputs, by URL scheme.
FORMAT_BY_SCHEME = {"udp": "mpegts", "srt": "mpegts", "tcp": "mpegts", "rtmp": "flv",
                    "rtmps": "flv"}
STDOUT = "-"

# Defaults, measured on 1080p binary masks (see benchmarks/bench_transcode.py and the README):
# x264 ultrafast in yuv420p encodes a mask in about 5 ms at about 13 KiB, plays everywhere, and
# is 2.6x faster than superfast for 30 % more bytes.
DEFAULT_CODEC = "libx264"
DEFAULT_PRESET = "ultrafast"
#: Codec used when the container does not take the default one.
CODEC_BY_FORMAT = {"webm": "libvpx", "yuv4mpegpipe": "rawvideo"}
#: Pixel format used with a codec unless ``pix_fmt`` is given; everything else gets yuv420p.
PIX_FMT_BY_CODEC = {"ffv1": "gray", "rawvideo": "gray", "mjpeg": "yuvj420p", "ljpeg": "gray"}
DEFAULT_PIX_FMT = "yuv420p"
#: Codecs with a constant-quality ``crf`` option, and the value used when none is given.
DEFAULT_CRF = {"libx264": 23, "libx265": 28, "libvpx": 10, "libvpx-vp9": 32, "libsvtav1": 35}
#: Codecs with a speed ``preset`` option, and the one used when none is given.
DEFAULT_PRESET_BY_CODEC = {"libx264": DEFAULT_PRESET, "libx265": DEFAULT_PRESET,
                           "libsvtav1": "12"}
#: Options that make a codec fast enough for video rates, set unless the user overrides them.
CODEC_TUNING: dict[str, dict[str, str]] = {
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "b": "8M"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "b": "0"},
}
#: 8-bit formats whose first plane is the luma, and whose other planes are chroma: the mask can
#: be copied in as it is, with chroma held at 128.
LUMA_PLANE_FORMATS = frozenset({
    "gray", "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv440p",
    "yuvj440p", "yuv411p", "yuv410p", "nv12", "nv21", "nv16",
})
NEUTRAL_CHROMA = 128
#: ``cv2.LUT`` tables from the limited (MPEG) range to full range: luma 16..235 -> 0..255,
#: chroma 16..240 -> 0..255 around 128 (FFmpeg's range conversion, up to rounding).
_CODES = np.arange(256, dtype=np.float64)
LUMA_TO_FULL_RANGE = np.clip(np.rint((_CODES - 16) * 255 / 219), 0, 255).astype(np.uint8)
CHROMA_TO_FULL_RANGE = np.clip(np.rint((_CODES - 128) * 255 / 224 + 128), 0, 255).astype(
    np.uint8)
FALLBACK_RATE = Fraction(30)


@dataclass(frozen=True)
class EncodeSettings:
    """How masks are encoded; None means "the default for this container and codec".

    Attributes:
        codec: FFmpeg encoder name (``libx264``, ``ffv1``, ``libvpx-vp9``, ``mjpeg``...).
        crf: Constant-quality level for codecs that have one (lower is better and larger).
        preset: Speed preset for codecs that have one (``ultrafast`` ... ``veryslow``).
        pix_fmt: Encoded pixel format (``yuv420p``, ``gray``...).
        format: FFmpeg container name, overriding the one implied by the output.
        side_by_side: Write the input on the left and the mask on the right.
        threads: Encoder threads; 0 lets the codec decide.
        options: Extra codec options, passed to FFmpeg as they are.
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    format: str | None = None
    side_by_side: bool = False
    threads: int = 0
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodePlan:
    """Settings resolved against one output: what exactly will be written."""

    target: str | BinaryIO
    format: str
    codec: str
    pix_fmt: str
    options: dict[str, str]
    side_by_side: bool
    threads: int


class MuxCompanion(Protocol):
    """Other streams written into the same container as the video, such as copied audio.

    The encoder calls :meth:`add_streams` before the header is written, :meth:`advance` after
    each video frame so the companion's packets are interleaved as the video progresses, and
    :meth:`finish` before the trailer.
    """

    def add_streams(self, container: OutputContainer) -> None:
        """Add this companion's output streams."""

    def advance(self, container: OutputContainer, until: float) -> None:
        """Mux packets with a presentation time up to ``until`` seconds."""

    def finish(self, container: OutputContainer) -> None:
        """Mux everything that is left."""


def is_network_url(target: str) -> bool:
    """Whether ``target`` is a URL (``udp://...``) rather than a file path."""
    return "://" in target and len(urlsplit(target).scheme) > 1


def is_file_target(target: str) -> bool:
    """Whether an output goes to a file, rather than to stdout (``-``) or a network URL."""
    return target != STDOUT and not is_network_url(target)


def container_format(target: str | Path | BinaryIO, format: str | None = None) -> str:
    """The FFmpeg container for an output: ``format`` if given, else implied by the target.

    Raises:
        OutputError: Nothing implies a container, or ``format`` is not one FFmpeg can write.
    """
    if format is not None:
        try:
            av.format.ContainerFormat(format, "w")
        except (ValueError, av.error.FFmpegError):
            raise OutputError(
                f"unknown output format {format!r}; use e.g. {', '.join(STREAM_FORMATS)}, "
                "mp4, mov, webm or avi"
            ) from None
        return format
    if not isinstance(target, str | Path):
        raise OutputError("writing to a file object needs an explicit format")
    text = str(target)
    if text == STDOUT:
        return "mpegts"
    if isinstance(target, str) and is_network_url(text):
        scheme = urlsplit(text).scheme.lower()
        if scheme not in FORMAT_BY_SCHEME:
            raise OutputError(
                f"unsupported output URL scheme {scheme!r}; use "
                f"{', '.join(s + '://' for s in FORMAT_BY_SCHEME)} or a file path"
            )
        return FORMAT_BY_SCHEME[scheme]
    suffix = Path(text).suffix.lower()
    if suffix not in CONTAINER_BY_EXTENSION:
        raise OutputError(
            f"cannot tell the container of {text!r} from its extension {suffix or '(none)'!r}; "
            f"use {', '.join(sorted(set(CONTAINER_BY_EXTENSION)))} or pass a format"
        )
    return CONTAINER_BY_EXTENSION[suffix]


def plan_encoding(target: str | Path | BinaryIO, settings: EncodeSettings) -> EncodePlan:
    """Resolve the settings for one output and check that FFmpeg can do what they ask.

    Everything is checked here, before any input is opened, so that a bad option fails fast
    with one clear message and leaves no file behind.

    Raises:
        OutputError: The output's container cannot be determined or written.
        ConfigError: The codec, pixel format or options do not fit each other or the container.
    """
    fmt = container_format(target, settings.format)
    if target == STDOUT and fmt not in STREAM_FORMATS:
        raise OutputError(
            f"format {fmt!r} cannot be streamed to stdout; use one of {', '.join(STREAM_FORMATS)}"
        )
    codec = settings.codec or CODEC_BY_FORMAT.get(fmt, DEFAULT_CODEC)
    try:
        descriptor = av.codec.Codec(codec, "w")
    except (ValueError, av.error.FFmpegError):
        raise ConfigError(
            f"unknown video encoder {codec!r}; try libx264, ffv1, libvpx-vp9, mjpeg or mpeg4"
        ) from None
    if descriptor.type != "video":
        raise ConfigError(f"{codec!r} is not a video encoder")
    if not container_accepts(fmt, descriptor.canonical_name):
        raise ConfigError(f"container {fmt!r} cannot hold {codec!r} video; choose another codec")
    pix_fmt = settings.pix_fmt or PIX_FMT_BY_CODEC.get(codec, DEFAULT_PIX_FMT)
    supported = [f.name for f in descriptor.video_formats or ()]
    if supported and pix_fmt not in supported:
        raise ConfigError(
            f"encoder {codec!r} does not take pixel format {pix_fmt!r}; use one of "
            f"{', '.join(supported)}"
        )
    options = dict(CODEC_TUNING.get(codec, {}))
    if settings.crf is not None and codec not in DEFAULT_CRF:
        raise ConfigError(
            f"encoder {codec!r} has no --crf; it applies to {', '.join(DEFAULT_CRF)}"
        )
    if settings.preset is not None and codec not in DEFAULT_PRESET_BY_CODEC:
        raise ConfigError(
            f"encoder {codec!r} has no --preset; it applies to {', '.join(DEFAULT_PRESET_BY_CODEC)}"
        )
    if codec in DEFAULT_CRF:
        crf = DEFAULT_CRF[codec] if settings.crf is None else settings.crf
        if not 0 <= crf <= 63:
            raise ConfigError(f"invalid crf {crf}: must be from 0 to 63 (51 for x264)")
        options["crf"] = str(crf)
    if codec in DEFAULT_PRESET_BY_CODEC:
        options["preset"] = settings.preset or DEFAULT_PRESET_BY_CODEC[codec]
    options.update(settings.options)
    if settings.threads < 0:
        raise ConfigError(f"invalid encoder threads {settings.threads}: must be >= 0")
    resolved: str | BinaryIO = (
        "pipe:1" if target == STDOUT else str(target) if isinstance(target, str | Path) else target
    )
    return EncodePlan(resolved, fmt, codec, pix_fmt, options, settings.side_by_side,
                      settings.threads)


#: Containers whose codec list FFmpeg does not report (it answers for a few codecs only).
KNOWN_CONTAINER_CODECS = {
    "mpegts": frozenset({
        "h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "av1", "vp9", "dirac", "aac",
        "aac_latm", "mp2", "mp3", "ac3", "eac3", "opus", "dts", "truehd", "s302m",
    }),
    "yuv4mpegpipe": frozenset({"rawvideo", "wrapped_avframe"}),
}


def container_accepts(fmt: str, codec: str) -> bool:
    """Whether container ``fmt`` can hold ``codec`` (a codec name such as ``h264`` or ``aac``).

    When FFmpeg cannot tell, the answer is yes and the muxer has the last word.
    """
    if fmt in KNOWN_CONTAINER_CODECS:
        return codec in KNOWN_CONTAINER_CODECS[fmt]
    try:
        with av.open(NullWriter(), "w", format=fmt) as probe:
            accepted = set(probe.supported_codecs)
    except (ValueError, av.error.FFmpegError):
        return True
    return not accepted or codec in accepted


class NullWriter:
    """A file object that discards writes: lets FFmpeg describe a muxer without a file."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0


def write_failure(exc: BaseException) -> str:
    """Why writing failed, in words, with what to do for the usual causes (full disk, pipe)."""
    code = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None) or str(exc)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"{reason}; free some space or write to another disk"
    if code in (errno.EPIPE, errno.ECONNRESET):
        return f"{reason}; the reader of the output went away"
    return str(reason)


def padded_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """The encoded size: ``width x height`` rounded up to whole chroma samples of ``pix_fmt``."""
    fmt = av.VideoFormat(pix_fmt)
    # A format with no chroma planes reports its luma size, i.e. no subsampling.
    step_x = 64 // max(1, fmt.chroma_width(64))
    step_y = 64 // max(1, fmt.chroma_height(64))
    return -(-width // step_x) * step_x, -(-height // step_y) * step_y


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
        self._frame: av.VideoFrame | None = None
        self._size = (0, 0)  # content (width, height) of one picture, before side-by-side
        self._time_base = Fraction(1, 30)
        self._tick = 1
        self._last_pts: int | None = None
        # Input frame durations by output pts, until the encoder returns the frame's packet.
        self._durations: dict[int, int] = {}
        self._resized: np.ndarray | None = None
        self._resized_gray: np.ndarray | None = None
        # Upright copies of the input's two chroma planes, for rotated inputs.
        self._upright_chroma: list[np.ndarray | None] = [None, None]
        self._warned_resize = False
        self._closed = False

    # -- FrameSink ---------------------------------------------------------------------------

    def open(self, info: StreamInfo) -> None:
        """Open the container and configure the video stream for ``info``'s frames.

        Raises:
            OutputError: FFmpeg cannot open the output or the encoder refuses the settings.
        """
        plan = self.plan
        rate = info.frame_rate if info.frame_rate and info.frame_rate > 0 else FALLBACK_RATE
        self._time_base = info.time_base or 1 / rate
        # One frame, in the stream's time base: what a missing or repeated pts advances by.
        self._tick = max(1, round(1 / (rate * self._time_base)))
        self._size = (info.width, info.height)
        width = info.width * (2 if plan.side_by_side else 1)
        enc_width, enc_height = padded_size(width, info.height, plan.pix_fmt)
        where = "stdout" if plan.target == "pipe:1" else repr(plan.target)
        try:
            self.container = av.open(plan.target, "w", format=plan.format,
                                     options=self.container_options)
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot open output {where}: {exc}") from exc
        try:
            stream = self.container.add_stream(plan.codec, rate=rate, options=plan.options)
            assert isinstance(stream, av.VideoStream)  # plan.codec is a video encoder
            stream.width, stream.height, stream.pix_fmt = enc_width, enc_height, plan.pix_fmt
            stream.time_base = self._time_base
            context = stream.codec_context
            context.time_base = self._time_base
            # Masks are 0 and 255: signal full range so that players show exactly that.
            context.color_range = av.video.reformatter.ColorRange.JPEG
            context.thread_count = plan.threads
            context.thread_type = "AUTO"
            stream.codec_context.open()
            for companion in self.companions:
                companion.add_streams(self.container)
        except (av.error.FFmpegError, ValueError) as exc:
            self.container.close()
            self.container = None
            raise OutputError(
                f"encoder {plan.codec!r} refused {enc_width}x{enc_height} {plan.pix_fmt} "
                f"with options {plan.options}: {exc}"
            ) from exc
        self._stream = stream
        if (enc_width, enc_height) != (width, info.height):
            log.info("padding %dx%d to %dx%d for %s", width, info.height, enc_width, enc_height,
                     plan.pix_fmt)
        self._frame = self._blank_frame(enc_width, enc_height)

    def write(self, frame: ProcessedFrame) -> None:
        """Encode one mask with its input timestamp and mux what the encoder gives back."""
        if self._stream is None or self.container is None:
            raise OutputError("EncoderSink.write called before open or after close")
        picture = self._picture(frame)
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
            self._frame = None
            self._durations.clear()
            try:
                container.close()
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

    def _mux(self, packets: list[av.Packet[av.VideoStream]],
             container: OutputContainer | None = None) -> None:
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

    def _next_pts(self, frame: ProcessedFrame) -> int:
        """The frame's pts in the output time base, forced strictly increasing."""
        pts: int | None = None
        if frame.pts is not None:
            pts = frame.pts
            if frame.time_base is not None and frame.time_base != self._time_base:
                pts = round(frame.pts * frame.time_base / self._time_base)
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            fixed = 0 if self._last_pts is None else self._last_pts + self._tick
            if pts is not None:
                log.debug("frame %d: pts %d not after %s; using %d", frame.index, pts,
                          self._last_pts, fixed)
            pts = fixed
        self._last_pts = pts
        return pts

    def _blank_frame(self, width: int, height: int) -> av.VideoFrame:
        """A reusable encoder frame with neutral chroma, for the direct luma-plane path."""
        if self.plan.pix_fmt not in LUMA_PLANE_FORMATS:
            return av.VideoFrame(width, height, self.plan.pix_fmt)
        picture = av.VideoFrame(width, height, self.plan.pix_fmt)
        for plane in picture.planes[1:]:
            # A plane is a buffer; numpy's stubs accept only bytes-like types before 3.12.
            np.frombuffer(plane, np.uint8)[:] = NEUTRAL_CHROMA  # type: ignore[call-overload]
        picture.color_range = av.video.reformatter.ColorRange.JPEG
        return picture

    def _fit(self, image: np.ndarray, gray: bool) -> np.ndarray:
        """``image`` at the stream's size: a resolution change is scaled, never a new stream."""
        width, height = self._size
        if image.shape[:2] == (height, width):
            return image
        if not self._warned_resize:
            log.warning("resolution changed from %dx%d to %dx%d; scaling to the first size",
                        width, height, image.shape[1], image.shape[0])
            self._warned_resize = True
        attr = "_resized_gray" if gray else "_resized"
        out: np.ndarray | None = getattr(self, attr)
        if out is None:
            out = np.empty((height, width), np.uint8)
            setattr(self, attr, out)
        # Nearest keeps a mask binary; area keeps the input picture smooth.
        cv2.resize(image, (width, height), dst=out,
                   interpolation=cv2.INTER_AREA if gray else cv2.INTER_NEAREST)
        return out

    def _picture(self, frame: ProcessedFrame) -> av.VideoFrame:
        """The encoder frame for one mask; no conversion on the 8-bit planar path."""
        assert self._frame is not None
        width, height = self._size
        mask = self._fit(frame.mask, gray=False)
        gray = self._fit(frame.gray, gray=True) if self.plan.side_by_side else None
        if self.plan.pix_fmt not in LUMA_PLANE_FORMATS:
            content = mask if gray is None else np.hstack([gray, mask])
            padded = _pad_edges(content, self._frame.width, self._frame.height)
            # A fresh frame each time: the encoder may still hold the previous one.
            return av.VideoFrame.from_ndarray(padded, format="gray").reformat(
                format=self.plan.pix_fmt)
        picture = self._frame
        # Reuse the frame unless the encoder still references it; FFmpeg then reallocates and
        # copies, so chroma stays neutral and no picture in flight is overwritten.
        picture.make_writable()
        luma = _plane_view(picture, 0)
        if gray is None:
            luma[:height, :width] = mask
        else:
            _copy_to_full_range(gray, luma[:height, :width], LUMA_TO_FULL_RANGE
                                if _is_limited_range(frame.frame) else None)
            luma[:height, width:2 * width] = mask
            self._copy_input_chroma(frame, picture)
        _replicate_edges(luma, width * (2 if gray is not None else 1), height)
        return picture

    def _copy_input_chroma(self, frame: ProcessedFrame, picture: av.VideoFrame) -> None:
        """Give the input half its colors, turned upright and in full range like its luma.

        The input half's luma is the pipeline's gray, which is upright; the decoded frame's
        chroma is not, so it is rotated the same way first. A frame whose upright size is not
        the stream's (a resolution change, scaled) keeps neutral chroma. With an odd width,
        the last chroma column is shared by the input's last pixel and the mask's first, and
        it takes the input's color.
        """
        source = frame.frame
        width, height = self._size
        if len(picture.planes) < 3 or not isinstance(source, av.VideoFrame):
            return
        rotation = upright_rotation(source)
        upright = ((source.height, source.width) if rotation in (90, 270)
                   else (source.width, source.height))
        if upright != (width, height):
            return
        if _layout_name(source.format.name) != _layout_name(self.plan.pix_fmt):
            # Another layout. (Converting into a yuvj format expands the range already, and
            # _is_limited_range sees that; yuv and yuvj twins share a layout and are copied.)
            source = source.reformat(format=self.plan.pix_fmt)
        table = CHROMA_TO_FULL_RANGE if _is_limited_range(source) else None
        cols = picture.format.chroma_width(width)
        rows = picture.format.chroma_height(height)
        for index in (1, 2):
            src = _plane_view(source, index)
            if rotation:
                src = self._rotate_chroma(src, rotation, index - 1)
            dst = _plane_view(picture, index)[:rows, :cols]
            if src.shape[0] >= rows and src.shape[1] >= cols:
                _copy_to_full_range(src[:rows, :cols], dst, table)
            else:
                # 4:2:2-like subsampling turned by 90 degrees: the upright plane has the
                # other shape, so it is resampled to the chroma grid of the output.
                cv2.resize(src, (cols, rows), dst=dst, interpolation=cv2.INTER_LINEAR)
                if table is not None:
                    cv2.LUT(dst, table, dst=dst)

    def _rotate_chroma(self, plane: np.ndarray, rotation: int, slot: int) -> np.ndarray:
        """``plane`` turned clockwise by ``rotation`` degrees, into a reused buffer."""
        shape = plane.shape[::-1] if rotation in (90, 270) else plane.shape
        out = self._upright_chroma[slot]
        if out is None or out.shape != shape:
            out = self._upright_chroma[slot] = np.empty(shape, np.uint8)
        cv2.rotate(plane, ROTATE_CODES[rotation], dst=out)
        return out


def _plane_view(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A writable (rows, width) uint8 view of one plane, honouring its line stride."""
    plane = frame.planes[index]
    return plane_view(plane, plane.height, plane.width)


def _is_limited_range(frame: object) -> bool:
    """Whether ``frame``'s YUV samples are in the limited (MPEG) range.

    An unspecified range means limited for YUV, as in FFmpeg; ``yuvj`` formats, gray, RGB and
    palette formats are full range, and so is anything that is not a decoded frame.
    """
    if not isinstance(frame, av.VideoFrame):
        return False
    fmt = frame.format
    if fmt.is_rgb or fmt.has_palette or len(fmt.components) < 3 or fmt.name.startswith("yuvj"):
        return False
    return frame.color_range != av.video.reformatter.ColorRange.JPEG


def _layout_name(pix_fmt: str) -> str:
    """``pix_fmt`` without the ``j`` of the full-range twins: the plane layout's name."""
    return pix_fmt.replace("yuvj", "yuv", 1)


def _copy_to_full_range(src: np.ndarray, dst: np.ndarray, table: np.ndarray | None) -> None:
    """Copy ``src`` into ``dst``, through ``table`` when the samples need a range stretch."""
    if table is None:
        np.copyto(dst, src)
    else:
        cv2.LUT(src, table, dst=dst)


def _replicate_edges(luma: np.ndarray, width: int, height: int) -> None:
    """Fill padding columns and rows (odd sizes) with copies of the last real ones."""
    if luma.shape[1] > width:
        luma[:height, width:] = luma[:height, width - 1 : width]
    if luma.shape[0] > height:
        luma[height:] = luma[height - 1]


def _pad_edges(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape == (height, width):
        return image
    return np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1])), mode="edge")
