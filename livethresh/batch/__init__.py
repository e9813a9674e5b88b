"""Batches: binarize a whole archive of videos, resumably, on every core or on a Ray cluster.

:func:`run_batch` plans the files (:mod:`~livethresh.batch.plan`: inputs to outputs, resume),
runs them on an engine (:mod:`~livethresh.batch.local`, a process pool, or
:mod:`~livethresh.batch.ray_engine`, one Ray task per file), each as a ``transcode`` that is all
or nothing (:mod:`~livethresh.batch.task`), and returns a :class:`BatchReport`.

Guarantees: a bad input fails alone and the batch goes on; an output exists under its final
name only once complete, so after any stop (Ctrl-C, SIGTERM, SIGHUP, a crash) rerunning the
same command does exactly the files that are not done, and clears the partial files that a
killed run left beside them.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from livethresh.batch.plan import PlannedFile, output_extension, plan_batch, settings_record
from livethresh.batch.task import FileJob, FileResult
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.errors import OutputError
from livethresh.partials import remove_leftover_partials
from livethresh.runs import RunOutcome, stop_on_signals

log = logging.getLogger(__name__)


class Engine(enum.StrEnum):
    """Where a batch's files run: this machine's cores, or a Ray cluster (also the choices of
    ``batch --engine``)."""

    LOCAL = "local"
    RAY = "ray"


__all__ = ["BatchReport", "Engine", "FileResult", "PlannedFile", "run_batch"]


@dataclass
class BatchReport(RunOutcome):
    """What a batch did, file by file.

    Attributes:
        files: One result per input, in the order they finished (planned skips first).
        wall_s: Seconds from the start of planning to the end.
        signal: The signal that stopped the batch (SIGINT, SIGTERM, SIGHUP), or None.
    """

    files: list[FileResult] = field(default_factory=list)
    wall_s: float = 0.0
    signal: int | None = None

    def count(self, status: str) -> int:
        return sum(item.status == status for item in self.files)

    @property
    def failures(self) -> list[FileResult]:
        return [item for item in self.files if item.status == "failed"]

    @property
    def failed(self) -> bool:
        """Whether a file failed (the exit code is then 2, unless a signal stopped the batch)."""
        return bool(self.failures)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` report: every file, then the counts and the batch's wall time."""
        data: dict[str, Any] = {"inputs": [item.to_dict() for item in self.files]}
        for status in ("done", "skipped", "failed"):
            data[status] = self.count(status)
        if self.signal_name:
            data["interrupted"] = self.count("interrupted")
            data["signal"] = self.signal_name
        data["wall_s"] = round(self.wall_s, 3)
        return data

    def summary(self) -> str:
        """One line for the console."""
        frames = sum(item.frames for item in self.files)
        parts = [f"{self.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")]
        stopped = f" (stopped by {self.signal_name})" if self.signal_name else ""
        return (
            f"batch: {', '.join(p for p in parts if not p.startswith('0 ')) or 'nothing'} "
            f"of {len(self.files)} files, {frames} frames in {self.wall_s:.1f} s{stopped}"
        )


def run_batch(
    inputs: list[str],
    output_dir: str,
    config: ThresholdConfig,
    settings: EncodeSettings | None = None,
    *,
    audio: bool = True,
    overwrite: bool = False,
    engine: Engine | str = Engine.LOCAL,
    jobs: int | None = None,
    ray_address: str | None = None,
    on_plan: Callable[[list[PlannedFile]], None] | None = None,
    on_file: Callable[[FileResult], None] | None = None,
    on_frames: Callable[[str, int], None] | None = None,
    handle_signals: bool = True,
) -> BatchReport:
    """Transcode every video that ``inputs`` name into ``output_dir``, as ``transcode`` would.

    Args:
        inputs: Files, folders (searched recursively) and glob patterns.
        output_dir: Where the outputs go (created if missing); folder trees are mirrored.
        config: Threshold settings.
        settings: Encoder settings; ``format`` picks the outputs' container (mp4 by default).
        audio: Copy each input's audio streams.
        overwrite: Redo files whose output exists (by default they are skipped: resume; one
            made with other settings fails, saying which, and is redone only with this).
        engine: ``local`` (a process pool) or ``ray``.
        jobs: Local: worker processes (default one per core). Ray: tasks in flight at once
            (default two per CPU of the cluster, 8 at least).
        ray_address: A running Ray cluster to join; None starts Ray on this machine.
        on_plan: Called with the planned files before any runs.
        on_file: Called with each file's result as it is known.
        on_frames: Called with an input and its frames written so far (local engine).
        handle_signals: Turn SIGINT, SIGTERM and SIGHUP into a clean stop (main thread only):
            the files in progress are abandoned, the report says which files were not done.

    Raises:
        ConfigError, OutputError: Bad settings, two inputs for one output, an output folder
            that cannot be made: before any file runs.
    """
    started = time.perf_counter()
    settings = settings or EncodeSettings()
    fmt = settings.format
    # The outputs' extension names the container; the settings are checked once, here,
    # rather than failing every file.
    settings = replace(settings, format=None)
    encoding = plan_encoding(Path(output_dir) / f"check{output_extension(fmt)}", settings)
    record = settings_record(config, encoding, audio)
    planned = plan_batch(inputs, output_dir, fmt, overwrite, record)
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create --output-dir {output_dir!r}: {exc.strerror}") from None
    _clear_leftovers(planned)
    if on_plan is not None:
        on_plan(planned)
    report = BatchReport()

    def finished(result: FileResult) -> None:
        report.files.append(result)
        if on_file is not None:
            on_file(result)

    todo: list[FileJob] = []
    for item in planned:
        if item.problem or item.output is None:
            finished(FileResult(item.input, item.output, "failed", error=item.problem))
        elif item.skip:
            finished(FileResult(item.input, item.output, "skipped"))
        else:
            job = FileJob(item.input, item.output, config, settings, audio, overwrite)
            todo.append(replace(job, settings_record=record))
    received: list[int] = []
    # The first signal raises KeyboardInterrupt here, which the engine turns into an orderly
    # stop; later ones are only noted, so that the stop and the report are not cut short.
    guard = (
        stop_on_signals(None, received, finalizing=lambda: True)
        if handle_signals
        else contextlib.nullcontext()
    )
    try:
        with guard:
            _run_engine(engine, todo, finished, jobs, ray_address, on_frames)
    except KeyboardInterrupt:
        report.signal = received[0] if received else signal.SIGINT
    report.wall_s = time.perf_counter() - started
    return report


def _clear_leftovers(planned: list[PlannedFile]) -> None:
    """Delete the partial files that a killed run (SIGKILL, a power loss) left beside this
    batch's outputs, once their writer is gone; nothing else."""
    removed = remove_leftover_partials(Path(item.output) for item in planned if item.output)
    if removed:
        log.warning(
            "removed %d unfinished file%s left by a run that was killed: %s",
            len(removed),
            "s" if len(removed) > 1 else "",
            ", ".join(str(path) for path in removed[:3]) + (", ..." if len(removed) > 3 else ""),
        )


def _run_engine(
    engine: Engine | str,
    todo: list[FileJob],
    finished: Callable[[FileResult], None],
    jobs: int | None,
    ray_address: str | None,
    on_frames: Callable[[str, int], None] | None,
) -> None:
    if engine == Engine.RAY:
        from livethresh.batch.ray_engine import run_ray

        run_ray(todo, finished, address=ray_address, max_in_flight=jobs)
    else:
        from livethresh.batch.local import run_local

        run_local(todo, finished, workers=jobs, on_frames=on_frames)
