"""Subtitle streams: copied where the output container takes them, converted, or named as dropped.

A container that holds the input's subtitle codec gets the packets as they are (Matroska takes
nearly every kind). Text subtitles (SRT, ASS, WebVTT, mov_text) go into MP4 and MOV as
``mov_text`` and into WebM as ``webvtt``, the conversions ``ffmpeg`` makes with ``-c:s``.
Anything else, such as picture subtitles (DVD, Blu-ray) into MP4, or any subtitle into MPEG-TS,
is dropped with a one-line warning that names the stream and the container that keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import av

from livethresh.encode.containers import accepts_copy, subtitle_codec
from livethresh.encode.tracks import CopiedTrack, carry_stream_tags, origin_shift

if TYPE_CHECKING:
    from av.container import OutputContainer


log = logging.getLogger(__name__)


#: Text subtitle codecs FFmpeg decodes to text it can encode again.
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})


class ConvertedSubtitles:
    """A text subtitle stream decoded and encoded again in the codec the container takes."""

    def __init__(self, source: Any, codec: str) -> None:
        self.source = source
        self.codec = codec
        self.note = f"subtitle #{source.index} {source.codec_context.name} converted to {codec}"
        self.output: Any = None
        self._shift = 0
        # The decoder's ASS header (styles) is what the encoder starts from.
        source.codec_context.open(strict=False)

    def add_stream(self, container: OutputContainer) -> None:
        output: Any = container.add_stream(self.codec)
        output.codec_context.subtitle_header = self.source.codec_context.subtitle_header
        output.time_base = self.source.time_base
        carry_stream_tags(self.source, output)
        self.output = output

    def set_origin(self, origin: float) -> None:
        self._shift = origin_shift(self.source, origin)

    def mux(self, container: OutputContainer, packet: av.Packet[Any]) -> None:
        if packet.size == 0 or packet.pts is None:
            return
        subtitle = self.source.codec_context.decode2(packet)
        if subtitle is None or len(subtitle) == 0:
            return
        encoded = self.output.codec_context.encode_subtitle(subtitle)
        encoded.stream = self.output
        encoded.time_base = packet.time_base
        encoded.pts = encoded.dts = packet.pts - self._shift
        encoded.duration = packet.duration or (
            subtitle.end_display_time - subtitle.start_display_time
        )
        container.mux(encoded)

    def flush(self, container: OutputContainer) -> None:
        """Nothing is held back."""


def plan_subtitles(streams: Iterable[Any], fmt: str) -> list[Any]:
    """One track per subtitle stream that ``fmt`` can take as it is or converted.

    The others are dropped, each with a one-line warning.
    """
    tracks: list[Any] = []
    for stream in streams:
        context = stream.codec_context
        name = context.codec.canonical_name if context is not None else "unknown"
        label = f"subtitle #{stream.index} {name}"
        if accepts_copy(fmt, stream):
            tracks.append(CopiedTrack(stream, f"{label} copied"))
            continue
        target = subtitle_codec(fmt)
        if target is not None and name in TEXT_SUBTITLES:
            try:
                track = ConvertedSubtitles(stream, target)
            except (av.error.FFmpegError, ValueError) as exc:
                log.warning("%s dropped: cannot convert it to %s (%s)", label, target, exc)
                continue
            tracks.append(track)
            continue
        log.warning("%s dropped: %s cannot hold it; write to .mkv to keep it", label, fmt)
    return tracks
