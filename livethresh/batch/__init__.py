"""Batches: binarize a whole archive of videos, resumably, on every core or on a Ray cluster.

:func:`run_batch` plans the files (:mod:`~livethresh.batch.plan`: inputs to outputs, resume),
runs them on an engine (:mod:`~livethresh.batch.local`, a process pool, or
:mod:`~livethresh.batch.ray_engine`, one Ray task per file), each as a ``transcode`` that is all
or nothing (:mod:`~livethresh.batch.task`), and returns a :class:`BatchReport`.

Guarantees: a bad input fails alone and the batch goes on; an output exists under its final
name only once complete, so after any stop (Ctrl-C, SIGTERM, a crash) rerunning the same
command does exactly the files that are not done.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from livethresh.batch.plan import PlannedFile, output_extension, plan_batch
from livethresh.batch.task import FileJob, FileResult
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.errors import OutputError

log = logging.getLogger(__name__)

Engine = Literal["local", "ray"]
ENGINES: tuple[Engine, ...] = ("local", "ray")
#: Exit status of a batch ended by a signal, as shells report it (130 Ctrl-C, 143 SIGTERM).
SIGNAL_EXIT_BASE = 128
#: Exit status of a batch in which a file failed.
EXIT_FAILED = 2

__all__ = ["ENGINES", "BatchReport", "FileResult", "PlannedFile", "run_batch"]


@dataclass
class BatchReport:
    """What a batch did, file by file.

    Attributes:
        files: One result per input, in the order they finished (planned skips first).
        wall_s: Seconds from the start of planning to the end.
        signal: The signal that stopped the batch (SIGINT, SIGTERM), or None.
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
    def exit_code(self) -> int:
        """128 + the signal if one stopped the batch, else 2 if a file failed, else 0."""
        if self.signal:
            return SIGNAL_EXIT_BASE + self.signal
        return EXIT_FAILED if self.failures else 0

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` report: every file, then the counts and the batch's wall time."""
        data: dict[str, Any] = {"inputs": [item.to_dict() for item in self.files]}
        for status in ("done", "skipped", "failed"):
            data[status] = self.count(status)
        if self.signal:
            data["interrupted"] = self.count("interrupted")
            data["signal"] = signal.Signals(self.signal).name
        data["wall_s"] = round(self.wall_s, 3)
        return data

    def summary(self) -> str:
        """One line for the console."""
        frames = sum(item.frames for item in self.files)
        parts = [f"{self.count(s)} {s}" for s in ("done", "skipped", "failed", "interrupted")]
        stopped = f" (stopped by {signal.Signals(self.signal).name})" if self.signal else ""
        return (
            f"batch: {', '.join(p for p in parts if not p.startswith('0 '))} "
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
    engine: Engine = "local",
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
        overwrite: Redo files whose output exists (by default they are skipped: resume).
        engine: ``local`` (a process pool) or ``ray``.
        jobs: Local: worker processes (default one per core). Ray: tasks in flight at once
            (default two per CPU of the cluster, 8 at least).
        ray_address: A running Ray cluster to join; None starts Ray on this machine.
        on_plan: Called with the planned files before any runs.
        on_file: Called with each file's result as it is known.
        on_frames: Called with an input and its frames written so far (local engine).
        handle_signals: Turn SIGINT/SIGTERM into a clean stop (main thread only): the files in
            progress are abandoned, the report says which files were not done.

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
    plan_encoding(Path(output_dir) / f"check{output_extension(fmt)}", settings)
    planned = plan_batch(inputs, output_dir, fmt, overwrite)
    try:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create --output-dir {output_dir!r}: {exc.strerror}") from None
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
            todo.append(FileJob(item.input, item.output, config, settings, audio, overwrite))
    received: list[int] = []
    guard = _stop_on_signals(received) if handle_signals else contextlib.nullcontext()
    try:
        with guard:
            _run_engine(engine, todo, finished, jobs, ray_address, on_frames)
    except KeyboardInterrupt:
        report.signal = received[0] if received else signal.SIGINT
    report.wall_s = time.perf_counter() - started
    return report


def _run_engine(
    engine: Engine,
    todo: list[FileJob],
    finished: Callable[[FileResult], None],
    jobs: int | None,
    ray_address: str | None,
    on_frames: Callable[[str, int], None] | None,
) -> None:
    if engine == "ray":
        from livethresh.batch.ray_engine import run_ray

        run_ray(todo, finished, address=ray_address, max_in_flight=jobs)
    else:
        from livethresh.batch.local import run_local

        run_local(todo, finished, workers=jobs, on_frames=on_frames)


@contextlib.contextmanager
def _stop_on_signals(received: list[int]) -> Iterator[None]:
    """SIGINT and SIGTERM stop the batch: the first one raises KeyboardInterrupt in the main
    thread, where the engine turns it into an orderly stop; later ones are ignored, so that the
    stop and the report are not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        received.append(signum)
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        log.info("%s received: stopping the batch", signal.Signals(signum).name)
        raise KeyboardInterrupt

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        if not received:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
