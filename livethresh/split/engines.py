"""Where the segments run: a pool of local worker processes, or one Ray task per segment.

Both follow ``batch``'s engines (:mod:`livethresh.batch.local`, :mod:`livethresh.batch.ray_engine`):
workers ignore SIGINT and SIGTERM and poll a stop flag as they write frames, so on a stop every
segment in progress is abandoned within a frame or two, its piece removed; a failed segment
stops the others the same way, since the run fails anyway. Results are gathered as segments
finish; nothing raises out of a segment.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from livethresh.batch.local import SharedFlag, default_jobs
from livethresh.batch.ray_engine import CPUS_PER_FILE, FlagPoller, StopFlag, ray_session
from livethresh.split.segment import SegmentJob, SegmentResult, run_segment

log = logging.getLogger(__name__)

#: How often the parent passes the workers' frame counts on, in seconds.
POLL_INTERVAL = 0.2
#: Seconds to wait for the Ray tasks to give up once the run is stopped.
STOP_TIMEOUT = 30.0

__all__ = ["StopSwitch", "default_jobs", "run_local", "run_ray"]


class StopSwitch:
    """Stops a run from any thread (a signal's helper thread, a failed segment): each engine
    registers what stopping means for it."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._actions: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_stop(self, action: Callable[[], None]) -> None:
        with self._lock:
            self._actions.append(action)
            now = self.requested.is_set()
        if now:
            action()

    def stop(self) -> None:
        with self._lock:
            self.requested.set()
            actions = list(self._actions)
        for action in actions:
            with contextlib.suppress(Exception):
                action()


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Imported once in the server; every worker forked from it starts with them loaded.
    context.set_forkserver_preload(["livethresh.transcode", "livethresh.split.segment"])
    return context


def _work(job: SegmentJob, stop: SharedFlag, events: Connection) -> None:
    """A worker process: one segment. The parent alone decides on signals.

    Nothing the worker touches is locked across processes: ``stop`` is a
    :class:`~livethresh.batch.local.SharedFlag` and ``events`` the worker's own pipe. A worker
    killed while it held a lock shared with the others (a ``multiprocessing.Queue``'s writer
    lock) would leave the others, and the parent waiting for them, waiting on it forever.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def report(count: int) -> None:
        events.send((count, None))

    result = run_segment(job, should_stop=stop.is_set, on_frames=report)
    events.send((result.frames, result))


def run_local(
    jobs: list[SegmentJob],
    switch: StopSwitch,
    *,
    workers: int | None = None,
    on_frames: Callable[[int, int], None] | None = None,
) -> list[SegmentResult]:
    """Run the segments in local worker processes, one process per segment, ``workers`` at once.

    A process of its own per segment (forked from a server that has imported livethresh
    already) tells which segment a worker that died (killed, out of memory, a crash in a
    decoder) was running: that segment fails, and with it the run.

    Args:
        jobs: The segments.
        switch: Stops the run: the segments in progress are abandoned, the others not started.
        workers: Worker processes at once (default one per core).
        on_frames: Called with a segment's index and its frames written so far.

    Returns:
        One result per segment, in segment order.
    """
    context = _context()
    stop = SharedFlag(context)
    switch.on_stop(stop.set)
    results: dict[int, SegmentResult] = {}
    waiting = list(jobs)
    running: dict[int, tuple[Any, SegmentJob, Connection]] = {}
    count = max(1, min(workers or default_jobs(), len(jobs)))
    try:
        while waiting or running:
            while waiting and len(running) < count and not stop.is_set():
                job = waiting.pop(0)
                reader, writer = context.Pipe(duplex=False)
                process = context.Process(
                    target=_work, args=(job, stop, writer), name=f"segment-{job.segment.index}"
                )
                process.start()
                writer.close()  # the worker's end: its death then reads as the end of the pipe
                running[job.segment.index] = (process, job, reader)
            if stop.is_set():
                for job in waiting:
                    results[job.segment.index] = _not_started(job)
                waiting.clear()
            _drain(running, results, on_frames, POLL_INTERVAL)
            for index, (process, job, reader) in list(running.items()):
                if index in results:
                    process.join()
                elif not process.is_alive():
                    _drain({index: running[index]}, results, on_frames, 0)  # a result in the pipe
                    if index not in results:
                        results[index] = _died(job, process.exitcode)
                else:
                    continue
                reader.close()
                del running[index]
                if results[index].status == "failed":
                    switch.stop()  # the run fails: the other segments need not finish
    except KeyboardInterrupt:  # a second signal: stop waiting for a clean end
        switch.stop()
        for process, _, _ in running.values():
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
        _drain(running, results, on_frames, 0)
        for job in [*waiting, *(job for _, job, _ in running.values())]:
            results.setdefault(job.segment.index, _not_started(job))
    return [results[job.segment.index] for job in jobs]


def _drain(
    running: dict[int, tuple[Any, SegmentJob, Connection]],
    results: dict[int, SegmentResult],
    on_frames: Callable[[int, int], None] | None,
    timeout: float,
) -> None:
    """Take the workers' messages, frame counts and results, waiting up to ``timeout`` for
    the first. A pipe at its end (its worker gone, or going) is closed; the caller reaps the
    worker."""
    pipes: dict[Connection, int] = {
        reader: index for index, (_, _, reader) in running.items() if not reader.closed
    }
    if not pipes and timeout:
        time.sleep(timeout)  # workers at their end but not yet gone: poll, do not spin
    while pipes:
        ready = [cast(Connection, pipe) for pipe in wait(list(pipes), timeout)]
        if not ready:
            return
        timeout = 0
        for reader in ready:
            try:
                message: tuple[int, SegmentResult | None] = reader.recv()
            except (EOFError, OSError):
                del pipes[reader]
                reader.close()  # its worker is gone or going: the caller reaps it
                continue
            frames, result = message
            if result is not None:
                results[pipes[reader]] = result
            if on_frames is not None and frames:
                on_frames(pipes[reader], frames)


def _not_started(job: SegmentJob) -> SegmentResult:
    segment = job.segment
    return SegmentResult(segment.index, segment.describe(), "interrupted", error="not started")


def _died(job: SegmentJob, exitcode: int | None) -> SegmentResult:
    segment = job.segment
    if exitcode is not None and exitcode < 0:
        how = f"killed by {signal.Signals(-exitcode).name}"
    else:
        how = f"exit code {exitcode}"
    return SegmentResult(
        segment.index,
        segment.describe(),
        "failed",
        error=f"its worker process died ({how}: killed, out of memory, or a crash in a decoder)",
    )


def _node_name() -> str:
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{socket.gethostname()} ({address}, node {node_id[:8]})"


class FrameCounts:
    """The frames each segment has written, told by the tasks and read by the driver (an
    actor: the progress bar of a run on Ray)."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def report(self, index: int, frames: int) -> None:
        self.counts[index] = frames

    def read(self) -> dict[int, int]:
        return self.counts


def _run_on_node(job: SegmentJob, flag: Any, counts: Any) -> SegmentResult:
    index = job.segment.index

    def report(frames: int) -> None:
        counts.report.remote(index, frames)  # not awaited: progress never slows the segment

    return run_segment(job, node=_node_name(), should_stop=FlagPoller(flag), on_frames=report)


def run_ray(
    jobs: list[SegmentJob],
    switch: StopSwitch,
    *,
    address: str | None = None,
    on_frames: Callable[[int, int], None] | None = None,
) -> list[SegmentResult]:
    """Run each segment as a Ray task, spread over the nodes.

    The input must be at the same path on every node, and the pieces are written beside the
    output: its folder must be shared too (the same rules as ``batch``).

    Args:
        jobs: The segments.
        switch: Stops the run: the tasks abandon their segments.
        address: A running cluster's address; None starts Ray on this machine.
        on_frames: Called with a segment's index and its frames written so far.

    Returns:
        One result per segment, in segment order.

    Raises:
        ConfigError: Ray is missing or the cluster cannot be joined.
    """
    results: dict[int, SegmentResult] = {}
    with ray_session(address) as ray:
        task = ray.remote(num_cpus=CPUS_PER_FILE, max_retries=0, scheduling_strategy="SPREAD")(
            _run_on_node
        )
        flag = ray.remote(num_cpus=0)(StopFlag).remote()
        counts = ray.remote(num_cpus=0)(FrameCounts).remote()
        switch.on_stop(lambda: flag.set.remote())
        running = {task.remote(job, flag, counts): job for job in jobs}
        asked = counts.read.remote()
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_INTERVAL)
                told, _ = ray.wait([asked], timeout=0)
                if told:
                    for index, frames in ray.get(asked).items():
                        if on_frames is not None:
                            on_frames(index, frames)
                    asked = counts.read.remote()
                for ref in ready:
                    result = _ray_outcome(ray, ref, running.pop(ref))
                    results[result.index] = result
                    if result.status == "failed":
                        switch.stop()
                if switch.requested.is_set() and running:
                    with contextlib.suppress(Exception):
                        ray.wait(list(running), num_returns=len(running), timeout=STOP_TIMEOUT)
                    for ref, job in running.items():
                        result = _ray_outcome(ray, ref, job, timeout=0)
                        results[result.index] = result
                    running.clear()
        except KeyboardInterrupt:
            switch.stop()
            for job in running.values():
                segment = job.segment
                results[segment.index] = SegmentResult(
                    segment.index, segment.describe(), "interrupted", error="abandoned"
                )
        finally:
            ray.kill(flag)
            ray.kill(counts)
    return [results[job.segment.index] for job in jobs]


def _ray_outcome(
    ray: Any, ref: Any, job: SegmentJob, timeout: float | None = None
) -> SegmentResult:
    segment = job.segment
    try:
        result: SegmentResult = ray.get(ref, timeout=timeout)
        return result
    except ray.exceptions.GetTimeoutError:
        return SegmentResult(
            segment.index, segment.describe(), "interrupted", error="did not stop in time"
        )
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SegmentResult(
            segment.index, segment.describe(), "failed", error=f"its Ray task failed: {first}"
        )
