"""Output planning: container, codec, pixel format and options, checked before any I/O.

The container's rules come from :mod:`~livethresh.encode.containers`, the encoders' from
:mod:`~livethresh.encode.codecs`; what is left here is the settings and their resolution
against one output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from livethresh.encode.codecs import CODEC_TUNING, check_knobs, quiet_threaded_options
from livethresh.encode.containers import (
    STREAM_FORMATS,
    container_accepts,
    container_format,
    video_codec,
)
from livethresh.errors import ConfigError, OutputError
from livethresh.frames import StreamInfo
from livethresh.locations import STDOUT

#: Pixel format used with a codec unless ``pix_fmt`` is given; everything else gets yuv420p.
PIX_FMT_BY_CODEC = {"ffv1": "gray", "rawvideo": "gray", "mjpeg": "yuvj420p", "ljpeg": "gray"}


DEFAULT_PIX_FMT = "yuv420p"


#: Encoder threads. On 2 cores the decoder (2 threads) and the binarizer already keep both
#: cores busy and x264 ultrafast runs in the output stage, in parallel with them: measured on
#: 1080p (benchmarks/bench_transcode.py), 1 thread was as fast as 2 or auto, with the least CPU
#: and 13-25 MiB less peak memory, since every x264 frame thread holds frames in flight.
DEFAULT_ENCODER_THREADS = 1


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
        threads: Encoder threads; 0 lets the codec decide (see :data:`DEFAULT_ENCODER_THREADS`).
        options: Extra codec options, passed to FFmpeg as they are.
        keep_timestamps: Keep the input's timestamps as they are, rather than starting the
            output at 0 (FFmpeg's ``-copyts``): for masks matched to input frames by time.
        keep_partial: Keep the frames written before an error in the output (the default, as
            for a recording); False removes it, so an output exists only if it is complete.
    """

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    format: str | None = None
    side_by_side: bool = False
    threads: int = DEFAULT_ENCODER_THREADS
    options: dict[str, str] = field(default_factory=dict)
    keep_timestamps: bool = False
    keep_partial: bool = True


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
    keep_timestamps: bool = False


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
    codec = settings.codec or video_codec(fmt)
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
    if settings.threads < 0:
        raise ConfigError(f"invalid encoder threads {settings.threads}: must be >= 0")
    options = dict(CODEC_TUNING.get(codec, {}))
    options.update(check_knobs(codec, settings.crf, settings.preset))
    options.update(settings.options)
    options.update(quiet_threaded_options(codec, settings.threads, settings.options))
    resolved: str | BinaryIO = (
        "pipe:1" if target == STDOUT else str(target) if isinstance(target, str | Path) else target
    )
    return EncodePlan(
        resolved,
        fmt,
        codec,
        pix_fmt,
        options,
        settings.side_by_side,
        settings.threads,
        settings.keep_timestamps,
    )


def padded_size(width: int, height: int, pix_fmt: str) -> tuple[int, int]:
    """The encoded size: ``width x height`` rounded up to whole chroma samples of ``pix_fmt``."""
    fmt = av.VideoFormat(pix_fmt)
    # A format with no chroma planes reports its luma size, i.e. no subsampling.
    step_x = 64 // max(1, fmt.chroma_width(64))
    step_y = 64 // max(1, fmt.chroma_height(64))
    return -(-width // step_x) * step_x, -(-height // step_y) * step_y


def output_aspect_ratio(info: StreamInfo) -> Fraction:
    """The sample aspect ratio of the masks: the input's, turned with it; 1:1 if unknown."""
    sar = info.sample_aspect_ratio
    if not sar or sar <= 0:
        return Fraction(1)
    return 1 / sar if info.rotation in (90, 270) else sar
