"""The local engine: the files of a batch spread over a pool of worker processes.

Workers are started once, from a ``forkserver`` (``spawn`` where there is none) that has
imported livethresh already, and keep their imports from file to file: a shell loop of
``livethresh transcode`` pays the interpreter, NumPy, OpenCV and PyAV start-up for every file.

Stopping: workers ignore SIGINT and SIGTERM, which a terminal sends to the whole process group;
the parent alone decides. It sets a shared event that each worker polls as it writes frames,
so a file in progress is abandoned within a frame or two (its unfinished output removed, see
:mod:`livethresh.batch.task`), files not yet started are cancelled, and the pool is joined.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from livethresh.batch.task import FileJob, FileResult, run_file

log = logging.getLogger(__name__)

#: How often the parent passes the workers' frame counts on, in seconds.
POLL_INTERVAL = 0.2

# Set in each worker by _start_worker.
_stop: Any = None
_frames: Any = None


def default_jobs() -> int:
    """Worker processes by default: one per core this process may use.

    A transcode keeps about one core busy (decoder, binarizer and encoder threads wait on
    each other); ``benchmarks/bench_batch.py`` measured one worker per core as the fastest.
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once in the server; every worker forked from it starts with them loaded.
    context.set_forkserver_preload(["livethresh.transcode", "livethresh.batch.task"])
    return context


def _start_worker(stop: Any, frames: Any) -> None:
    global _stop, _frames
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _stop, _frames = stop, frames


def _work(job: FileJob) -> FileResult:
    def report(count: int) -> None:
        _frames.put((job.input, count))

    return run_file(job, should_stop=_stop.is_set, on_frames=report)


def run_local(
    jobs: list[FileJob],
    on_result: Callable[[FileResult], None],
    *,
    workers: int | None = None,
    on_frames: Callable[[str, int], None] | None = None,
) -> None:
    """Run every job on a local process pool; results are handed on as files finish.

    Args:
        jobs: The files to transcode.
        on_result: Called in this thread with each file's result, in the order they finish.
        workers: Worker processes (default :func:`default_jobs`).
        on_frames: Called with an input and its frames written so far, as the workers go.

    Raises:
        KeyboardInterrupt: The batch was stopped; the files in progress were abandoned and
            every file that did not finish was reported ``interrupted`` first.
    """
    if not jobs:
        return
    context = _context()
    stop = context.Event()
    frames = context.Queue()
    count = min(workers or default_jobs(), len(jobs))
    with ProcessPoolExecutor(
        count, mp_context=context, initializer=_start_worker, initargs=(stop, frames)
    ) as pool:
        futures = {pool.submit(_work, job): job for job in jobs}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, POLL_INTERVAL, return_when=FIRST_COMPLETED)
                _drain(frames, on_frames)
                for future in finished:
                    on_result(_outcome(future, futures[future]))
        except KeyboardInterrupt:
            stop.set()
            for future in pending:
                future.cancel()
            for future in pending:
                on_result(_outcome(future, futures[future]))
            raise
        finally:
            stop.set()


def _drain(frames: Any, on_frames: Callable[[str, int], None] | None) -> None:
    while True:
        try:
            name, count = frames.get_nowait()
        except queue.Empty:
            return
        if on_frames is not None:
            on_frames(name, count)


def _outcome(future: Future[FileResult], job: FileJob) -> FileResult:
    """A finished future's result; a cancelled or crashed one as the file's result."""
    if future.cancelled():
        return FileResult(job.input, job.output, "interrupted", error="not started")
    try:
        return future.result()
    except Exception as exc:  # the worker process died (a crash in a decoder, killed...)
        return FileResult(job.input, job.output, "failed", error=f"its worker process died: {exc}")
