"""Where frames come from: files, cameras, network streams and FFmpeg test patterns, via PyAV.

(In progress: the ``FrameSource`` implementations and ``open_source`` factory land with the
pipeline. :class:`StreamInfo` is the description every source gives of its stream.)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


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
