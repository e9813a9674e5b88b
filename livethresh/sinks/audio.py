"""The input's audio streams, copied (or re-encoded) into the output beside the masks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av

from livethresh.errors import InputError
from livethresh.sinks.plan import (
    NullWriter,
    container_accepts,
)

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer


log = logging.getLogger(__name__)


#: Audio codecs a container falls back to when it cannot hold the input's, if FFmpeg's own
#: default is not the usual one for that container.
AUDIO_CODEC_BY_FORMAT = {
    "webm": "libopus",
    "mpegts": "aac",
    "matroska": "aac",
    "flv": "aac",
    "avi": "libmp3lame",
}


#: Containers that hold no audio at all.
VIDEO_ONLY_FORMATS = frozenset({"yuv4mpegpipe", "rawvideo"})


@dataclass
class _AudioTrack:
    source: av.audio.stream.AudioStream
    codec: str | None  # None: copy the packets as they are
    output: Any = None


class AudioPassthrough:
    """Copies (or, where the container refuses the codec, re-encodes) the input's audio.

    It reads the input through a demuxer of its own, so that the video source is untouched,
    and muxes audio packets only up to the video time it is given: audio and video are
    interleaved as the run progresses and memory stays flat.

    Args:
        path: The input file.
        fmt: The output container, to decide copy or re-encode per stream.

    Raises:
        InputError: The input cannot be opened a second time.
    """

    def __init__(self, path: str, fmt: str) -> None:
        try:
            self._input: InputContainer | None = av.open(path)
        except (av.error.FFmpegError, OSError) as exc:
            raise InputError(f"cannot read the audio of {path!r}: {exc}") from exc
        self.tracks: list[_AudioTrack] = []
        self.notes: list[str] = []
        fallback = AUDIO_CODEC_BY_FORMAT.get(fmt) or _default_audio_codec(fmt)
        for stream in self._input.streams.audio:
            name = stream.codec_context.name
            label = f"#{stream.index} {name}"
            if container_accepts(fmt, stream.codec_context.codec.canonical_name):
                self.tracks.append(_AudioTrack(stream, None))
                self.notes.append(f"{label} copied")
            else:
                log.warning(
                    "container %s cannot hold %s audio (stream %d): re-encoding to %s",
                    fmt,
                    name,
                    stream.index,
                    fallback,
                )
                self.tracks.append(_AudioTrack(stream, fallback))
                self.notes.append(f"{label} re-encoded to {fallback}")
        self._packets: Iterator[av.Packet[av.stream.Stream]] | None = None
        self._pending: av.Packet[av.stream.Stream] | None = None
        if self.tracks:
            self._packets = self._input.demux([t.source for t in self.tracks])
        else:
            self.close()

    @property
    def streams(self) -> int:
        """Audio streams that will be written."""
        return len(self.tracks)

    def add_streams(self, container: OutputContainer) -> None:
        for track in self.tracks:
            source = track.source
            if track.codec is None:
                track.output = container.add_stream_from_template(source)
                continue
            codec = av.codec.Codec(track.codec, "w")
            rates = codec.audio_rates
            rate = source.rate if not rates or source.rate in rates else max(rates)
            track.output = container.add_stream(track.codec, rate=rate)
            track.output.layout = source.layout

    def advance(self, container: OutputContainer, until: float) -> None:
        """Mux audio packets whose time is at or before ``until`` (seconds)."""
        while self._packets is not None:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._packets = None
                return
            when = packet.pts if packet.pts is not None else packet.dts
            if (
                when is not None
                and packet.time_base is not None
                and float(when * packet.time_base) > until
            ):
                self._pending = packet
                return
            self._mux(container, packet)

    def finish(self, container: OutputContainer) -> None:
        """Mux the rest of the audio and flush any audio encoder."""
        try:
            self.advance(container, float("inf"))
            for track in self.tracks:
                if track.codec is not None and track.output is not None:
                    for packet in track.output.encode(None):
                        container.mux(packet)
        finally:
            self.close()

    def close(self) -> None:
        """Release the input; safe to call more than once."""
        self._packets = None
        self._pending = None
        if self._input is not None:
            self._input.close()
            self._input = None

    def _mux(self, container: OutputContainer, packet: av.Packet[av.stream.Stream]) -> None:
        track = next(t for t in self.tracks if t.source.index == packet.stream.index)
        if track.codec is None:
            if packet.dts is None and packet.size == 0:
                return  # the demuxer's end-of-stream marker, not data
            packet.stream = track.output
            container.mux(packet)
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.warning("skipping an undecodable audio packet: %s", exc)
            return
        for frame in frames:
            for encoded in track.output.encode(frame):
                container.mux(encoded)


def _default_audio_codec(fmt: str) -> str:
    with av.open(NullWriter(), "w", format=fmt) as probe:
        return str(probe.default_audio_codec or "aac")
