"""Where frames come from: files, cameras, network streams and FFmpeg test patterns, via PyAV.

:func:`open_source` turns what the user typed into a :class:`FrameSource`. Every source is read
through PyAV, so one implementation, :class:`~livethresh.sources.pyav.AVSource`, serves them
all; what differs is how the spec is opened (see :func:`~livethresh.sources.spec.parse_spec`):

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
``frames/%04d.png``, ``*.png`` an image sequence (FFmpeg's image2), a file source at ``rate``
                               frames per second (FFmpeg's default 25 without it); a
                               numbered one is read past its gaps, with a warning
=============================  ==============================================================

``live=True`` plays a file or pattern (a file over http too) at its native frame rate, as
``ffmpeg -re`` does, so it behaves like a camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol, runtime_checkable

from livethresh.errors import InputNotFoundError
from livethresh.frames import Picture, SourceKind, StreamInfo
from livethresh.sources.pyav import DEFAULT_TIMEOUT, AVSource
from livethresh.sources.sequences import (
    continue_past_gaps,
    first_sequence_frame,
    missing_sequence_message,
)
from livethresh.sources.spec import parse_size, parse_spec

__all__ = ["AVSource", "FrameSource", "SourceKind", "StreamInfo", "open_source", "parse_size"]


@runtime_checkable
class FrameSource(Protocol):
    """A stream of decoded video frames.

    ``frames()`` yields ``av.VideoFrame`` objects (or uint8 numpy images, which
    :class:`~livethresh.frames.LumaReader` also accepts: a :data:`~livethresh.frames.Picture`)
    until the stream ends. A live source yields each frame when it is due; a file source as
    fast as it is asked. This is the whole contract the pipeline relies on: it probes for
    nothing else.
    """

    info: StreamInfo
    #: Damaged packets skipped so far (a source that never skips keeps 0).
    decode_errors: int

    def frames(self) -> Iterator[Picture]:
        """Yield decoded frames; raise :class:`InputError` if reading fails."""
        ...

    def interrupt(self) -> None:
        """Wake a paced wait for the next frame at once; ``frames()`` then ends. Thread-safe."""
        ...

    def close(self) -> None:
        """Release the input; safe to call more than once."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc: object) -> None: ...


def open_source(
    spec: str,
    *,
    live: bool | None = None,
    size: tuple[int, int] | str | None = None,
    rate: float | Fraction | None = None,
    input_format: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    decoder_threads: int | None = None,
    audio: bool = False,
    subtitles: bool = False,
) -> AVSource:
    """Open a video source of any kind (see the module docstring for the accepted specs).

    Args:
        spec: What to read.
        live: Force real-time behaviour: True paces a file or pattern at its native rate (like
            ``ffmpeg -re``) and lets the pipeline drop stale frames. None decides by kind:
            cameras and streaming URLs are live, files and patterns are not.
        size: ``(width, height)``, or ``WIDTHxHEIGHT`` text, for cameras and patterns.
        rate: Frames per second for cameras, patterns and image sequences.
        input_format: Camera pixel format or codec (``mjpeg``, ``yuyv422``...).
        timeout: Seconds to wait for a network stream to open, and for each read.
        decoder_threads: Codec threads (``thread_type="AUTO"``: frame and slice threading).
            None picks :func:`default_decoder_threads`.
        audio: Keep the audio packets of the same input for a reader
            (:meth:`AVSource.next_audio_packet`), as ``transcode`` does for streams.
        subtitles: Keep its subtitle packets for the same reader.

    Returns:
        An open source; use it as a context manager or call ``close()``.

    Raises:
        InputNotFoundError: A file or camera does not exist.
        InputError: The input cannot be opened or holds no video stream.
    """
    if isinstance(size, str):
        size = parse_size(size)
    parsed = parse_spec(spec, size=size, rate=rate, input_format=input_format)
    if parsed.format == "image2":
        if first_sequence_frame(parsed) is None:
            raise InputNotFoundError(missing_sequence_message(parsed))
        parsed = continue_past_gaps(parsed)
    elif parsed.kind is SourceKind.FILE and not Path(parsed.target).exists():
        raise InputNotFoundError(f"input {spec!r} does not exist: check the path")
    return AVSource(
        parsed,
        live=live,
        timeout=timeout,
        decoder_threads=decoder_threads,
        audio=audio,
        subtitles=subtitles,
    )
