"""What an output container is and what it accepts: the one place for every container rule.

Which container an output gets (its extension, its URL scheme, stdout), the video codec it
takes by default, whether it holds audio, whether a stream can be copied into it as it is
(its codec list, then a trial header in memory, as FFmpeg's muxers decide), and what an audio
or subtitle stream it refuses is converted to. :mod:`~livethresh.encode.plan`,
:mod:`~livethresh.encode.audio` and :mod:`~livethresh.encode.subtitles` ask here and never ask
one another, so a setting travels down through the muxer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import av

from livethresh.errors import OutputError
from livethresh.locations import STDOUT, is_network_url, url_problem

if TYPE_CHECKING:
    from av.container import OutputContainer

#: Container (FFmpeg muxer) chosen by an output file's extension.
CONTAINER_BY_EXTENSION = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mkv": "matroska",
    ".webm": "webm",
    ".mov": "mov",
    ".avi": "avi",
    ".ts": "mpegts",
}


#: Containers that can be written to a pipe (no seeking back to patch a header).
STREAM_FORMATS = ("mpegts", "matroska", "yuv4mpegpipe")


#: Containers that store a frame rate rather than timestamps.
CONSTANT_RATE_FORMATS = frozenset({"yuv4mpegpipe"})


#: Container for network outputs, by URL scheme.
FORMAT_BY_SCHEME = {
    "udp": "mpegts",
    "srt": "mpegts",
    "tcp": "mpegts",
    "rtmp": "flv",
    "rtmps": "flv",
}


#: The container of standard output when none is given.
STDOUT_FORMAT = "mpegts"


DEFAULT_CODEC = "libx264"


#: Codec used when the container does not take the default one.
CODEC_BY_FORMAT = {"webm": "libvpx", "yuv4mpegpipe": "rawvideo"}


#: Containers that hold no audio at all.
VIDEO_ONLY_FORMATS = frozenset({"yuv4mpegpipe", "rawvideo"})


#: Audio codecs a container falls back to when it cannot hold the input's, if FFmpeg's own
#: default is not the usual one for that container.
AUDIO_CODEC_BY_FORMAT = {
    "webm": "libopus",
    "mpegts": "aac",
    "matroska": "aac",
    "flv": "aac",
    "avi": "libmp3lame",
}


#: The text subtitle codec each container takes, for converting other text subtitles.
TEXT_SUBTITLE_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt"}


#: Containers whose codec list FFmpeg does not report (it answers for a few codecs only).
KNOWN_CONTAINER_CODECS = {
    "mpegts": frozenset(
        {
            "h264",
            "hevc",
            "mpeg1video",
            "mpeg2video",
            "mpeg4",
            "av1",
            "vp9",
            "dirac",
            "aac",
            "aac_latm",
            "mp2",
            "mp3",
            "ac3",
            "eac3",
            "opus",
            "dts",
            "truehd",
            "s302m",
        }
    ),
    "yuv4mpegpipe": frozenset({"rawvideo", "wrapped_avframe"}),
}


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
        return STDOUT_FORMAT
    if isinstance(target, str) and is_network_url(text):
        scheme = urlsplit(text).scheme.lower()
        if scheme not in FORMAT_BY_SCHEME:
            raise OutputError(
                f"unsupported output URL scheme {scheme!r}; use "
                f"{', '.join(s + '://' for s in FORMAT_BY_SCHEME)} or a file path"
            )
        problem = url_problem(text)
        if problem:
            raise OutputError(f"invalid output URL {text!r}: {problem}")
        return FORMAT_BY_SCHEME[scheme]
    suffix = Path(text).suffix.lower()
    if suffix not in CONTAINER_BY_EXTENSION:
        raise OutputError(
            f"cannot tell the container of {text!r} from its extension {suffix or '(none)'!r}; "
            f"use {', '.join(sorted(set(CONTAINER_BY_EXTENSION)))} or pass a format"
        )
    return CONTAINER_BY_EXTENSION[suffix]


def video_codec(fmt: str) -> str:
    """The video encoder used for container ``fmt`` when none is given."""
    return CODEC_BY_FORMAT.get(fmt, DEFAULT_CODEC)


def holds_audio(fmt: str) -> bool:
    """Whether container ``fmt`` can hold audio streams at all."""
    return fmt not in VIDEO_ONLY_FORMATS


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


def header_accepts(fmt: str, add: Callable[[OutputContainer], object]) -> str | None:
    """Try a header of container ``fmt`` in memory with the stream ``add`` creates.

    Returns:
        None if the muxer takes it, else FFmpeg's reason.
    """
    try:
        with av.open(NullWriter(), "w", format=fmt) as probe:
            add(probe)
            probe.start_encoding()
    except (av.error.FFmpegError, ValueError, NotImplementedError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return None


def accepts_copy(fmt: str, stream: Any) -> bool:
    """Whether an input ``stream`` (audio or subtitles) can go into ``fmt`` as it is.

    The container's codec list answers first; a trial header then catches what only the
    muxer knows (it refuses Opus or FLAC in ``.mov``).
    """
    context = stream.codec_context
    if context is None or not container_accepts(fmt, context.codec.canonical_name):
        return False
    return header_accepts(fmt, lambda probe: probe.add_stream_from_template(stream)) is None


def audio_codec(fmt: str) -> str:
    """The audio encoder for a stream that container ``fmt`` cannot take as it is."""
    if fmt in AUDIO_CODEC_BY_FORMAT:
        return AUDIO_CODEC_BY_FORMAT[fmt]
    with av.open(NullWriter(), "w", format=fmt) as probe:
        return str(probe.default_audio_codec or "aac")


def subtitle_codec(fmt: str) -> str | None:
    """The text subtitle encoder of container ``fmt``, or None when it takes no converted ones."""
    return TEXT_SUBTITLE_CODEC.get(fmt)


def container_options(fmt: str, to_file: bool) -> dict[str, str]:
    """Muxer options: MP4 and MOV files get their index first, so they start playing at once."""
    if to_file and fmt in ("mp4", "mov"):
        return {"movflags": "+faststart"}
    return {}


class NullWriter:
    """A file object that discards writes: lets FFmpeg describe a muxer without a file."""

    def write(self, data: bytes) -> int:
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0
