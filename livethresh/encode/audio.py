"""The input's other streams beside the masks: audio (and subtitles) copied, or converted.

Each audio stream is checked against the output container before anything is written, the way
FFmpeg's muxers decide it: the container's codec list, then a trial header in memory (which is
what refuses Opus or FLAC in ``.mov``; both in :mod:`~livethresh.encode.containers`). A stream
that fails is re-encoded to the container's usual codec, through a resampler when the encoder
wants another sample format or a known channel layout (PCM into ``.ts``); a stream that cannot
be written either way stops the run up front with a message that names it and suggests
``--no-audio``. Subtitle streams follow the rules of :mod:`livethresh.encode.subtitles`.
Language, title and other stream tags, the dispositions (default, forced...) and the
container's own tags are carried over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av

from livethresh.encode.containers import accepts_copy, audio_codec, header_accepts, holds_audio
from livethresh.encode.subtitles import plan_subtitles
from livethresh.encode.tracks import (
    CopiedTrack,
    DemuxedInput,
    carried_tags,
    carry_stream_tags,
    origin_shift,
)
from livethresh.errors import InputError, OutputError

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer


log = logging.getLogger(__name__)


#: FFmpeg's default layout for a channel count, for inputs that give only the count.
DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1"}
DEFAULT_LAYOUTS[8] = "7.1"


class ReencodedAudio:
    """An audio stream decoded, resampled to what the encoder takes, and encoded again."""

    def __init__(self, source: Any, codec: str) -> None:
        self.source = source
        self.codec = codec
        self.note = f"#{source.index} {source.codec_context.name} re-encoded to {codec}"
        descriptor = av.codec.Codec(codec, "w")
        rates = descriptor.audio_rates
        self.rate = source.rate if not rates or source.rate in rates else max(rates)
        formats = [f.name for f in descriptor.audio_formats or ()]
        self.sample_format = (
            source.format.name if not formats or source.format.name in formats else formats[0]
        )
        layout = source.layout.name
        # "2 channels" names no speakers; encoders such as aac want a layout they know.
        self.layout = (
            DEFAULT_LAYOUTS.get(source.channels, layout) if "channel" in layout else layout
        )
        self.output: Any = None
        self._resampler = av.AudioResampler(self.sample_format, self.layout, self.rate)
        self._shift = 0

    def add_stream(self, container: OutputContainer) -> None:
        output: Any = container.add_stream(self.codec, rate=self.rate)
        output.layout = self.layout
        output.format = self.sample_format
        carry_stream_tags(self.source, output)
        self.output = output

    def set_origin(self, origin: float) -> None:
        self._shift = origin_shift(self.source, origin)

    def mux(self, container: OutputContainer, packet: av.Packet[Any]) -> None:
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            log.warning("skipping an undecodable audio packet: %s", exc)
            return
        for frame in frames:
            assert isinstance(frame, av.AudioFrame)  # an audio stream's packet
            if frame.pts is not None:
                frame.pts -= self._shift
            for converted in self._resampler.resample(frame):
                container.mux(self.output.encode(converted))

    def flush(self, container: OutputContainer) -> None:
        for converted in self._resampler.resample(None):
            container.mux(self.output.encode(converted))
        container.mux(self.output.encode(None))


Track = CopiedTrack | ReencodedAudio | Any


class AudioPassthrough:
    """Copies (or, where the container refuses the codec, re-encodes) the input's audio.

    Packets come from one of two places. A regular file is read through a demuxer of its own,
    so that the video source is untouched and audio never waits on it. A stream that can be
    read only once (``udp://``, ``http://``, a pipe) is a :class:`DemuxedInput` (a source
    opened with ``audio`` or ``subtitles``), whose one demuxer keeps those packets beside the
    video. Either way packets are muxed only up to
    the video time they are given: audio and video are interleaved as the run progresses and
    memory stays flat. Subtitle streams travel the same way, also without the audio.

    Args:
        input: The input file's path, or a source that keeps its audio packets.
        fmt: The output container, to decide copy or re-encode per stream.
        audio: Carry the audio streams (False: only subtitles and tags).

    Raises:
        InputError: The input cannot be opened a second time.
        OutputError: An audio stream can be neither copied nor re-encoded into ``fmt``.
    """

    def __init__(self, input: str | DemuxedInput, fmt: str, *, audio: bool = True) -> None:
        self._input: InputContainer | None = None
        if isinstance(input, str):
            try:
                self._input = av.open(input)
            except (av.error.FFmpegError, OSError) as exc:
                raise InputError(f"cannot read the audio of {input!r}: {exc}") from exc
            audio_streams: list[Any] = list(self._input.streams.audio)
            subtitles: Any = self._input.streams.subtitles
            metadata = dict(self._input.metadata)
        else:
            audio_streams, subtitles = input.audio_streams, input.subtitle_streams
            metadata = input.metadata
        self.tags = carried_tags(metadata)
        self.tracks: list[Track] = []
        try:
            if audio and holds_audio(fmt):
                self.tracks += [_plan_audio(stream, fmt) for stream in audio_streams]
            self.tracks += plan_subtitles(subtitles, fmt)
        except BaseException:
            self.close()
            raise
        #: What happens to each input audio stream, for the summary.
        self.notes = [t.note for t in self.tracks if t.source.type == "audio"]
        self._by_index = {t.source.index: t for t in self.tracks}
        #: The next packet of the carried streams, or None when there is none (yet).
        self._next_packet: Callable[[], Any | None] | None = None
        self._pending: av.Packet[av.stream.Stream] | None = None
        if self.tracks and self._input is not None:
            packets = self._input.demux([t.source for t in self.tracks])
            self._next_packet = lambda: next(packets, None)
        elif self.tracks and not isinstance(input, str):
            self._next_packet = input.next_audio_packet
        else:
            self.close()  # nothing to read; the container's tags are kept already

    @property
    def streams(self) -> int:
        """Audio streams that will be written."""
        return len(self.notes)

    def add_streams(self, container: OutputContainer) -> None:
        container.metadata.update(self.tags)
        for track in self.tracks:
            try:
                track.add_stream(container)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(_refused(track.source, container.format.name, exc)) from exc

    def start_time(self) -> float | None:
        """The earliest start of the carried streams, in seconds of input time."""
        starts = [
            float(t.source.start_time * t.source.time_base)
            for t in self.tracks
            if t.source.start_time is not None and t.source.time_base
        ]
        return min(starts) if starts else None

    def set_origin(self, origin: float) -> None:
        for track in self.tracks:
            track.set_origin(origin)

    def advance(self, container: OutputContainer, until: float) -> None:
        """Mux the packets read so far whose input time is at or before ``until`` (seconds)."""
        while self._next_packet is not None:
            packet = self._pending or self._next_packet()
            self._pending = None
            if packet is None:
                return
            when = packet.pts if packet.pts is not None else packet.dts
            if (
                when is not None
                and packet.time_base is not None
                and float(when * packet.time_base) > until
            ):
                self._pending = packet
                return
            track = self._by_index[packet.stream.index]
            try:
                track.mux(container, packet)
            except (av.error.FFmpegError, ValueError) as exc:
                raise OutputError(_refused(track.source, container.format.name, exc)) from exc

    def finish(self, container: OutputContainer) -> None:
        """Mux the rest and flush any encoder."""
        try:
            self.advance(container, float("inf"))
            for track in self.tracks:
                if track.output is not None:
                    track.flush(container)
        finally:
            self.close()

    def close(self) -> None:
        """Release the input; safe to call more than once."""
        self._next_packet = None
        self._pending = None
        if self._input is not None:
            self._input.close()
            self._input = None


def carry_streams(
    input: str | DemuxedInput, fmt: str, audio: bool
) -> tuple[AudioPassthrough | None, list[str]]:
    """The companion that carries an input's other streams into ``fmt``, and its notes.

    Args:
        input: A regular file's path, or a source opened with ``audio`` or ``subtitles`` (a
            stream or a pipe, which can be read only once).
        fmt: The output container.
        audio: Carry the audio (subtitles and tags of a file come even without it).

    Returns:
        The companion (None when nothing is carried), and one note per audio stream.
    """
    has_audio = isinstance(input, str) or input.has_audio
    if not holds_audio(fmt):
        return None, ["dropped (the container holds video only)"] if audio and has_audio else []
    if isinstance(input, str) or input.audio_streams or input.subtitle_streams:
        companion = AudioPassthrough(input, fmt, audio=audio)
        return companion, companion.notes
    return None, []


def _plan_audio(stream: Any, fmt: str) -> Track:
    """Copy ``stream`` if ``fmt`` takes it, else re-encode it; refuse if neither works."""
    name = stream.codec_context.name
    label = f"#{stream.index} {name}"
    if accepts_copy(fmt, stream):
        return CopiedTrack(stream, f"{label} copied")
    fallback = audio_codec(fmt)
    try:
        track = ReencodedAudio(stream, fallback)
    except (av.error.FFmpegError, ValueError) as exc:
        raise OutputError(_refused(stream, fmt, exc)) from exc
    reason = header_accepts(fmt, track.add_stream)
    if reason is not None:
        raise OutputError(_refused(stream, fmt, reason))
    log.warning(
        "container %s cannot hold %s audio (stream %d): re-encoding to %s",
        fmt,
        name,
        stream.index,
        fallback,
    )
    return track


def _refused(stream: Any, fmt: str, reason: object) -> str:
    what = getattr(reason, "strerror", None) or str(reason)
    return (
        f"audio stream #{stream.index} ({stream.codec_context.name}) cannot be written to "
        f"{fmt}: {what}; pass --no-audio to drop the audio"
    )
