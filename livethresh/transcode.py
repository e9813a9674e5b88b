"""Offline transcoding: a video in, the binarized video out, with its audio and timestamps.

:func:`transcode` wires the pieces together: the source (``sources.open_source``), the
threaded :class:`~livethresh.pipeline.Pipeline`, an :class:`~livethresh.sinks.encoder.EncoderSink`,
and an :class:`AudioPassthrough` that copies the input's audio streams into the same container.

What it guarantees, on every exit path:

* the output rules of :mod:`livethresh.files`: OUTPUT may not be INPUT (also through a
  symlink or another spelling) nor any file of an input image sequence, an existing OUTPUT is
  replaced only with ``overwrite`` and only by a finished file (it is written beside the
  target under a temporary name, then renamed);
* a run that ends before the first frame leaves no file; once frames are written, an error,
  Ctrl-C (SIGINT), SIGTERM or SIGHUP (:mod:`livethresh.runs`) still finalizes the output
  (encoder flushed, trailer written) with every frame handed to the encoder, and the file is
  then put in place;
* audio is interleaved as the video progresses: audio packets are muxed only up to the
  current video time. A file's audio is read by a second demuxer of its own; a stream's
  (``udp://``, ``http://``, a pipe), which can be read only once, by the video's demuxer, which
  keeps the audio packets until the encoder takes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livethresh.encode.audio import AudioPassthrough, carry_streams
from livethresh.encode.containers import container_options, holds_audio
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.encode.tracks import ContainerTags, MuxCompanion
from livethresh.errors import InputError, LivethreshError, OutputError
from livethresh.files import atomic_output, check_output_path
from livethresh.locations import is_file_target, is_network_url
from livethresh.pipeline import DEFAULT_QUEUE_SIZE, Pipeline
from livethresh.runs import RunControl, RunOutcome, run_to_the_end, stop_on_signals
from livethresh.sinks import FrameSink, ProgressSink, TeeSink
from livethresh.sinks.encoder import EncoderSink
from livethresh.sources.pyav import ENCODING_DECODER_THREADS
from livethresh.sources.sequences import input_files

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig
    from livethresh.frames import StreamInfo
    from livethresh.sources import FrameSource
    from livethresh.stats import Stats

log = logging.getLogger(__name__)


@dataclass
class TranscodeResult(RunOutcome):
    """What a run did.

    Attributes:
        output: Where the video went (path, ``-`` or URL).
        stats: The pipeline's statistics.
        frames: Frames written to the output.
        audio: One line per input audio stream: copied, re-encoded or dropped.
        signal: The signal that ended the run early (SIGINT, SIGTERM, SIGHUP), or None.
    """

    output: str
    stats: Stats
    frames: int
    audio: list[str] = field(default_factory=list)
    signal: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The pipeline's JSON stats plus ``output`` (and ``interrupted`` when a signal came)."""
        data = self.stats.to_dict()
        data["output"] = self.output
        data["audio"] = self.audio
        if self.signal_name:
            data["interrupted"] = self.signal_name
        return data

    def summary(self) -> str:
        """One line for the console."""
        stats = self.stats
        stopped = f" (stopped by {self.signal_name})" if self.signal_name else ""
        if self.frames == 0:
            return f"nothing written to {self.output}: stopped before the first frame{stopped}"
        audio = f", audio: {'; '.join(self.audio)}" if self.audio else ""
        damaged = (
            f", {stats.decode_errors} damaged input packets skipped" if stats.decode_errors else ""
        )
        return (
            f"wrote {self.output}: {self.frames} frames in {stats.wall_s:.2f} s "
            f"({stats.fps:.1f} fps){damaged}{audio}{stopped}"
        )


def transcode(
    input: str,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings | None = None,
    *,
    audio: bool = True,
    overwrite: bool = False,
    max_frames: int | None = None,
    rate: float | Fraction | None = None,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    decoder_threads: int = ENCODING_DECODER_THREADS,
    on_start: Callable[[StreamInfo], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    handle_signals: bool = True,
    tags: dict[str, str] | None = None,
) -> TranscodeResult:
    """Binarize every frame of ``input`` into ``output``, keeping timestamps and audio.

    Args:
        input: A video file, or anything :func:`~livethresh.sources.open_source` reads (the
            audio of files, network streams and pipes is carried).
        output: A file path, ``-`` for stdout, or a network URL.
        config: Threshold settings.
        settings: Encoder settings (the defaults of :class:`EncodeSettings` when None).
        audio: Copy the input's audio streams (False drops them).
        overwrite: Replace an existing output file, once the new one is complete.
        max_frames: Stop after this many frames (for tests and previews).
        rate: Frame rate of an image sequence (``frames/%04d.png``; FFmpeg's 25 when None), or
            to ask a camera or pattern for.
        queue_size: Slots per pipeline queue.
        decoder_threads: Threads of the video decoder.
        on_start: Called with the stream description once the input is open.
        on_progress: Called with the number of frames written, a few times a second.
        handle_signals: Turn SIGINT, SIGTERM and SIGHUP into a clean early end (main thread
            only; see :mod:`livethresh.runs`).
        tags: Container tags to write, over any of the same name carried from the input
            (``batch`` records its settings so). mp4 and mov then store tags by name
            (``movflags=use_metadata_tags``); avi and MPEG-TS drop tags they do not know.

    Returns:
        What was written; ``signal`` is set when a signal ended the run early.

    Raises:
        InputError, OutputError, ConfigError: Bad input, output or settings, before any file is
            created; or a failure during the run, after the frames so far were finalized.
    """
    from livethresh.sources import open_source

    settings = settings or EncodeSettings()
    plan = plan_encoding(output, settings)  # fail fast on bad settings, before any I/O
    to_file = is_file_target(output)
    # A file's audio is read by a second demuxer; a stream or a pipe can be read only once.
    input_is_file = not is_network_url(input) and Path(input).is_file()
    if to_file:
        check_output_path(Path(output), input_files(input), overwrite)
    # A stream's subtitles come along without its audio, as a file's do.
    carry = not input_is_file and holds_audio(plan.format)
    with open_source(
        input,
        live=False,
        rate=rate,
        decoder_threads=decoder_threads,
        audio=audio and carry,
        subtitles=carry,
    ) as source:
        if on_start is not None:
            on_start(source.info)
        if max_frames is None and source.spec.kind == "lavfi":
            # Cameras and streams are recorded until Ctrl-C as a matter of course; a test
            # pattern running forever surprises.
            log.warning(
                "%s does not end by itself: stop with Ctrl-C (the output is finalized) "
                "or give max_frames=N",
                input,
            )
        companion, notes = carry_streams(input if input_is_file else source, plan.format, audio)
        try:
            return record(
                source,
                output,
                config,
                settings,
                companion=companion,
                notes=notes,
                max_frames=max_frames,
                queue_size=queue_size,
                on_progress=on_progress,
                handle_signals=handle_signals,
                overwrite=overwrite,
                tags=tags,
            )
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
    overwrite: bool = False,
    tags: dict[str, str] | None = None,
    wrap_sink: Callable[[FrameSink], FrameSink] | None = None,
) -> TranscodeResult:
    """Run ``source`` through the pipeline into an encoder writing ``output``, finalizing it.

    The caller has checked the output path (:func:`livethresh.files.check_output_path`).
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
        handle_signals: Turn SIGINT, SIGTERM and SIGHUP into a clean early end (main thread
            only).
        overwrite: Whether the finished file may replace one that is at ``output`` by then;
            without it, a file that appeared meanwhile is kept and so is the new one (see
            :func:`~livethresh.files.atomic_output`).
        tags: Container tags to write (see :func:`transcode`).
        wrap_sink: Wraps the sink the pipeline writes to (the encoder, progress and ``also``):
            a segment of a split run holds its warm-up frames back there.

    Raises:
        InputError, OutputError: A failure before the first frame (no file is left), or during
            the run (after the frames so far were finalized and put in place).
    """
    plan = plan_encoding(output, settings)
    to_file = is_file_target(output)
    received: list[int] = []
    error: BaseException | None = None
    control = RunControl()
    # The guard spans the rename too: a second Ctrl-C after the trailer cannot lose the file.
    guard = (
        stop_on_signals(control.stop, received, control.finalizing, writing=control.writing)
        if handle_signals
        else nullcontext()
    )
    target = atomic_output(Path(output), overwrite) if to_file else nullcontext(output)
    try:
        with guard, target as destination:
            # The container is the one OUTPUT names, whatever the file written to is called
            # (a temporary name, or the target of a symlink).
            muxer_options = container_options(plan.format, to_file)
            companions: list[MuxCompanion] = [companion] if companion else []
            if tags:
                companions.append(ContainerTags(tags))
                if plan.format in ("mp4", "mov"):  # else only the tags it has names for
                    flags = muxer_options.get("movflags", "")
                    muxer_options["movflags"] = f"{flags}+use_metadata_tags"
            sink = EncoderSink(
                destination,
                replace(settings, format=plan.format),
                companions=companions,
                container_options=muxer_options,
            )
            watched: FrameSink = ProgressSink(sink, on_progress) if on_progress else sink
            if also is not None:
                watched = TeeSink([watched, also])
            if wrap_sink is not None:
                watched = wrap_sink(watched)
            pipeline = Pipeline(
                source, watched, config, max_frames=max_frames, queue_size=queue_size
            )
            if on_pipeline is not None:
                on_pipeline(pipeline)
            control.attach(pipeline, sink)
            stats, error = run_to_the_end(pipeline, sink, received)
            if sink.frames == 0 or (
                error and (isinstance(error, OutputError) or not settings.keep_partial)
            ):
                # Nothing to keep, an output not written or finalized (a full disk) or one not to
                # keep after an error: leaving the block with an exception removes the file.
                raise error or _NothingWritten()
            if error is not None and to_file:
                error = _note_kept_frames(error, sink.frames, output)
    except _NothingWritten:
        if not received:
            raise InputError(f"no frame of {source.info.name!r} could be decoded") from None
        stats = pipeline.stats
    if error is not None:
        raise error
    return TranscodeResult(
        output=output,
        stats=stats,
        frames=sink.frames,
        audio=notes or [],
        signal=received[0] if received else None,
    )


class _NothingWritten(Exception):
    """The run ended before its first frame: the output must not be created."""


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
