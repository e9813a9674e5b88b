"""Joining the pieces of a split transcode into one output, by stream copy.

The pieces hold only video, with the input's own timestamps. The join muxes their packets in
order into the output container, moved by the same origin a single run uses
(:func:`~livethresh.encode.timing.shared_origin`: the earliest of the first frame and the
first audio packet), and interleaves the input's audio, subtitles and tags through the same
companion a single run uses (:class:`~livethresh.encode.audio.AudioPassthrough`), advanced to
each video packet's time. So the output's streams, timestamps and tags are a single run's; only
the video bitstream differs (each piece starts with a keyframe of its own).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from livethresh.encode.containers import container_options
from livethresh.encode.timing import shared_origin
from livethresh.errors import OutputError
from livethresh.files import atomic_output, write_failure

if TYPE_CHECKING:
    from livethresh.encode.audio import AudioPassthrough
    from livethresh.encode.plan import EncodeSettings


def join_pieces(
    pieces: list[Path],
    destination: Path,
    fmt: str,
    time_base: Fraction,
    *,
    options: dict[str, str],
    companion: AudioPassthrough | None,
    keep_timestamps: bool = False,
    aspect: Fraction | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Write the pieces' video, in order, with the input's other streams into ``destination``.

    Args:
        pieces: The segments' piece files, in time order.
        destination: The file to write (a temporary name beside the output).
        fmt: The output container.
        time_base: The video time base of a single run's output: the input's. (The pieces'
            container may store a finer one; their timestamps are converted exactly.)
        options: Its muxer options (those of a single run).
        companion: The input's audio, subtitles and tags, or None.
        keep_timestamps: Keep the input's timestamps instead of starting at 0.
        aspect: The video's sample aspect ratio, as a single run writes it.
        should_stop: Polled between packets; True abandons the join (``InterruptedError``).

    Returns:
        The video packets written.

    Raises:
        OutputError: The pieces disagree (encoder settings) or the output cannot be written.
    """
    try:
        with av.open(str(pieces[0])) as first:
            template = first.streams.video[0]
            piece_base = template.time_base
            extradata = template.codec_context.extradata
            # The frame rate the pieces' encoders were given, as a single run's encoder is:
            # Matroska keeps the packets' durations only with it.
            rate = template.guessed_rate
            output = av.open(str(destination), "w", format=fmt, options=options)
            video = output.add_stream_from_template(template)
        video.time_base = time_base
        if video.codec_context is not None:
            if aspect is not None:
                video.codec_context.sample_aspect_ratio = aspect
            if rate:
                video.codec_context.framerate = rate
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"cannot start joining the segments: {write_failure(exc)}") from exc
    written = 0
    try:
        if companion is not None:
            companion.add_streams(output)
        shift: int | None = None
        last_dts: int | None = None
        for number, piece in enumerate(pieces):
            with av.open(str(piece)) as container:
                stream = container.streams.video[0]
                if stream.codec_context.extradata != extradata or stream.time_base != piece_base:
                    raise OutputError(
                        f"segment {number + 1}'s encoder made a stream unlike the first's; "
                        "the segments cannot be joined: run without --split"
                    )
                for packet in _with_decode_times(container.demux(stream)):
                    if should_stop is not None and should_stop():
                        raise InterruptedError
                    _rebase(packet, time_base)
                    if shift is None:
                        start = float(packet.pts * time_base) if packet.pts is not None else None
                        origin = shared_origin(
                            start, [companion] if companion else [], keep_timestamps
                        )
                        if companion is not None:
                            companion.set_origin(origin)
                        shift = math.floor(origin / time_base)
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                        if last_dts is not None and packet.dts <= last_dts:
                            raise OutputError(
                                f"segment {number + 1} starts before the previous one ends "
                                "(an encoder that reorders frames, B-frames): run without "
                                "--split or with a preset without B-frames"
                            )
                        last_dts = packet.dts
                    packet.stream = video
                    output.mux(packet)
                    written += 1
                    if companion is not None and packet.pts is not None:
                        companion.advance(output, float(packet.pts * time_base))
        if companion is not None:
            companion.finish(output)
    except (av.error.FFmpegError, OSError) as exc:
        if isinstance(exc, InterruptedError):
            raise
        raise OutputError(f"cannot write the output: {write_failure(exc)}") from exc
    finally:
        output.close()
    return written


def _with_decode_times(packets: Iterator[av.Packet[Any]]) -> Iterator[av.Packet[Any]]:
    """The piece's packets, each with a decode time.

    NUT stores none: its demuxer derives them, and leaves them out on the first packets of an
    encoder that reorders frames (B-frames), which muxers refuse. Those get the decode times
    the encoder gave them, one frame apart before the first one known (as x264 does).
    """
    waiting: list[av.Packet[Any]] = []
    for packet in packets:
        if packet.dts is None and not packet.size:
            continue  # the demuxer's end-of-stream marker
        if packet.dts is None:
            waiting.append(packet)
            continue
        step = packet.duration or 1
        for number, early in enumerate(waiting):
            early.dts = packet.dts - (len(waiting) - number) * step
        yield from waiting
        waiting.clear()
        yield packet
    if waiting:  # a piece shorter than the encoder's delay: in presentation order
        waiting.sort(key=lambda p: p.pts or 0)
        for early in waiting:
            early.dts = early.pts
        yield from waiting


def _rebase(packet: av.Packet[Any], time_base: Fraction) -> None:
    """Express ``packet``'s times in ``time_base``, rounded to the nearest tick (exact when the
    piece's time base divides it, as NUT's multiples of the input's do)."""
    source = packet.time_base
    if source is None or source == time_base:
        packet.time_base = time_base
        return
    ratio = Fraction(source) / time_base
    if packet.pts is not None:
        packet.pts = round(packet.pts * ratio)
    if packet.dts is not None:
        packet.dts = round(packet.dts * ratio)
    if packet.duration:
        packet.duration = round(packet.duration * ratio)
    packet.time_base = time_base


def join_output(
    pieces: list[Path],
    output: str,
    fmt: str,
    time_base: Fraction,
    settings: EncodeSettings,
    companion: Any,
    overwrite: bool,
    should_stop: Callable[[], bool],
    aspect: Fraction | None,
) -> float:
    """Join ``pieces`` into ``output`` under the rules of every output (atomic, never an
    existing file without ``overwrite``). Returns the seconds it took; a stop during the join
    leaves no output."""
    started = time.perf_counter()
    try:
        with atomic_output(Path(output), overwrite) as destination:
            join_pieces(
                pieces,
                destination,
                fmt,
                time_base,
                options=container_options(fmt, True),
                companion=companion,
                keep_timestamps=settings.keep_timestamps,
                aspect=aspect,
                should_stop=should_stop,
            )
    except InterruptedError:
        pass  # stopped by a signal during the join: the output was removed
    return time.perf_counter() - started
