"""What every carried stream shares: the companion protocol, the input it reads, tags, copying.

The audio (:mod:`livethresh.encode.audio`) and subtitle (:mod:`livethresh.encode.subtitles`)
streams of the input travel into the output as *tracks*: each adds its output stream, learns
the origin (the input time that becomes 0), muxes its packets and flushes at the end.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol

import av

if TYPE_CHECKING:
    from av.container import OutputContainer


class MuxCompanion(Protocol):
    """Other streams written into the same container as the video, such as copied audio.

    The encoder calls :meth:`add_streams` before the header is written, :meth:`advance` after
    each video frame so the companion's packets are interleaved as the video progresses, and
    :meth:`finish` before the trailer.
    """

    def add_streams(self, container: OutputContainer) -> None:
        """Add this companion's output streams."""

    def start_time(self) -> float | None:
        """Input time in seconds of the companion's first packet; None when it has none."""

    def set_origin(self, origin: float) -> None:
        """Input time in seconds that becomes 0 in the output, for every later packet."""

    def advance(self, container: OutputContainer, until: float) -> None:
        """Mux packets with a presentation time up to ``until`` seconds."""

    def finish(self, container: OutputContainer) -> None:
        """Mux everything that is left."""


class DemuxedInput(Protocol):
    """What a companion needs of an input that is already being demuxed for its video.

    A stream or a pipe can be read only once, so its one demuxer keeps the audio and subtitle
    packets beside the video until the companion takes them. Any source that does so fits:
    the muxer depends on this, never on the sources themselves.
    """

    #: The input streams whose packets are kept (empty when none are).
    audio_streams: list[Any]
    subtitle_streams: list[Any]

    @property
    def metadata(self) -> dict[str, str]:
        """The container's tags (title, ...)."""

    @property
    def has_audio(self) -> bool:
        """Whether the input holds an audio stream, kept or not."""

    def next_audio_packet(self) -> Any | None:
        """The oldest kept packet not yet taken, or None when there is none (yet)."""


class ContainerTags:
    """Tags for the output container, over those of the same name (in any case) that the
    input's carried: a :class:`MuxCompanion` without streams."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = dict(tags)

    def add_streams(self, container: OutputContainer) -> None:
        names = {name.lower() for name in self.tags}
        for stale in [key for key in container.metadata if key.lower() in names]:
            del container.metadata[stale]
        container.metadata.update(self.tags)

    def start_time(self) -> float | None:
        return None

    def set_origin(self, origin: float) -> None:
        pass

    def advance(self, container: OutputContainer, until: float) -> None:
        pass

    def finish(self, container: OutputContainer) -> None:
        pass


#: Tags that describe the input file rather than its content: the muxer writes its own (and
#: ``batch`` its settings).
STALE_TAGS = (
    "duration",
    "encoder",
    "number_of_frames",
    "number_of_bytes",
    "bps",
    "_statistics",
    "livethresh_settings",
)


def carried_tags(tags: dict[str, str]) -> dict[str, str]:
    """``tags`` without those that would be stale in the output (durations, statistics)."""
    return {k: v for k, v in tags.items() if not k.lower().startswith(STALE_TAGS)}


def carry_stream_tags(source: Any, output: Any) -> None:
    """Give ``output`` the language, title and other tags and the dispositions of ``source``."""
    output.metadata.update(carried_tags(dict(source.metadata)))
    output.disposition = source.disposition


def origin_shift(stream: Any, origin: float) -> int:
    """``origin`` seconds in ``stream``'s time base, rounded down: what its timestamps lose."""
    return math.floor(origin / stream.time_base) if stream.time_base else 0


class CopiedTrack:
    """A stream whose packets go into the output as they are (moved to start at the origin)."""

    def __init__(self, source: Any, note: str) -> None:
        self.source = source
        self.note = note
        self.output: Any = None
        self._shift = 0

    def add_stream(self, container: OutputContainer) -> None:
        self.output = container.add_stream_from_template(self.source)
        carry_stream_tags(self.source, self.output)

    def set_origin(self, origin: float) -> None:
        self._shift = origin_shift(self.source, origin)

    def mux(self, container: OutputContainer, packet: av.Packet[Any]) -> None:
        if packet.dts is None and packet.size == 0:
            return  # the demuxer's end-of-stream marker, not data
        if packet.pts is not None:
            packet.pts -= self._shift
        if packet.dts is not None:
            packet.dts -= self._shift
        packet.stream = self.output
        container.mux(packet)

    def flush(self, container: OutputContainer) -> None:
        """Nothing is held back."""
