"""Opening an input through FFmpeg, and what to tell the user when that fails.

Each failure names the input and says what to do: a missing or busy camera, a file that is
not a video, an MP4 cut short before its index, a stream that does not answer.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any

import av

from livethresh.errors import InputError, InputNotFoundError
from livethresh.frames import SourceKind
from livethresh.sources.http import HTTPReader, is_http
from livethresh.sources.spec import SourceSpec

logger = logging.getLogger(__name__)


def open_container(spec: SourceSpec, timeout: float) -> Any:
    kwargs: dict[str, Any] = {"format": spec.format, "options": dict(spec.options)}
    if spec.kind is SourceKind.URL:
        kwargs["timeout"] = (timeout, timeout)
    try:
        return av.open(spec.target, **kwargs)
    except av.error.FileNotFoundError as exc:
        if spec.kind is SourceKind.CAMERA:
            raise InputNotFoundError(
                f"camera {spec.name!r} ({spec.target}) not found: check that it is connected "
                "(`livethresh devices` lists the cameras), or try a test pattern: testsrc2"
            ) from exc
        raise InputNotFoundError(f"input {spec.name!r} does not exist: check the path") from exc
    except av.FFmpegError as exc:
        if spec.kind is SourceKind.CAMERA and exc.errno in (errno.EBUSY, errno.EACCES, errno.EPERM):
            what = (
                "is busy: close the program using it"
                if exc.errno == errno.EBUSY
                else ("cannot be accessed: check your permissions (e.g. the video group)")
            )
            raise InputError(f"camera {spec.name!r} ({spec.target}) {what}") from exc
        if spec.kind is SourceKind.FILE:
            raise InputError(unreadable_file_message(spec.name, Path(spec.target), exc)) from exc
        raise InputError(f"cannot open {spec.name!r}: {failure_reason(exc)}") from exc
    except ValueError as exc:  # an input format this FFmpeg build lacks
        raise InputError(f"cannot open {spec.name!r}: {exc}") from exc


def open_reader(spec: SourceSpec, reader: HTTPReader) -> Any:
    """Open what ``reader`` (an HTTP response read by Python) delivers as a container.

    Raises:
        InputError: FFmpeg cannot make a video of it (``reader`` is then closed).
    """
    try:
        return av.open(reader, format=spec.format, options=dict(spec.options))
    except (av.FFmpegError, OSError) as exc:
        reader.close()
        reason = failure_reason(reader.failure or exc)
        raise InputError(f"cannot open {spec.name!r}: {reason}") from exc


def open_http(spec: SourceSpec, timeout: float) -> HTTPReader | None:
    """An HTTP reader for an ``http(s)://`` input, or None to let FFmpeg open it.

    Raises:
        InputError: The server cannot be reached or answers with an error.
    """
    if spec.kind is not SourceKind.URL or spec.format is not None or not is_http(spec.target):
        return None
    reader = HTTPReader(spec.target, timeout)
    if reader.is_playlist:
        reader.close()  # FFmpeg's HLS/DASH demuxers fetch the segments themselves
        return None
    return reader


def unreadable_file_message(name: str, path: Path, exc: av.FFmpegError) -> str:
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
        return (
            f"cannot open {name!r}: it is an MP4/MOV without its index (moov box), as when "
            "a recording is cut short before it is finalized; it cannot be read as it is: "
            "re-record it, or record to .mkv or .ts, which stay readable when cut"
        )
    if isinstance(exc, av.error.InvalidDataError):
        return (
            f"cannot open {name!r}: {failure_reason(exc)}: it is not a video FFmpeg can read, or "
            "it is damaged"
        )
    return f"cannot open {name!r}: {failure_reason(exc)}"


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


def failure_reason(exc: Exception) -> str:
    """FFmpeg's message without the errno prefix and the repeated file name."""
    message = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, av.error.ExitError | TimeoutError) or getattr(exc, "errno", 0) in (
        errno.ETIMEDOUT,
        errno.EAGAIN,
    ):
        return f"{message} (timed out)"
    return str(message)


def warn_other_video_streams(name: str, streams: Any) -> None:
    """Say that only the first video stream is read; cover pictures do not count."""
    attached = av.stream.Disposition.attached_pic
    others = [s.index for s in streams[1:] if not s.disposition & attached]
    if others:
        logger.warning(
            "%r has %d more video streams (#%s); only the first (#%d) is read",
            name,
            len(others),
            ", #".join(map(str, others)),
            streams[0].index,
        )
