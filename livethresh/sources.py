"""Where frames come from: files, cameras, network streams and FFmpeg test patterns, via PyAV.

:func:`open_source` turns what the user typed into a :class:`FrameSource`. Every source is read
through PyAV, so one implementation, :class:`AVSource`, serves them all; what differs is how the
spec is opened (see :func:`parse_spec`):

=============================  ==============================================================
spec                           opened as
=============================  ==============================================================
``clip.mp4`` (any path)        a file: never dropped, read as fast as the pipeline goes
                               (unless ``live=True``: then paced, and dropped like a camera)
``rtsp://``, ``http://``...    a network stream, with open and read timeouts; live
``0``, ``/dev/video0``         a camera: v4l2 (Linux), avfoundation (macOS), dshow (Windows)
``dshow:video=Cam``            an explicit FFmpeg input device, ``FORMAT:TARGET``
``testsrc2``, ``testsrc2=...`` an FFmpeg lavfi pattern given by a known source name
``lavfi:GRAPH``                any lavfi filter graph, e.g. ``lavfi:mandelbrot=size=640x480``
=============================  ==============================================================

``live=True`` plays a file or pattern at its native frame rate, as ``ffmpeg -re`` does, so it
behaves like a camera.

:class:`LumaReader` turns a decoded frame into the upright uint8 gray image the binarizer
wants. For 8-bit planar YUV it is a numpy *view* of the Y plane (honouring its line stride): no
copy, no BGR round trip. Luma is kept **as coded**: limited-range video (Y in 16-235) is not
stretched to 0-255. Local methods compare a pixel with its neighbourhood, so the offset does not
change their masks, and the 219/255 contrast only makes ``C`` count 255/219 times as much
(``C=2`` on coded luma acts like 2.33 on stretched gray), at no per-frame cost.
RGB inputs use ``cv2.cvtColor`` like the article, which gives full-range gray.
"""

from __future__ import annotations

import errno
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import av
import cv2
import numpy as np

from livethresh.errors import InputError, InputNotFoundError

logger = logging.getLogger(__name__)

#: Seconds to wait for a network stream to open and for each read before giving up.
DEFAULT_TIMEOUT = 10.0
#: A paced file never waits longer than this for its next packet: a longer gap is a timestamp
#: discontinuity (or a pause in a variable-rate file) and restarts the pacing clock.
MAX_PACING_GAP = 2.0
#: FFmpeg lavfi video sources that may be named without the ``lavfi:`` prefix.
LAVFI_SOURCES = frozenset({
    "allrgb", "allyuv", "cellauto", "color", "colorchart", "colorspectrum", "gradients",
    "haldclutsrc", "life", "mandelbrot", "nullsrc", "pal75bars", "pal100bars", "rgbtestsrc",
    "sierpinski", "smptebars", "smptehdbars", "testsrc", "testsrc2", "yuvtestsrc", "zoneplate",
})
#: URL schemes of streams that arrive in real time (``http`` may be a plain file: see below).
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"})
_CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DEVICE = re.compile(r"^(v4l2|video4linux2|avfoundation|dshow|x11grab|gdigrab|kmsgrab|fbdev):(.+)$")


@dataclass(frozen=True)
class StreamInfo:
    """What a source knows about its video stream before the first frame.

    Attributes:
        name: The source as the user gave it (path, URL, ``camera:0``, ``testsrc2``...).
        width: Frame width after rotation, in pixels.
        height: Frame height after rotation, in pixels.
        frame_rate: Nominal frame rate, or None when unknown (or variable with no average).
        time_base: Unit of the frames' ``pts``, or None.
        is_live: True for cameras, network streams and paced files: frames arrive in real
            time and stale ones may be dropped. False for files: nothing is ever dropped.
        frame_count: Frames in the stream if known (files), else None.
        duration: Seconds, if known.
        codec: Decoder name, e.g. ``h264``.
        pix_fmt: Decoded pixel format, e.g. ``yuv420p``.
        rotation: Degrees the frames are rotated by to come out upright (0, 90, 180, 270).
        kind: How the source was opened: ``file``, ``url``, ``camera`` or ``lavfi``.
    """

    name: str
    width: int
    height: int
    frame_rate: Fraction | None = None
    time_base: Fraction | None = None
    is_live: bool = False
    frame_count: int | None = None
    duration: float | None = None
    codec: str = ""
    pix_fmt: str = ""
    rotation: int = 0
    kind: str = "file"


@runtime_checkable
class FrameSource(Protocol):
    """A stream of decoded video frames.

    ``frames()`` yields ``av.VideoFrame`` objects (or uint8 numpy images, which
    :class:`LumaReader` also accepts) until the stream ends. A live source yields each frame
    when it is due; a file source as fast as it is asked.
    """

    info: StreamInfo

    def frames(self) -> Iterator[Any]:
        """Yield decoded frames; raise :class:`InputError` if reading fails."""
        ...

    def close(self) -> None:
        """Release the input; safe to call more than once."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """How to open a spec with PyAV: what :func:`parse_spec` makes of the user's text.

    Attributes:
        name: The spec as given, for messages.
        kind: ``file``, ``url``, ``camera`` or ``lavfi``.
        target: What ``av.open`` gets as its file argument.
        format: The FFmpeg input format (``v4l2``, ``lavfi``...), or None to probe.
        options: FFmpeg input options (``video_size``, ``framerate``, ``input_format``...).
        live: Whether frames arrive in real time by default.
    """

    name: str
    kind: str
    target: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    live: bool = False


def parse_spec(
    spec: str,
    *,
    size: tuple[int, int] | None = None,
    rate: float | Fraction | None = None,
    input_format: str | None = None,
) -> SourceSpec:
    """Decide how to open ``spec``; no I/O except checking whether a file of that name exists.

    Args:
        spec: A path, URL, camera index or device path, ``FORMAT:TARGET`` device, lavfi source
            name (``testsrc2=size=640x480``) or ``lavfi:GRAPH``.
        size: ``(width, height)`` to ask a camera or pattern for.
        rate: Frames per second to ask a camera or pattern for.
        input_format: Camera pixel format or codec, e.g. ``mjpeg`` or ``yuyv422``.

    Raises:
        InputError: The spec is empty, or a camera index is given where FFmpeg needs a name.
    """
    spec = spec.strip()
    if not spec:
        raise InputError("the source is empty: give a file, URL, camera index or lavfi pattern")
    device = _DEVICE.match(spec)
    if spec.startswith("lavfi:") or (
        spec.split("=", 1)[0] in LAVFI_SOURCES and not Path(spec).exists()
    ):
        graph = spec.removeprefix("lavfi:")
        return SourceSpec(spec, "lavfi", _pattern_graph(graph, size, rate), "lavfi")
    if _URL.match(spec):
        scheme = spec.split(":", 1)[0].lower()
        return SourceSpec(spec, "url", spec, live=scheme in LIVE_SCHEMES)
    options = _camera_options(size, rate, input_format)
    if device:
        fmt = "v4l2" if device.group(1) == "video4linux2" else device.group(1)
        return SourceSpec(spec, "camera", device.group(2), fmt, options, live=True)
    if spec.isdigit() or re.fullmatch(r"/dev/video\d+", spec):
        return _camera_spec(spec, options)
    return SourceSpec(spec, "file", spec)


def _pattern_graph(
    graph: str, size: tuple[int, int] | None, rate: float | Fraction | None
) -> str:
    """Append ``size``/``rate`` to a single-source lavfi graph that does not set them already."""
    extra = []
    if size is not None:
        extra.append(f"size={size[0]}x{size[1]}")
    if rate is not None:
        extra.append(f"rate={rate}")
    if not extra:
        return graph
    if not re.fullmatch(r"[a-z0-9_]+(=[^,;\[\]]*)?", graph):
        raise InputError(
            f"--size and --rate apply to a single lavfi source, not to the graph {graph!r}: "
            "write them into the graph instead"
        )
    name, _, args = graph.partition("=")
    return f"{name}={':'.join([*extra, args] if args else extra)}"


def _camera_options(
    size: tuple[int, int] | None, rate: float | Fraction | None, input_format: str | None
) -> dict[str, str]:
    options: dict[str, str] = {}
    if size is not None:
        options["video_size"] = f"{size[0]}x{size[1]}"
    if rate is not None:
        options["framerate"] = str(rate)
    if input_format:
        # v4l2 calls it input_format (a codec such as mjpeg or a pixel format); the others
        # only know pixel formats.
        key = "input_format" if sys.platform.startswith("linux") else "pixel_format"
        options[key] = input_format
    return options


def _camera_spec(spec: str, options: dict[str, str]) -> SourceSpec:
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    fmt = _CAMERA_FORMATS.get(platform)
    if fmt is None:
        raise InputError(f"cameras are not supported on {sys.platform}: give a file or URL")
    if fmt == "v4l2":
        target = spec if spec.startswith("/dev/") else f"/dev/video{spec}"
    elif fmt == "avfoundation":
        target = spec.removeprefix("/dev/video")
    else:
        raise InputError(
            f"on Windows a camera is opened by name, not index {spec!r}: use "
            "dshow:video=NAME (list them with: ffmpeg -list_devices true -f dshow -i dummy)"
        )
    return SourceSpec(spec, "camera", target, fmt, options, live=True)


def open_source(
    spec: str,
    *,
    live: bool | None = None,
    size: tuple[int, int] | None = None,
    rate: float | Fraction | None = None,
    input_format: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    decoder_threads: int | None = None,
) -> AVSource:
    """Open a video source of any kind (see the module docstring for the accepted specs).

    Args:
        spec: What to read.
        live: Force real-time behaviour: True paces a file or pattern at its native rate (like
            ``ffmpeg -re``) and lets the pipeline drop stale frames. None decides by kind:
            cameras and streaming URLs are live, files and patterns are not.
        size: ``(width, height)`` for cameras and patterns.
        rate: Frames per second for cameras and patterns.
        input_format: Camera pixel format or codec (``mjpeg``, ``yuyv422``...).
        timeout: Seconds to wait for a network stream to open, and for each read.
        decoder_threads: Codec threads (``thread_type="AUTO"``: frame and slice threading).
            None picks :func:`default_decoder_threads`.

    Returns:
        An open source; use it as a context manager or call ``close()``.

    Raises:
        InputNotFoundError: A file or camera does not exist.
        InputError: The input cannot be opened or holds no video stream.
    """
    parsed = parse_spec(spec, size=size, rate=rate, input_format=input_format)
    if parsed.kind == "file" and not Path(parsed.target).exists():
        raise InputNotFoundError(f"input {spec!r} does not exist: check the path")
    return AVSource(parsed, live=live, timeout=timeout, decoder_threads=decoder_threads)


def default_decoder_threads(live: bool) -> int:
    """Codec threads for a source: 1 when live, else 0 (FFmpeg's choice: cores + 1).

    A live source has a whole frame period to decode each frame; one decoder thread leaves
    the cores free to binarize the previous frame at once, which is what keeps latency low,
    and frame threading would also make the decoder hold frames back. A file is read as fast
    as possible: there FFmpeg's automatic count measured a few percent faster than 2 threads
    and clearly faster than 1 on 2 cores (``benchmarks/bench_pipeline.py`` compares them).
    """
    return 1 if live else 0


class AVSource:
    """A :class:`FrameSource` read through PyAV: files, URLs, cameras and lavfi patterns.

    The first frame is decoded when the source is opened, so that :attr:`info` holds the true
    size, pixel format and rotation (display-matrix side data only appears on frames) and so
    that a camera that cannot deliver fails at once, not in a thread.
    """

    def __init__(
        self,
        spec: SourceSpec,
        *,
        live: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        decoder_threads: int | None = None,
    ) -> None:
        self.spec = spec
        self._paced = bool(live) and spec.kind in ("file", "lavfi")
        self._timeout = timeout
        #: Packets the decoder rejected as damaged; they are skipped and the run goes on.
        self.decode_errors = 0
        self._delivered = 0
        self._container = _open_container(spec, timeout)
        try:
            if not self._container.streams.video:
                what = "only audio" if self._container.streams.audio else "no video stream"
                raise InputError(f"{spec.name!r} has {what}; give a video")
            stream = self._container.streams.video[0]
            if stream.codec_context is None:
                codec = getattr(stream, "codec_tag", "") or "unknown"
                raise InputError(
                    f"{spec.name!r} has a video stream whose codec ({codec}) FFmpeg cannot "
                    "decode: the file may be damaged, or re-encode it (e.g. to H.264)"
                )
            stream.thread_type = "AUTO"
            is_live = spec.live if live is None else live
            if decoder_threads is None:
                decoder_threads = default_decoder_threads(is_live)
            stream.codec_context.thread_count = max(0, decoder_threads)
            self._stream = stream
            self._pace_origin: tuple[float, float] | None = None
            self._interrupted = threading.Event()
            self._packets_read = 0
            self._decoded = self._decode_packets()
            first = self._next_frame()
            if first is None:
                damaged = f" ({self.decode_errors} damaged packets)" if self.decode_errors else ""
                raise InputError(f"{spec.name!r} holds no decodable video frames{damaged}")
            self._first: av.VideoFrame | None = first
            self.info = self._describe(first, is_live)
        except BaseException:
            self._container.close()
            raise
        self._closed = False

    def _describe(self, first: av.VideoFrame, is_live: bool) -> StreamInfo:
        stream = self._stream
        rotation = upright_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        return StreamInfo(
            name=self.spec.name,
            width=width,
            height=height,
            frame_rate=Fraction(rate) if rate else None,
            time_base=Fraction(stream.time_base) if stream.time_base else None,
            is_live=is_live,
            frame_count=stream.frames or None,
            duration=duration,
            codec=stream.codec_context.name,
            pix_fmt=first.format.name,
            rotation=rotation,
            kind=self.spec.kind,
        )

    def _next_frame(self) -> av.VideoFrame | None:
        try:
            return next(self._decoded)
        except StopIteration:
            return None
        except av.FFmpegError as exc:
            raise InputError(self._read_failure(exc)) from exc

    def _read_failure(self, exc: av.FFmpegError) -> str:
        """What to tell the user when reading stops with an error: what, after how much."""
        name, kind = self.spec.name, self.spec.kind
        reason = _reason(exc)
        if kind == "url" and reason.endswith("(timed out)"):
            reason = f"no data for {self._timeout:g} s (read timeout)"
        if not self._delivered:
            return f"cannot read {name!r}: {reason}"
        hint = {
            "camera": "check that the camera is still connected",
            "url": "check the stream and the network",
            "file": "the file may be damaged or cut short",
        }.get(kind, "")
        return (f"{name!r} stopped after {self._delivered} frames: {reason}"
                + (f"; {hint}" if hint else ""))

    def _skip_damaged(self, exc: av.FFmpegError) -> None:
        self.decode_errors += 1
        # Logged once per source; the count is in the run's stats (``decode_errors``).
        level = logging.INFO if self.decode_errors == 1 else logging.DEBUG
        logger.log(level, "%r: skipping a damaged packet (%s); the run goes on",
                   self.spec.name, _reason(exc))

    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        """Demux and decode; when paced, wait before each packet until it is due."""
        for packet in self._container.demux(self._stream):
            if self._paced and packet.size:
                self._wait_until(self._packet_time(packet))
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError as exc:
                self._skip_damaged(exc)
                continue
            for frame in decoded:
                if self._paced and not packet.size and frame.time is not None:
                    # The final flush releases the frames the decoder held back for
                    # reordering all at once: give each its own time slot.
                    self._wait_until(frame.time)
                yield frame

    def _packet_time(self, packet: Any) -> float:
        self._packets_read += 1
        if packet.dts is not None and packet.time_base is not None:
            return float(packet.dts * packet.time_base)
        rate = self.info.frame_rate if hasattr(self, "info") else None
        return (self._packets_read - 1) / float(rate or 30)

    def _wait_until(self, when: float) -> None:
        """Sleep until stream time ``when`` is due, as ``ffmpeg -re`` does with packets.

        Pacing packets (by their decoding timestamp) rather than decoded frames means that a
        frame is decoded when it "arrives", as from a camera, instead of ahead of time while
        the previous frame is still being binarized; so the two do not compete for the cores.
        A jump of more than :data:`MAX_PACING_GAP` seconds and two frame intervals (a
        timestamp discontinuity, a long pause in a variable-rate file) restarts the clock
        instead of waiting it out. The wait ends at once when :meth:`interrupt` is called.
        """
        now = time.perf_counter()
        if self._pace_origin is None:
            self._pace_origin = (now, when)
            return
        clock, origin = self._pace_origin
        delay = clock + (when - origin) - now
        rate = getattr(self, "info", None) and self.info.frame_rate
        longest = max(MAX_PACING_GAP, 2 / float(rate)) if rate else MAX_PACING_GAP
        if delay > longest or when < origin:
            self._pace_origin = (now, when)
        elif delay > 0:
            self._interrupted.wait(delay)

    def interrupt(self) -> None:
        """Stop waiting for the next frame to be due (from any thread); frames then end."""
        self._interrupted.set()

    def frames(self) -> Iterator[av.VideoFrame]:
        """Yield decoded frames; when playing a file live, each one when it is due."""
        frame, self._first = self._first, None
        # The clock starts now, not at open time: the first frame is due at once, and a packet
        # whose timestamp is t seconds later than it is due t seconds from now.
        if frame is not None and frame.time is not None:
            self._pace_origin = (time.perf_counter(), frame.time)
        else:
            self._pace_origin = None
        while frame is not None and not self._interrupted.is_set():
            self._delivered += 1
            yield frame
            frame = self._next_frame()

    def close(self) -> None:
        """Close the input; safe to call more than once."""
        if not getattr(self, "_closed", True):
            self._closed = True
            self._first = None
            self._container.close()

    def __enter__(self) -> AVSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_container(spec: SourceSpec, timeout: float) -> Any:
    kwargs: dict[str, Any] = {"format": spec.format, "options": dict(spec.options)}
    if spec.kind == "url":
        kwargs["timeout"] = (timeout, timeout)
    try:
        return av.open(spec.target, **kwargs)
    except av.error.FileNotFoundError as exc:
        if spec.kind == "camera":
            raise InputNotFoundError(
                f"camera {spec.name!r} ({spec.target}) not found: check that it is connected "
                "(`livethresh devices` lists the cameras), or try a test pattern: testsrc2"
            ) from exc
        raise InputNotFoundError(f"input {spec.name!r} does not exist: check the path") from exc
    except av.FFmpegError as exc:
        if spec.kind == "camera" and exc.errno in (errno.EBUSY, errno.EACCES, errno.EPERM):
            what = "is busy: close the program using it" if exc.errno == errno.EBUSY else (
                "cannot be accessed: check your permissions (e.g. the video group)")
            raise InputError(f"camera {spec.name!r} ({spec.target}) {what}") from exc
        if spec.kind == "file":
            raise InputError(_unreadable_file(spec.name, Path(spec.target), exc)) from exc
        raise InputError(f"cannot open {spec.name!r}: {_reason(exc)}") from exc
    except ValueError as exc:  # an input format this FFmpeg build lacks
        raise InputError(f"cannot open {spec.name!r}: {exc}") from exc


def _unreadable_file(name: str, path: Path, exc: av.FFmpegError) -> str:
    """Why FFmpeg cannot open a file that exists, and what the user can do about it."""
    if path.is_dir():
        return f"input {name!r} is a directory; give a video file"
    try:
        size = path.stat().st_size
    except OSError:
        size = -1
    if size == 0 and path.is_file():
        return f"input {name!r} is empty (0 bytes); give a video file"
    if _mp4_without_index(path):
        return (f"cannot open {name!r}: it is an MP4/MOV without its index (moov box), as when "
                "a recording is cut short before it is finalized; it cannot be read as it is: "
                "re-record it, or record to .mkv or .ts, which stay readable when cut")
    if isinstance(exc, av.error.InvalidDataError):
        return (f"cannot open {name!r}: {_reason(exc)}: it is not a video FFmpeg can read, or "
                "it is damaged")
    return f"cannot open {name!r}: {_reason(exc)}"


def _mp4_without_index(path: Path) -> bool:
    """Whether ``path`` starts like an MP4/MOV (``ftyp``) but has no top-level ``moov`` box.

    Only the box headers are read (a seek per box), so it is cheap on any file size.
    """
    try:
        with path.open("rb") as stream:
            size = path.stat().st_size
            offset = 0
            seen: list[bytes] = []
            while offset + 8 <= size and len(seen) < 1024:
                stream.seek(offset)
                header = stream.read(16)
                length = int.from_bytes(header[:4], "big")
                kind = header[4:8]
                if length == 1 and len(header) == 16:
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:
                    length = size - offset
                if length < 8 or not kind.isalnum():
                    break
                seen.append(kind)
                offset += length
    except OSError:
        return False
    return bool(seen) and seen[0] == b"ftyp" and b"moov" not in seen


def _reason(exc: Exception) -> str:
    """FFmpeg's message without the errno prefix and the repeated file name."""
    message = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, av.error.ExitError | TimeoutError) or getattr(exc, "errno", 0) in (
        errno.ETIMEDOUT,
        errno.EAGAIN,
    ):
        return f"{message} (timed out)"
    return str(message)


def upright_rotation(frame: Any) -> int:
    """Clockwise degrees (0, 90, 180, 270) that bring ``frame`` upright.

    PyAV reports the display matrix as a counter-clockwise angle; FFmpeg's own autorotate
    turns the picture clockwise by the negated angle, and so does this.
    """
    angle = getattr(frame, "rotation", 0) or 0
    return round(-angle / 90) * 90 % 360


#: cv2.rotate codes that turn a frame upright, by the rotation in degrees.
ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
_RGB_TO_GRAY = {
    # format -> (bytes per pixel, first byte of the colour triple, conversion)
    "rgb24": (3, 0, cv2.COLOR_RGB2GRAY),
    "bgr24": (3, 0, cv2.COLOR_BGR2GRAY),
    "rgba": (4, 0, cv2.COLOR_RGBA2GRAY),
    "bgra": (4, 0, cv2.COLOR_BGRA2GRAY),
    "rgb0": (4, 0, cv2.COLOR_RGBA2GRAY),
    "bgr0": (4, 0, cv2.COLOR_BGRA2GRAY),
    "argb": (4, 1, cv2.COLOR_RGB2GRAY),
    "abgr": (4, 1, cv2.COLOR_BGR2GRAY),
    "0rgb": (4, 1, cv2.COLOR_RGB2GRAY),
    "0bgr": (4, 1, cv2.COLOR_BGR2GRAY),
}
#: Packed 4:2:2 formats: byte offset of the first Y sample (Y every other byte).
_PACKED_YUV = {"yuyv422": 0, "yvyu422": 0, "uyvy422": 1}


def plane_view(plane: Any, height: int, width: int, dtype: Any = np.uint8, step: int = 1,
               offset: int = 0) -> np.ndarray:
    """A numpy view of a PyAV plane (no copy), honouring its padded line stride."""
    itemsize = np.dtype(dtype).itemsize
    return np.ndarray(
        (height, width), dtype, buffer=plane, offset=offset,
        strides=(plane.line_size, itemsize * step),
    )


def _is_planar_luma(fmt: Any) -> bool:
    """Whether plane 0 of ``fmt`` holds only luma, one sample after another."""
    first = fmt.components[0]
    return (
        first.is_luma and first.plane == 0 and not fmt.has_palette and not fmt.is_bayer
        and not fmt.is_bit_stream and (fmt.is_planar or fmt.name.startswith("gray"))
        and (first.bits == 8 or not fmt.is_big_endian)
    )


class LumaReader:
    """Turns decoded frames into upright uint8 gray images, copying only when it must.

    ``reader.shape(frame)`` gives the upright ``(height, width)``; ``reader(frame, out)``
    returns either a view of the frame's own luma plane (8-bit planar YUV or gray, upright) or
    ``out`` filled with the converted pixels (every other format, or a rotated frame). A reader
    keeps one scratch buffer per input size, so steady-state conversion allocates nothing
    frame-sized; use one reader per thread.

    Conversions: 9 to 16-bit YUV luma is rounded to 8 bits keeping its coded range (10-bit 64
    becomes 16), high-depth gray is scaled so that its top code is 255; RGB goes through
    ``cv2.cvtColor`` as in the article; ``pal8`` maps its palette the same way; packed 4:2:2
    takes every other byte; anything else is converted to gray (or RGB) by FFmpeg's swscale.
    """

    def __init__(self) -> None:
        self._scratch: np.ndarray | None = None
        self._palette_lut = np.empty((1, 256), np.uint8)

    @staticmethod
    def shape(frame: Any) -> tuple[int, int]:
        """Upright ``(height, width)`` of ``frame``."""
        if isinstance(frame, np.ndarray):
            return int(frame.shape[0]), int(frame.shape[1])
        if upright_rotation(frame) in (90, 270):
            return frame.width, frame.height
        return frame.height, frame.width

    def __call__(self, frame: Any, out: np.ndarray) -> np.ndarray:
        """Upright gray pixels of ``frame``: a view when possible, else written into ``out``.

        Args:
            frame: An ``av.VideoFrame``, or a uint8 numpy image (gray, BGR or BGRA).
            out: uint8 buffer of shape ``self.shape(frame)`` for when a copy is needed.
        """
        if isinstance(frame, np.ndarray):
            return self._from_array(frame, out)
        rotation = upright_rotation(frame)
        if rotation == 0:
            return self._luma(frame, out)
        if self._scratch is None or self._scratch.shape != (frame.height, frame.width):
            self._scratch = np.empty((frame.height, frame.width), np.uint8)
        gray = self._luma(frame, self._scratch)
        cv2.rotate(gray, ROTATE_CODES[rotation], dst=out)
        return out

    @staticmethod
    def _from_array(frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        if frame.dtype != np.uint8:
            raise InputError(f"frames must be uint8 images, got {frame.dtype}")
        if frame.ndim == 2:
            return frame
        code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        cv2.cvtColor(frame, code, dst=out)
        return out

    def _luma(self, frame: Any, out: np.ndarray) -> np.ndarray:
        fmt = frame.format
        height, width = frame.height, frame.width
        plane = frame.planes[0]
        name = fmt.name
        if _is_planar_luma(fmt):
            bits = fmt.components[0].bits
            if bits == 8:
                return plane_view(plane, height, width)
            if name.startswith("gray"):
                # Full-range gray: the top code maps to 255 (e.g. 65535 / 257).
                scale = 255 / (2**bits - 1)
            else:
                # YUV keeps its coded range: 10-bit 64..940 becomes 16..235. P010-style formats
                # keep their samples in the high bits of each 16-bit word.
                scale = 2.0 ** -(8 if name[:2] in ("p0", "p2") else bits - 8)
            cv2.convertScaleAbs(plane_view(plane, height, width, np.uint16), out, scale)
            return out
        if name in _RGB_TO_GRAY:
            size, first, code = _RGB_TO_GRAY[name]
            pixels = np.ndarray((height, width, 3), np.uint8, buffer=plane, offset=first,
                                strides=(plane.line_size, size, 1))
            cv2.cvtColor(pixels, code, dst=out)
            return out
        if name in _PACKED_YUV:
            np.copyto(out, plane_view(plane, height, width, step=2, offset=_PACKED_YUV[name]))
            return out
        if name == "pal8":
            # Palette entries are native-endian ARGB words: B, G, R, A in memory.
            palette = np.frombuffer(frame.planes[1], np.uint8, 1024).reshape(1, 256, 4)
            cv2.cvtColor(palette, cv2.COLOR_BGRA2GRAY, dst=self._palette_lut)
            cv2.LUT(plane_view(plane, height, width), self._palette_lut, dst=out)
            return out
        target = "rgb24" if fmt.is_rgb else "gray"
        converted = frame.reformat(format=target)
        return self._luma(converted, out)


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``.

    Raises:
        InputError: The text is not WIDTHxHEIGHT with positive integers.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise InputError(f"invalid size {text!r}: use WIDTHxHEIGHT, e.g. 1280x720")
    return int(match[1]), int(match[2])
