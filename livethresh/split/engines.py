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
import queue
import signal
import socket
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from livethresh.batch.local import default_jobs
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


# Set in each local worker by _start_worker.
_stop: Any = None
_frames: Any = None


def _context() -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["livethresh.transcode", "livethresh.split.segment"])
    return context


def _start_worker(stop: Any, frames: Any) -> None:
    global _stop, _frames
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _stop, _frames = stop, frames


def _work(job: SegmentJob) -> SegmentResult:
    def report(count: int) -> None:
        _frames.put((job.segment.index, count))

    return run_segment(job, should_stop=_stop.is_set, on_frames=report)


def run_local(
    jobs: list[SegmentJob],
    switch: StopSwitch,
    *,
    workers: int | None = None,
    on_frames: Callable[[int, int], None] | None = None,
) -> list[SegmentResult]:
    """Run the segments on a local process pool.

    Args:
        jobs: The segments.
        switch: Stops the run: the segments in progress are abandoned, the others not started.
        workers: Worker processes (default one per core).
        on_frames: Called with a segment's index and its frames written so far.

    Returns:
        One result per segment, in segment order.
    """
    context = _context()
    stop = context.Event()
    frames = context.Queue()
    switch.on_stop(stop.set)
    results: dict[int, SegmentResult] = {}
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
                    result = _outcome(future, futures[future])
                    results[result.index] = result
                    if result.status == "failed":
                        switch.stop()  # the run fails: the other segments need not finish
        except KeyboardInterrupt:  # a second signal: stop waiting for a clean end
            switch.stop()
            for future in pending:
                future.cancel()
            for future in pending:
                result = _outcome(future, futures[future])
                results[result.index] = result
    _drain(frames, on_frames)
    return [results[job.segment.index] for job in jobs]


def _drain(frames: Any, on_frames: Callable[[int, int], None] | None) -> None:
    while True:
        try:
            index, count = frames.get_nowait()
        except (queue.Empty, OSError, EOFError):
            return
        if on_frames is not None:
            on_frames(index, count)


def _outcome(future: Future[SegmentResult], job: SegmentJob) -> SegmentResult:
    segment = job.segment
    if future.cancelled():
        return SegmentResult(segment.index, segment.describe(), "interrupted", error="not started")
    try:
        return future.result()
    except Exception as exc:  # the worker died, or could not hand the result over
        return SegmentResult(
            segment.index,
            segment.describe(),
            "failed",
            error=f"its worker process failed ({type(exc).__name__}: {exc}; killed, out of "
            "memory, or a crash in a decoder)",
        )


def _node_name() -> str:
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{socket.gethostname()} ({address}, node {node_id[:8]})"


def _run_on_node(job: SegmentJob, flag: Any) -> SegmentResult:
    return run_segment(job, node=_node_name(), should_stop=FlagPoller(flag))


def run_ray(
    jobs: list[SegmentJob], switch: StopSwitch, *, address: str | None = None
) -> list[SegmentResult]:
    """Run each segment as a Ray task, spread over the nodes.

    The input must be at the same path on every node, and the pieces are written beside the
    output: its folder must be shared too (the same rules as ``batch``).

    Args:
        jobs: The segments.
        switch: Stops the run: the tasks abandon their segments.
        address: A running cluster's address; None starts Ray on this machine.

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
        switch.on_stop(lambda: flag.set.remote())
        running = {task.remote(job, flag): job for job in jobs}
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_INTERVAL)
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
