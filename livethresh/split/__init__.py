"""Split transcoding: one long video on every core, or every machine, joined into one output.

:func:`transcode_split` cuts the input at keyframes (:mod:`~livethresh.split.plan`), runs the
segments in parallel (:mod:`~livethresh.split.engines`: a local process pool or Ray), each
writing its masks into a temporary piece beside the output (:mod:`~livethresh.split.segment`),
then joins the pieces by stream copy into OUTPUT with the input's audio, subtitles and tags,
exactly as a single :func:`~livethresh.transcode.transcode` keeps them
(:mod:`~livethresh.split.join`).

Guarantees:

* the masks are a single run's, frame by frame and timestamp by timestamp, for every method
  that keeps no state across frames; with state (``stabilize``, ``auto_scale``, the
  ``background`` method's blank-frame hysteresis), each segment first binarizes a warm-up of
  the frames before its start (:func:`warm_up_for`; ``docs/batch.md`` gives what was measured);
* OUTPUT follows the rules of every output (:mod:`livethresh.files`): never the input, never an
  existing file without ``overwrite``, and it appears only complete;
* a stop (Ctrl-C, SIGTERM) or a failed segment stops every worker and leaves no piece behind;
  unlike a single run, a stopped split run leaves no output (its pieces are not a prefix);
* an input that cannot be cut (a stream, a pipe, a camera, an image sequence, a file without
  a keyframe index) or is too short runs as one segment, the single run, with a note.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from livethresh.batch import Engine
from livethresh.batch.ray_engine import ray_session
from livethresh.config import ThresholdConfig
from livethresh.encode.audio import carry_streams
from livethresh.encode.plan import EncodePlan, EncodeSettings, plan_encoding
from livethresh.errors import ConfigError, InputError
from livethresh.files import check_output_path
from livethresh.frames import StreamInfo
from livethresh.locations import is_file_target
from livethresh.runs import stop_on_signals
from livethresh.split.engines import StopSwitch, default_jobs, run_local, run_ray
from livethresh.split.join import join_output
from livethresh.split.plan import (
    AUTO_SCALE_WARM_UP,
    BACKGROUND_WARM_UP,
    STABILIZE_WARM_UP,
    Segment,
    SplitPlan,
    plan_segments,
    warm_up_for,
    whole,
)
from livethresh.split.result import SplitResult
from livethresh.split.segment import PIECE_FORMAT, SegmentJob, SegmentResult
from livethresh.transcode import transcode

log = logging.getLogger(__name__)

#: Containers a split run joins into: those that keep the codec's headers apart from the
#: frames (a global header), as the pieces do. Others (ts, avi, y4m) run as one segment.
JOINABLE_FORMATS = frozenset({"mp4", "mov", "matroska", "webm"})
__all__ = [
    "AUTO_SCALE_WARM_UP",
    "BACKGROUND_WARM_UP",
    "STABILIZE_WARM_UP",
    "SegmentResult",
    "SplitResult",
    "transcode_split",
    "warm_up_for",
]


def transcode_split(
    input: str,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings | None = None,
    *,
    segments: int | None = None,
    engine: Engine | str = Engine.LOCAL,
    jobs: int | None = None,
    ray_address: str | None = None,
    audio: bool = True,
    overwrite: bool = False,
    warm_up: int | None = None,
    max_frames: int | None = None,
    decoder_threads: int | None = None,
    on_start: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    handle_signals: bool = True,
) -> SplitResult:
    """Binarize ``input`` into ``output`` in segments run in parallel, as :func:`transcode`
    would in one run.

    Args:
        input: A video file; anything else :func:`transcode` reads runs as one segment.
        output: The output file (mp4, mov, mkv or webm are joined; other outputs run as one).
        config: Threshold settings.
        settings: Encoder settings (the defaults of :class:`EncodeSettings` when None).
        segments: How many segments; None: about one per core (local) or CPU (Ray), none for
            short inputs.
        engine: ``local`` (a process pool on this machine) or ``ray``.
        jobs: Local worker processes (default: one per core).
        ray_address: A running Ray cluster; None starts Ray on this machine.
        audio: Copy the input's audio streams (False drops them).
        overwrite: Replace an existing output, once the new one is complete.
        warm_up: Frames each segment binarizes before its start (None: :func:`warm_up_for`).
        max_frames: Stop after this many frames: the input then runs as one segment.
        decoder_threads: Threads of each segment's video decoder (None: a single run's).
        on_start: Called with the input's frame count (None if unknown) once it is planned.
        on_progress: Called with the frames written by all segments so far.
        on_note: Called with the one line saying why the input ran as one segment, once it
            has.
        handle_signals: Turn SIGINT/SIGTERM into a clean stop (main thread only).

    Returns:
        What was written; ``signal`` is set when a signal stopped the run.

    Raises:
        InputError: A segment failed (the message names its time range) or the input is bad.
        OutputError, ConfigError: Bad output or settings, before any work.
    """
    started = time.perf_counter()
    settings = settings or EncodeSettings()
    if segments is not None and segments < 1:
        raise ConfigError(f"--split must be a positive number of segments or auto, not {segments}")
    if engine not in tuple(Engine):
        raise ConfigError(f"unknown engine {engine!r}; use {' or '.join(Engine)}")
    engine = Engine(engine)
    plan = plan_encoding(output, settings)
    session = ray_session(ray_address) if engine is Engine.RAY else contextlib.nullcontext()
    with session as ray:
        if max_frames is not None:
            cut = whole(f"--frames {max_frames} asks for the first frames only")
        elif not is_file_target(output) or plan.format not in JOINABLE_FORMATS:
            cut = whole(f"the output is {plan.format} (only mp4, mov, mkv and webm are joined)")
        else:
            frames, align = warm_up_for(config)
            cores = jobs or default_jobs()
            if ray is not None:
                cores = int(ray.cluster_resources().get("CPU", 1))
            cut = plan_segments(
                input,
                segments,
                cores=cores,
                warm_up=frames if warm_up is None else warm_up,
                align=align,
            )
        return _run(
            input, output, config, settings, plan, cut, engine, jobs, ray_address, audio,
            overwrite, max_frames, decoder_threads, on_start, on_progress, on_note,
            handle_signals, started,
        )  # fmt: skip


def _run(
    input: str,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings,
    plan: EncodePlan,
    cut: SplitPlan,
    engine: Engine,
    jobs: int | None,
    ray_address: str | None,
    audio: bool,
    overwrite: bool,
    max_frames: int | None,
    decoder_threads: int | None,
    on_start: Callable[[int | None], None] | None,
    on_progress: Callable[[int], None] | None,
    on_note: Callable[[str], None] | None,
    handle_signals: bool,
    started: float,
) -> SplitResult:
    """The run, once planned: the segments, then the join (or the single run)."""
    if cut.note is not None:
        return _run_whole(
            input, output, config, settings, cut, audio, overwrite, max_frames, on_start,
            on_progress, on_note, handle_signals, engine, started,
        )  # fmt: skip
    check_output_path(Path(output), [Path(input)], overwrite)
    if on_start is not None:
        on_start(cut.frames)
    # The companion is planned before any segment runs, so that audio the container cannot
    # take fails at once, as in a single run.
    companion, notes = carry_streams(input, plan.format, audio)
    target = Path(output)
    token = f"split-{secrets.token_hex(4)}"
    pieces = [
        target.parent / f".{target.stem}.{token}.{s.index:03d}.{PIECE_FORMAT}" for s in cut.segments
    ]
    piece_settings = replace(
        settings,
        codec=plan.codec,
        pix_fmt=plan.pix_fmt,
        format=PIECE_FORMAT,
        keep_timestamps=True,
        keep_partial=False,
    )
    jobs_list = [
        SegmentJob(input, str(piece), segment, config, piece_settings, decoder_threads)
        for segment, piece in zip(cut.segments, pieces, strict=True)
    ]
    result = SplitResult(output, engine=engine, audio=notes)
    switch = StopSwitch()
    received: list[int] = []
    counts = [0] * len(jobs_list)

    def frames_written(index: int, count: int) -> None:
        counts[index] = count
        if on_progress is not None:
            on_progress(sum(counts))

    guard = stop_on_signals(switch.stop, received) if handle_signals else contextlib.nullcontext()
    try:
        with guard:
            try:
                if engine == "ray":
                    result.segments = run_ray(
                        jobs_list, switch, address=ray_address, on_frames=frames_written
                    )
                else:
                    result.segments = run_local(
                        jobs_list, switch, workers=jobs, on_frames=frames_written
                    )
                if not received:
                    _raise_first_failure(result.segments, cut)
                    result.join_s = join_output(
                        pieces, output, plan.format, cut.segments[0].time_base, settings,
                        companion, overwrite, switch.requested.is_set, result.segments[0].aspect,
                    )  # fmt: skip
            except KeyboardInterrupt:  # a second signal while waiting
                pass
    finally:
        if companion is not None:
            companion.close()
        _remove_pieces(target, token)
    if received:
        result.signal = received[0]
        result.segments = result.segments or []
        return result
    result.frames = sum(s.frames for s in result.segments)
    if on_progress is not None:
        on_progress(result.frames)
    result.wall_s = time.perf_counter() - started
    return result


def _run_whole(
    input: str,
    output: str,
    config: ThresholdConfig,
    settings: EncodeSettings,
    cut: SplitPlan,
    audio: bool,
    overwrite: bool,
    max_frames: int | None,
    on_start: Callable[[int | None], None] | None,
    on_progress: Callable[[int], None] | None,
    on_note: Callable[[str], None] | None,
    handle_signals: bool,
    engine: str,
    started: float,
) -> SplitResult:
    """The input as one segment: the single run itself."""
    note = f"{cut.note}: running it as one segment"
    log.info("%s", note)
    single = transcode(
        input,
        output,
        config,
        settings,
        audio=audio,
        overwrite=overwrite,
        max_frames=max_frames,
        on_start=(lambda info: on_start(_frame_total(info))) if on_start else None,
        on_progress=on_progress,
        handle_signals=handle_signals,
    )
    if on_note is not None:  # after the run: a bad input gets its one line of error alone
        on_note(note)
    return SplitResult(
        output,
        frames=single.frames,
        wall_s=time.perf_counter() - started,
        audio=single.audio,
        note=note,
        engine=engine,
        signal=single.signal,
        single=single,
    )


def _raise_first_failure(results: list[SegmentResult], cut: SplitPlan) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        first = failed[0]
        segment: Segment = cut.segments[first.index]
        raise InputError(
            f"segment {first.index + 1} of {len(results)} "
            f"({segment.describe(cut.duration)}) failed: {first.error}"
        )
    unfinished = [r for r in results if r.status != "done"]
    if unfinished:  # stopped without a signal of ours (a library caller's own stop)
        raise InputError(f"segment {unfinished[0].index + 1} did not finish: nothing written")


def _remove_pieces(target: Path, token: str) -> None:
    folder = target.parent if str(target.parent) else Path(".")
    mark = f".{target.stem}.{token}."
    with contextlib.suppress(OSError):
        for leftover in [p for p in folder.iterdir() if mark in p.name]:
            leftover.unlink(missing_ok=True)


def _frame_total(info: StreamInfo) -> int | None:
    """The frames a source will give, as the container states them or its duration implies."""
    if info.frame_count is None and info.duration and info.frame_rate:
        return round(info.duration * info.frame_rate)
    return info.frame_count
