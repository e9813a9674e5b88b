"""Offline transcoding: a video in, the binarized video out, with its audio and timestamps.

:func:`transcode` wires the pieces together: the source (``sources.open_source``), the
threaded :class:`~livethresh.pipeline.Pipeline`, an :class:`~livethresh.encoder.EncoderSink`,
and an :class:`AudioPassthrough` that copies the input's audio streams into the same container.

What it guarantees, on every exit path:

* the output rules of :mod:`livethresh.outputs`: OUTPUT may not be INPUT (also through a
  symlink or another spelling), an existing OUTPUT is replaced only with ``overwrite`` and only
  by a finished file (it is written beside the target under a temporary name, then renamed);
* a run that ends before the first frame leaves no file; once frames are written, an error,
  Ctrl-C (SIGINT) or SIGTERM still finalizes the output (encoder flushed, trailer written) with
  every frame handed to the encoder, and the file is then put in place;
* audio is interleaved as the video progresses: a second demuxer of the input reads audio
  packets only up to the current video time, so nothing is buffered beyond a frame's worth.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from livethresh.encoder import (
    EncoderSink,
    EncodeSettings,
    NullWriter,
    container_accepts,
    is_file_target,
    is_network_url,
    plan_encoding,
)
from livethresh.errors import InputError, LivethreshError, OutputError
from livethresh.outputs import atomic_output, check_output_path
from livethresh.pipeline import DEFAULT_QUEUE_SIZE, Pipeline
from livethresh.sinks import FrameSink, ProcessedFrame, TeeSink

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer

    from livethresh.config import ThresholdConfig
    from livethresh.sources import FrameSource, StreamInfo
    from livethresh.stats import Stats

log = logging.getLogger(__name__)

#: Encoder threads. On 2 cores the decoder (2 threads) and the binarizer already keep both
#: cores busy and x264 ultrafast runs in the output stage, in parallel with them: measured on
#: 1080p (benchmarks/bench_transcode.py), 1 thread was as fast as 2 or auto, with the least CPU
#: and 13-25 MiB less peak memory, since every x264 frame thread holds frames in flight.
DEFAULT_ENCODER_THREADS = 1
#: Decoder threads of the source. Not FFmpeg's automatic count (3 on 2 cores), which ``bench``
#: uses: here the encoder needs a share of the cores, and each decoder thread holds frames.
DEFAULT_DECODER_THREADS = 2
#: Audio codecs a container falls back to when it cannot hold the input's, if FFmpeg's own
#: default is not the usual one for that container.
AUDIO_CODEC_BY_FORMAT = {"webm": "libopus", "mpegts": "aac", "matroska": "aac", "flv": "aac",
                         "avi": "libmp3lame"}
#: Containers that hold no audio at all.
VIDEO_ONLY_FORMATS = frozenset({"yuv4mpegpipe", "rawvideo"})
#: How often the progress callback may be called, in seconds.
PROGRESS_INTERVAL = 0.1
#: Exit status of a run ended by a signal, as shells report it.
SIGNAL_EXIT_BASE = 128


@dataclass
class TranscodeResult:
    """What a run did.

    Attributes:
        output: Where the video went (path, ``-`` or URL).
        stats: The pipeline's statistics.
        frames: Frames written to the output.
        audio: One line per input audio stream: copied, re-encoded or dropped.
        signal: The signal that ended the run early (SIGINT, SIGTERM), or None.
    """

    output: str
    stats: Stats
    frames: int
    audio: list[str] = field(default_factory=list)
    signal: int | None = None

    @property
    def exit_code(self) -> int:
        """0, or 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM)."""
        return SIGNAL_EXIT_BASE + self.signal if self.signal else 0

    def to_dict(self) -> dict[str, Any]:
        """The pipeline's JSON stats plus ``output`` (and ``interrupted`` when a signal came)."""
        data = self.stats.to_dict()
        data["output"] = self.output
        data["audio"] = self.audio
        if self.signal:
            data["interrupted"] = signal.Signals(self.signal).name
        return data

    def summary(self) -> str:
        """One line for the console."""
        stats = self.stats
        stopped = f" (stopped by {signal.Signals(self.signal).name})" if self.signal else ""
        if self.frames == 0:
            return f"nothing written to {self.output}: stopped before the first frame{stopped}"
        audio = f", audio: {'; '.join(self.audio)}" if self.audio else ""
        damaged = (f", {stats.decode_errors} damaged input packets skipped"
                   if stats.decode_errors else "")
        return (f"wrote {self.output}: {self.frames} frames in {stats.wall_s:.2f} s "
                f"({stats.fps:.1f} fps){damaged}{audio}{stopped}")


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
                log.warning("container %s cannot hold %s audio (stream %d): re-encoding to %s",
                            fmt, name, stream.index, fallback)
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
            if when is not None and packet.time_base is not None and \
                    float(when * packet.time_base) > until:
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


class _ProgressSink:
    """Wraps a sink to report progress, at most every :data:`PROGRESS_INTERVAL` seconds."""

    def __init__(self, sink: EncoderSink, report: Callable[[int], None]) -> None:
        self.sink = sink
        self.report = report
        self._next = 0.0

    def open(self, info: StreamInfo) -> None:
        self.sink.open(info)

    def write(self, frame: ProcessedFrame) -> None:
        self.sink.write(frame)
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + PROGRESS_INTERVAL
            self.report(self.sink.frames)

    def close(self) -> None:
        self.sink.close()
        self.report(self.sink.frames)


@contextmanager
def _stop_on_signals(stop: Callable[[], None], received: list[int],
                     finalizing: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop of the run; a second one forces it.

    The handler only records the signal and asks the pipeline to stop from a helper thread,
    because it runs between two bytecodes of the main thread, which may hold a queue lock.
    A second signal stops the waiting for the pipeline's threads, but once ``finalizing()``
    is true it is only noted: interrupting the trailer (or MP4's faststart rewrite) would
    leave a file that does not play.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        if received:  # a second signal: stop waiting for a clean end
            if finalizing():
                log.info("%s received while the output is finalized: finishing it first",
                         signal.Signals(signum).name)
                return
            raise KeyboardInterrupt
        received.append(signum)
        log.info("%s received: finalizing the output", signal.Signals(signum).name)
        threading.Thread(target=stop, name="livethresh-stop", daemon=True).start()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def transcode(
    input: str,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings | None = None,
    *,
    audio: bool = True,
    overwrite: bool = False,
    max_frames: int | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    decoder_threads: int = DEFAULT_DECODER_THREADS,
    on_start: Callable[[StreamInfo], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    handle_signals: bool = True,
) -> TranscodeResult:
    """Binarize every frame of ``input`` into ``output``, keeping timestamps and audio.

    Args:
        input: A video file (or anything :func:`~livethresh.sources.open_source` reads; audio is
            copied from files only).
        output: A file path, ``-`` for stdout, or a network URL.
        config: Threshold settings.
        settings: Encoder settings; threads default to :data:`DEFAULT_ENCODER_THREADS`.
        audio: Copy the input's audio streams (False drops them).
        overwrite: Replace an existing output file, once the new one is complete.
        max_frames: Stop after this many frames (for tests and previews).
        queue_size: Slots per pipeline queue.
        decoder_threads: Threads of the video decoder.
        on_start: Called with the stream description once the input is open.
        on_progress: Called with the number of frames written, a few times a second.
        handle_signals: Turn SIGINT/SIGTERM into a clean early end (main thread only).

    Returns:
        What was written; ``signal`` is set when a signal ended the run early.

    Raises:
        InputError, OutputError, ConfigError: Bad input, output or settings, before any file is
            created; or a failure during the run, after the frames so far were finalized.
    """
    from livethresh.sources import open_source

    settings = settings or EncodeSettings(threads=DEFAULT_ENCODER_THREADS)
    plan = plan_encoding(output, settings)  # fail fast on bad settings, before any I/O
    to_file = is_file_target(output)
    # Audio is read by a second demuxer: only a regular file can be opened twice (a FIFO or a
    # device would block or lose the data).
    input_is_file = not is_network_url(input) and Path(input).is_file()
    if to_file:
        check_output_path(Path(output), [Path(input)] if input_is_file else [], overwrite)

    with open_source(input, live=False, decoder_threads=decoder_threads) as source:
        if on_start is not None:
            on_start(source.info)
        if max_frames is None and source.spec.kind == "lavfi":
            # Cameras and streams are recorded until Ctrl-C as a matter of course; a test
            # pattern running forever surprises.
            log.warning("%s does not end by itself: stop with Ctrl-C (the output is finalized) "
                        "or give --frames N", input)
        companion: AudioPassthrough | None = None
        notes: list[str] = []
        if audio and input_is_file:
            if plan.format in VIDEO_ONLY_FORMATS:
                notes.append("dropped (the container holds video only)")
            else:
                companion = AudioPassthrough(input, plan.format)
                notes = companion.notes
        try:
            return record(source, output, config, settings, companion=companion, notes=notes,
                          max_frames=max_frames, queue_size=queue_size,
                          on_progress=on_progress, handle_signals=handle_signals)
        finally:
            if companion is not None:
                companion.close()


def record(
    source: FrameSource,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings,
    *,
    companion: AudioPassthrough | None = None,
    notes: list[str] | None = None,
    also: FrameSink | None = None,
    max_frames: int | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    on_progress: Callable[[int], None] | None = None,
    on_pipeline: Callable[[Pipeline], None] | None = None,
    handle_signals: bool = True,
) -> TranscodeResult:
    """Run ``source`` through the pipeline into an encoder writing ``output``, finalizing it.

    The caller has checked the output path (:func:`livethresh.outputs.check_output_path`).
    This is the part of :func:`transcode` that ``preview --record`` shares: the masks are
    encoded exactly as the pipeline produces them, so a recording follows live tuning.

    Args:
        source: An open source; the caller closes it.
        output: A file path, ``-`` for stdout, or a network URL.
        config: Threshold settings.
        settings: Encoder settings.
        companion: Audio to interleave with the video, if any.
        notes: What happened to the input's audio streams, for the result.
        also: Another sink fed the same frames after the encoder (the preview window).
        max_frames: Stop after this many frames.
        queue_size: Slots per pipeline queue.
        on_progress: Called with the number of frames written, a few times a second.
        on_pipeline: Called with the pipeline before it runs (live tuning uses its
            ``set_config``).
        handle_signals: Turn SIGINT/SIGTERM into a clean early end (main thread only).

    Raises:
        InputError, OutputError: A failure before the first frame (no file is left), or during
            the run (after the frames so far were finalized and put in place).
    """
    plan = plan_encoding(output, settings)
    to_file = is_file_target(output)
    received: list[int] = []
    error: BaseException | None = None
    control = _RunControl()
    # The guard spans the rename too: a second Ctrl-C after the trailer cannot lose the file.
    guard = (_stop_on_signals(control.stop, received, control.finalizing) if handle_signals
             else nullcontext())
    target = atomic_output(Path(output)) if to_file else nullcontext(output)
    try:
        with guard, target as destination:
            # The container is the one OUTPUT names, whatever the file written to is called
            # (a temporary name, or the target of a symlink).
            sink = EncoderSink(destination, replace(settings, format=plan.format),
                               companions=[companion] if companion else [],
                               container_options=_container_options(plan.format, to_file))
            watched: FrameSink = _ProgressSink(sink, on_progress) if on_progress else sink
            if also is not None:
                watched = TeeSink([watched, also])
            pipeline = Pipeline(source, watched, config, max_frames=max_frames,
                                queue_size=queue_size)
            if on_pipeline is not None:
                on_pipeline(pipeline)
            control.attach(pipeline, sink)
            stats, error = _run(pipeline, sink, received)
            if sink.frames == 0 or isinstance(error, OutputError):
                # Nothing to keep, or an output that could not be written or finalized (a full
                # disk): leaving the block with an exception removes the file.
                raise error or _NothingWritten()
            if error is not None and to_file:
                error = _note_kept_frames(error, sink.frames, output)
    except _NothingWritten:
        if not received:
            raise InputError(f"no frame of {source.info.name!r} could be decoded") from None
        stats = pipeline.stats
    if error is not None:
        raise error
    return TranscodeResult(output=output, stats=stats, frames=sink.frames, audio=notes or [],
                           signal=received[0] if received else None)


class _NothingWritten(Exception):
    """The run ended before its first frame: the output must not be created."""


class _RunControl:
    """What the signal handler acts on, from before the pipeline exists to the final rename."""

    def __init__(self) -> None:
        self._pipeline: Any = None
        self._sink: EncoderSink | None = None
        self._stop_requested = False

    def attach(self, pipeline: Any, sink: EncoderSink) -> None:
        self._pipeline, self._sink = pipeline, sink
        if self._stop_requested:  # a signal came while the output was being opened
            pipeline.stop()

    def stop(self) -> None:
        self._stop_requested = True
        if self._pipeline is not None:
            self._pipeline.stop()

    def finalizing(self) -> bool:
        """True from the start of the encoder's close to the end: no more forced stops."""
        return self._sink is not None and self._sink.closing


def _note_kept_frames(error: BaseException, frames: int, output: str) -> BaseException:
    """The same error, telling the user that the frames before it are safe in ``output``.

    It stays one line: the CLI prints a :class:`LivethreshError` as its message only.
    """
    log.info("the run failed after %d frames; they are kept in %s", frames, output)
    if not isinstance(error, LivethreshError):
        return error
    kept = type(error)(f"{error}; the {frames} frames before it are kept in {output}")
    kept.__cause__ = error
    return kept


def _run(pipeline: Any, sink: EncoderSink,
         received: list[int]) -> tuple[Stats, BaseException | None]:
    """Run the pipeline to its end and finalize the output whatever happens.

    Returns:
        The stats, and the exception that ended the run (None if it ended normally or on a
        signal listed in ``received``).
    """
    error: BaseException | None = None
    try:
        stats = pipeline.run()
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
        stats = pipeline.stats
    finally:
        try:
            sink.close()  # idempotent; the pipeline normally closed it already
        except OutputError as exc:
            error = error or exc
    if received and isinstance(error, KeyboardInterrupt):
        error = None  # a second signal forced the stop; it is reported as the first one
    return stats, error


def _container_options(fmt: str, to_file: bool) -> dict[str, str]:
    """Muxer options: MP4 and MOV files get their index first, so they start playing at once."""
    if to_file and fmt in ("mp4", "mov"):
        return {"movflags": "+faststart"}
    return {}

