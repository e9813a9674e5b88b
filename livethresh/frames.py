"""What travels between the rooms: stream facts, processed frames, and decoded pictures as gray.

:class:`StreamInfo` is what a source knows before the first frame; :class:`ProcessedFrame` is
what the pipeline hands every sink. :class:`LumaReader` turns a decoded frame into the upright
uint8 gray image the binarizer wants. For 8-bit planar YUV it is a numpy *view* of the Y plane
(honouring its line stride): no copy, no BGR round trip. Luma is kept **as coded**:
limited-range video (Y in 16-235) is not stretched to 0-255. Local methods compare a pixel with
its neighbourhood, so the offset does not change their masks, and the 219/255 contrast only
makes ``C`` count 255/219 times as much (``C=2`` on coded luma acts like 2.33 on stretched
gray), at no per-frame cost. RGB inputs use ``cv2.cvtColor`` like the article, which gives
full-range gray.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import cv2
import numpy as np

from livethresh.errors import InputError

#: Frame rate assumed where a stream states none: what pacing and encoders fall back to.
FALLBACK_RATE = Fraction(30)


class SourceKind(enum.StrEnum):
    """How a source is opened; each kind has its own rules for pacing, drops and errors."""

    FILE = "file"
    URL = "url"
    CAMERA = "camera"
    LAVFI = "lavfi"


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
        kind: How the source was opened.
        sample_aspect_ratio: Shape of one stored pixel (width / height, before rotation), or
            None when the input does not say.
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
    kind: SourceKind = SourceKind.FILE
    sample_aspect_ratio: Fraction | None = None


class DecodedFrame(Protocol):
    """What the pipeline reads of a decoded video frame besides its pixels (which
    :class:`LumaReader` reads): its timestamp. ``av.VideoFrame`` has it."""

    @property
    def pts(self) -> int | None: ...

    @property
    def time_base(self) -> Fraction | None: ...


#: What a source yields: a decoded video frame, or a uint8 numpy image (gray, BGR or BGRA)
#: that has no timestamp.
Picture = DecodedFrame | np.ndarray


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
        return seconds(self.pts, self.time_base)


def seconds(pts: int | None, time_base: Fraction | None) -> float | None:
    """A timestamp in seconds, or None if either part is unknown."""
    if pts is None or time_base is None:
        return None
    return float(pts * time_base)


def upright_rotation(frame: Any) -> int:
    """Clockwise degrees (0, 90, 180, 270) that bring ``frame`` upright.

    PyAV reports the display matrix as a counter-clockwise angle; FFmpeg's own autorotate
    turns the picture clockwise by the negated angle, and so does this.
    """
    angle = getattr(frame, "rotation", 0) or 0
    return round(-angle / 90) * 90 % 360


#: cv2.rotate codes that turn a frame upright, by the rotation in degrees.
ROTATE_CODES = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
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


def plane_view(
    plane: Any, height: int, width: int, dtype: Any = np.uint8, step: int = 1, offset: int = 0
) -> np.ndarray:
    """A numpy view of a PyAV plane (no copy), honouring its padded line stride."""
    itemsize = np.dtype(dtype).itemsize
    return np.ndarray(
        (height, width),
        dtype,
        buffer=plane,
        offset=offset,
        strides=(plane.line_size, itemsize * step),
    )


def _is_planar_luma(fmt: Any) -> bool:
    """Whether plane 0 of ``fmt`` holds only luma, one sample after another."""
    first = fmt.components[0]
    return (
        first.is_luma
        and first.plane == 0
        and not fmt.has_palette
        and not fmt.is_bayer
        and not fmt.is_bit_stream
        and (fmt.is_planar or fmt.name.startswith("gray"))
        and (first.bits == 8 or not fmt.is_big_endian)
    )


#: Whether a pixel format (by name) has an alpha channel, learned once per format: asking
#: PyAV builds its component objects anew, which a per-frame path must not do.
_ALPHA_FORMATS: dict[str, bool] = {}


def _has_alpha(name: str, fmt: Any) -> bool:
    known = _ALPHA_FORMATS.get(name)
    if known is None:
        known = _ALPHA_FORMATS[name] = any(c.is_alpha for c in fmt.components)
    return known


def over_white(gray: np.ndarray, alpha: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Composite uint8 gray with an alpha channel (of any unsigned depth) over white paper.

    Black text on a transparent background has its text in the alpha channel only: read
    without alpha it is a uniform page. ``out`` may be ``gray`` itself.
    """
    opacity = alpha.astype(np.float32) / float(np.iinfo(alpha.dtype).max)
    composite = gray.astype(np.float32) * opacity + 255.0 * (1.0 - opacity)
    result: np.ndarray = np.clip(np.rint(composite), 0, 255).astype(np.uint8)
    if out is None:
        return result
    np.copyto(out, result)
    return out


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
    A format with alpha is composited over white (:func:`over_white`).
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
        if _has_alpha(name, fmt):
            # Transparency (PNG frames of an image sequence, video with alpha): composited
            # over white paper, so text drawn in the alpha channel stays text. This copy per
            # frame is for such sources only.
            rgba = frame.to_ndarray(format="rgba")
            cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY, dst=out)
            return over_white(out, rgba[..., 3], out)
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
            pixels = np.ndarray(
                (height, width, 3),
                np.uint8,
                buffer=plane,
                offset=first,
                strides=(plane.line_size, size, 1),
            )
            cv2.cvtColor(pixels, code, dst=out)
            return out
        if name in _PACKED_YUV:
            np.copyto(out, plane_view(plane, height, width, step=2, offset=_PACKED_YUV[name]))
            return out
        if name == "pal8":
            # Palette entries are native-endian ARGB words: B, G, R, A in memory.
            palette = np.frombuffer(frame.planes[1], np.uint8, 1024).reshape(1, 256, 4)
            cv2.cvtColor(palette, cv2.COLOR_BGRA2GRAY, dst=self._palette_lut)
            over_white(self._palette_lut, palette[..., 3], self._palette_lut)
            cv2.LUT(plane_view(plane, height, width), self._palette_lut, dst=out)
            return out
        target = "rgb24" if fmt.is_rgb else "gray"
        converted = frame.reformat(format=target)
        return self._luma(converted, out)
