"""One file of a batch, as both engines run it: a transcode that is all or nothing.

:func:`run_file` calls :func:`~livethresh.transcode.transcode` with the batch's settings, so an
output is exactly what ``livethresh transcode`` writes for the same input and options, but with
``keep_partial=False``: a file that does not go through to its end (a damaged input, a stop
request) leaves nothing under its final name, and the next run of the batch redoes it. Any
failure becomes the file's result; nothing raises out of here, so one bad file never stops the
others.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from livethresh.errors import InputNotFoundError, LivethreshError

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig
    from livethresh.encode.plan import EncodeSettings

log = logging.getLogger(__name__)

Status = Literal["done", "skipped", "failed", "interrupted"]


@dataclass(frozen=True)
class FileResult:
    """What became of one input.

    Attributes:
        input: The input path.
        output: Its output path (None if the argument named no file).
        status: ``done``, ``skipped`` (the output existed), ``failed``, or ``interrupted``
            (stopped or never started: nothing written, a rerun does it).
        frames: Frames written.
        wall_s: Seconds the file took on its worker.
        error: One line saying what went wrong, or None.
        node: The machine (and Ray node) that ran it.
    """

    input: str
    output: str | None
    status: Status
    frames: int = 0
    wall_s: float = 0.0
    error: str | None = None
    node: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FileJob:
    """Everything a worker needs for one file (it is pickled to the worker)."""

    input: str
    output: str
    config: ThresholdConfig
    settings: EncodeSettings
    audio: bool = True
    overwrite: bool = False
    decoder_threads: int | None = None
    #: The settings to record in the output (see :func:`~livethresh.batch.plan.settings_record`).
    settings_record: str | None = None


class StopRequested(Exception):
    """The batch is being stopped: the file in progress is abandoned."""


def run_file(
    job: FileJob,
    *,
    node: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> FileResult:
    """Transcode one file, all or nothing, and say how it went.

    Args:
        job: The file and the settings.
        node: The name to report, given by engines whose workers run on other machines (their
            errors then say that inputs must be on shared storage); default: the host name.
        should_stop: Polled as frames are written; when it returns True the file is abandoned
            (its unfinished output removed) and reported ``interrupted``.
        on_frames: Called with the frames written so far, a few times a second.
    """
    from livethresh.transcode import transcode

    remote = node is not None
    node = node or socket.gethostname()
    started = time.perf_counter()

    def progress(frames: int) -> None:
        if should_stop is not None and should_stop():
            raise StopRequested
        if on_frames is not None:
            on_frames(frames)

    def result(status: Status, frames: int = 0, error: str | None = None) -> FileResult:
        wall = round(time.perf_counter() - started, 3)
        return FileResult(job.input, job.output, status, frames, wall, error, node)

    if should_stop is not None and should_stop():
        return result("interrupted", error="not started")
    extra: dict[str, Any] = {}
    if job.decoder_threads is not None:
        extra["decoder_threads"] = job.decoder_threads
    if job.settings_record is not None:
        from livethresh.batch.plan import SETTINGS_TAG

        extra["tags"] = {SETTINGS_TAG: job.settings_record}
    try:
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        done = transcode(
            job.input,
            job.output,
            job.config,
            replace(job.settings, keep_partial=False),
            audio=job.audio,
            overwrite=job.overwrite,
            on_progress=progress,
            handle_signals=False,
            **extra,
        )
    except (StopRequested, KeyboardInterrupt):
        return result("interrupted", error="interrupted: nothing written, a rerun does it")
    except Exception as exc:
        log.debug("failure on %s", job.input, exc_info=True)
        return result("failed", error=failure_line(exc, job.input, job.output, node, remote))
    return result("done", done.frames)


def failure_line(exc: Exception, input: str, target: str, node: str, remote: bool) -> str:
    """The one line a worker reports for a failed file (or segment of a split run).

    On a remote node, an input that cannot be found almost always means storage that is not
    shared, which the line says; an OS error names the file it is about, ``target`` when it
    names none; livethresh's own errors already say what to do.

    Args:
        exc: What the run raised.
        input: The input, as the job names it.
        target: What the run writes (the output, or a segment's piece).
        node: Where the run ran.
        remote: Whether ``node`` is another machine's (then inputs must be on shared storage).
    """
    if isinstance(exc, InputNotFoundError) and remote:
        return (
            f"input {input!r} cannot be found on node {node}: every node must see "
            "the inputs and the output folder at the same paths (shared storage)"
        )
    if isinstance(exc, LivethreshError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or target}"
    return f"unexpected {type(exc).__name__}: {exc}"
