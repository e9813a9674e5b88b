"""The local engine: the files of a batch spread over a pool of worker processes.

Workers are started once, from a ``forkserver`` (``spawn`` where there is none) that has
imported livethresh already, and keep their imports from file to file: a shell loop of
``livethresh transcode`` pays the interpreter, NumPy, OpenCV and PyAV start-up for every file.

Stopping: workers ignore SIGINT, SIGTERM and SIGHUP, which a terminal sends to the whole
process group; the parent alone decides. It sets a shared event that each worker polls as it
writes frames, so a file in progress is abandoned within a frame or two (its unfinished output
removed, see :mod:`livethresh.batch.task`), files not yet started are cancelled, and the pool
is joined.

A parent that dies without stopping them (SIGKILL, the OOM killer, a CI timeout) takes its
workers with it: each watches its parent's end of a pipe (``multiprocessing.parent_process``'s
sentinel, which the system closes however the parent ends), abandons its file as on a stop,
starts no other, and exits. ``prctl(PR_SET_PDEATHSIG)`` would not do: a worker's parent is the
forkserver, which outlives the batch as long as any worker does.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver, resource_tracker
from pathlib import Path
from typing import Any

from livethresh.batch.task import FileJob, FileResult, run_file
from livethresh.partials import abandon_partials, remove_leftover_partials
from livethresh.runs import ignore_stop_signals, stop_signals_held

log = logging.getLogger(__name__)

#: How often the parent passes the workers' frame counts on, in seconds.
POLL_INTERVAL = 0.2
#: A file in progress each time a worker process died this many times fails (it may be the
#: cause); the other files are run again.
MAX_DEATHS = 2

#: Seconds a worker whose parent died gives its file in progress to stop by itself (the next
#: frame), before it deletes the partial file and exits anyway (a decoder stuck on a read).
ORPHAN_GRACE = 5.0
#: Exit status of a worker that outlived its parent.
EXIT_ORPHANED = 3

# Set in each worker by _start_worker.
_stop: SharedFlag
_frames: Any = None
#: Set in a worker when its parent has died.
_orphaned = threading.Event()
#: Set in a worker while it has no file in progress.
_idle = threading.Event()


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
    context: Any
    if "forkserver" not in methods:
        context = multiprocessing.get_context("spawn")
    else:
        context = multiprocessing.get_context("forkserver")
        # Imported once in the server; every worker forked from it starts with them loaded.
        context.set_forkserver_preload(["livethresh.transcode", "livethresh.batch.task"])
    _start_helpers(context)
    return context


def _start_helpers(context: Any) -> None:
    """Start multiprocessing's helpers (the resource tracker, the forkserver) deaf to SIGINT,
    SIGTERM and SIGHUP.

    A terminal that hangs up sends SIGHUP to the whole process group, and on their own they
    would die of it (they ignore only SIGINT, the tracker also SIGTERM), leaving the pool
    waiting forever. Like the workers, they leave the decision to this process, and end when
    it does.
    """
    if os.name != "posix":
        return  # neither helper exists there
    with stop_signals_held():
        resource_tracker.ensure_running()
        if context.get_start_method() == "forkserver":
            forkserver.ensure_running()


class SharedFlag:
    """A stop flag the parent sets and its worker processes poll: a byte of shared memory.

    Not a ``multiprocessing.Event``: its lock, held by a worker the kernel killed (out of
    memory, ``kill -9``), would block every worker that polls it and the parent that sets it.
    Pass it to a process as it starts (as an argument or an initializer's), like an Event.
    """

    def __init__(self, context: Any) -> None:
        self._byte = context.RawValue(ctypes.c_bool, False)

    def set(self) -> None:
        self._byte.value = True

    def is_set(self) -> bool:
        return bool(self._byte.value)


def _start_worker(stop: SharedFlag, frames: Any) -> None:
    global _stop, _frames
    ignore_stop_signals()
    _stop, _frames = stop, frames
    _idle.set()
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(
            target=_exit_with_parent, args=(parent.sentinel,), name="parent-watch", daemon=True
        )
        watch.start()


def _exit_with_parent(sentinel: int) -> None:
    """Wait for the parent's death; then stop the file in progress and end this process."""
    multiprocessing.connection.wait([sentinel])
    _orphaned.set()
    _idle.wait(ORPHAN_GRACE)
    abandon_partials()  # whatever did not stop in time
    os._exit(EXIT_ORPHANED)


def _should_stop() -> bool:
    return _stop.is_set() or _orphaned.is_set()


def _work(job: FileJob) -> FileResult:
    def report(count: int) -> None:
        _frames.put((job.input, count))

    _idle.clear()
    try:
        report(0)  # started: if this worker dies, the parent knows which file it was on
        return run_file(job, should_stop=_should_stop, on_frames=report)
    finally:
        _idle.set()


def run_local(
    jobs: list[FileJob],
    on_result: Callable[[FileResult], None],
    *,
    workers: int | None = None,
    on_frames: Callable[[str, int], None] | None = None,
) -> None:
    """Run every job on a local process pool; results are handed on as files finish.

    A worker process that dies (killed, out of memory, a crash in a decoder) takes the whole
    pool down with it: the pool is started again and the files not finished are run again,
    except a file that was in progress when workers died :data:`MAX_DEATHS` times, which fails.

    Args:
        jobs: The files to transcode.
        on_result: Called in this thread with each file's result, in the order they finish.
        workers: Worker processes (default :func:`default_jobs`).
        on_frames: Called with an input and its frames written so far, as the workers go.

    Raises:
        KeyboardInterrupt: The batch was stopped; the files in progress were abandoned and
            every file that did not finish was reported ``interrupted`` first.
    """
    context = _context()
    stop = SharedFlag(context)
    deaths: dict[str, int] = {}
    todo = list(jobs)
    for _ in range(len(jobs) * MAX_DEATHS + 1):  # each restart blames a file, or this ends
        if not todo:
            return
        in_progress, todo = _run_pool(context, stop, todo, on_result, workers, on_frames)
        for job in [j for j in todo if not j.overwrite and Path(j.output).exists()]:
            # Finished by a worker whose report went down with the pool (outputs are only
            # ever complete): kept, as a rerun of the batch would.
            todo.remove(job)
            on_result(FileResult(job.input, job.output, "skipped"))
        remove_leftover_partials(Path(job.output) for job in in_progress)  # the dead worker's
        for job in [j for j in in_progress if j in todo]:
            deaths[job.input] = deaths.get(job.input, 0) + 1
            if deaths[job.input] >= MAX_DEATHS:
                todo.remove(job)
                on_result(_died(job, f"its worker process died {MAX_DEATHS} times on it"))
    for job in todo:
        on_result(_died(job, "worker processes kept dying"))


def _run_pool(
    context: Any,
    stop: Any,
    jobs: list[FileJob],
    on_result: Callable[[FileResult], None],
    workers: int | None,
    on_frames: Callable[[str, int], None] | None,
) -> tuple[list[FileJob], list[FileJob]]:
    """One pool over ``jobs``. Returns, if a worker died, the files that were in progress
    and every file still to do (those included); else two empty lists."""
    frames = context.Queue()  # a fresh one: a killed worker may have left the old one locked
    started: set[str] = set()
    broken: list[FileJob] = []
    count = min(workers or default_jobs(), len(jobs))
    with ProcessPoolExecutor(
        count, mp_context=context, initializer=_start_worker, initargs=(stop, frames)
    ) as pool:
        futures = {pool.submit(_work, job): job for job in jobs}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, POLL_INTERVAL, return_when=FIRST_COMPLETED)
                _drain(frames, on_frames, started)
                for future in finished:
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken.append(futures[future])
                    else:
                        on_result(_outcome(future, futures[future]))
        except KeyboardInterrupt:
            stop.set()
            for future in pending:
                future.cancel()
            for future in pending:
                on_result(_outcome(future, futures[future]))
            raise
    _drain(frames, on_frames, started)
    if broken:
        log.warning("a worker process died; starting the pool again for %d files", len(broken))
    return [job for job in broken if job.input in started], broken


def _drain(frames: Any, on_frames: Callable[[str, int], None] | None, started: set[str]) -> None:
    while True:
        try:
            name, count = frames.get_nowait()
        except (queue.Empty, OSError, EOFError):
            return
        started.add(name)
        if on_frames is not None and count:
            on_frames(name, count)


def _died(job: FileJob, why: str) -> FileResult:
    return FileResult(
        job.input,
        job.output,
        "failed",
        error=f"{why} (killed, out of memory, or a crash in a decoder)",
    )


def _outcome(future: Future[FileResult], job: FileJob) -> FileResult:
    """A finished future's result; a cancelled or failed one as the file's result."""
    if future.cancelled():
        return FileResult(job.input, job.output, "interrupted", error="not started")
    try:
        return future.result()
    except Exception as exc:  # the pool could not hand the job or its result over
        return FileResult(job.input, job.output, "failed", error=f"its worker failed: {exc}")
