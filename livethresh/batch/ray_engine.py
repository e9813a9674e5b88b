"""The Ray engine: each file of a batch is one Ray task, on whichever node has a free CPU.

Each task declares :data:`CPUS_PER_FILE`, so Ray runs as many files at once on a node as it has
CPUs, and the tasks are spread over the nodes. Results are gathered with ``ray.wait`` as they
finish, so progress is live and a failure stays with its file. With an address the batch joins
a running cluster (``ray start`` on every machine); without one it starts a Ray instance on this
machine and stops it at the end.

The workers open the inputs and write the outputs themselves: both must be at the same paths on
every node (shared storage), and livethresh must be installed on every node.

Stopping is cooperative: on Ctrl-C the driver sets a flag (a small actor, :class:`StopFlag`)
that every task polls as it writes frames, so each file in progress is abandoned as in the local
engine (its unfinished output removed) and reported ``interrupted``. ``ray.cancel`` is not used:
in Ray 2.60 a cancel that races with a task's end aborts the driver (``Check failed: ... Tried
to complete task that was not pending``): 2 Ctrl-Cs in 10 on a two-node cluster of this
machine ended with exit 1, a C++ stack trace and no report.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from livethresh.batch.task import FileJob, FileResult, run_file
from livethresh.errors import ConfigError, LivethreshError

log = logging.getLogger(__name__)

#: CPUs each file's task declares: a transcode keeps about one core busy (its decoder,
#: binarizer and encoder threads wait on each other; see benchmarks/bench_batch.py).
CPUS_PER_FILE = 1
#: Seconds to wait for the running tasks' results once the batch is stopped.
STOP_TIMEOUT = 30.0
#: Tasks submitted at once per CPU of the cluster, and at least, when not given: a stopped
#: batch has no more than these to drain, and a finished file's CPU never waits on the driver
#: (nor does a cluster that is still adding nodes).
IN_FLIGHT_PER_CPU, MIN_IN_FLIGHT = 2, 8


class StopFlag:
    """Set by the driver when the batch is stopped; asked by the running tasks (a Ray actor)."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


class FlagPoller:
    """``should_stop`` for :func:`run_file` on a node: asks the :class:`StopFlag` one question
    at a time without waiting for the answer, except the first, before the file starts."""

    def __init__(self, flag: Any) -> None:
        self.flag = flag
        self.asked: Any = None

    def __call__(self) -> bool:
        import ray

        if self.asked is None:
            self.asked = self.flag.is_set.remote()
            return bool(ray.get(self.asked))
        ready, _ = ray.wait([self.asked], timeout=0)
        if not ready:
            return False
        if ray.get(self.asked):
            return True
        self.asked = self.flag.is_set.remote()
        return False


def _node_name() -> str:
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{socket.gethostname()} ({address}, node {node_id[:8]})"


def _run_on_node(job: FileJob, flag: Any) -> FileResult:
    return run_file(job, node=_node_name(), should_stop=FlagPoller(flag))


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Join the cluster at ``address``, or start a Ray instance here; leave or stop it at the end.

    Raises:
        ConfigError: Ray is not installed, or the cluster cannot be joined.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("the Ray engine needs Ray: pip install 'livethresh[ray]'") from None
    if ray.is_initialized():  # a library caller's own session: use it, leave it running
        yield ray
        return
    started = time.perf_counter()
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot start or join {where}: {first}") from exc
    log.info("Ray ready in %.1f s", time.perf_counter() - started)
    try:
        yield ray
    finally:
        ray.shutdown()


def run_ray(
    jobs: list[FileJob],
    on_result: Callable[[FileResult], None],
    *,
    address: str | None = None,
    max_in_flight: int | None = None,
) -> None:
    """Run every job as a Ray task; results are handed on as files finish.

    Args:
        jobs: The files to transcode.
        on_result: Called in this thread with each file's result, in the order they finish.
        address: A running cluster's address (``host:port`` or ``auto``); None starts Ray here.
        max_in_flight: Tasks submitted at once (None: :data:`IN_FLIGHT_PER_CPU` per CPU of
            the cluster, :data:`MIN_IN_FLIGHT` at least; Ray queues what does not fit).

    Raises:
        ConfigError: Ray is missing or the cluster cannot be joined.
        KeyboardInterrupt: The batch was stopped; the running tasks abandoned their files and
            every file that did not finish was reported ``interrupted`` first.
    """
    if not jobs:
        return
    with ray_session(address) as ray:
        # SPREAD: the files are independent, so they go round the nodes rather than filling the
        # first one (which also runs this driver) while the others start their workers.
        task = ray.remote(num_cpus=CPUS_PER_FILE, max_retries=0, scheduling_strategy="SPREAD")(
            _run_on_node
        )
        flag = ray.remote(num_cpus=0)(StopFlag).remote()
        waiting = list(jobs)
        running: dict[Any, FileJob] = {}
        cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = max_in_flight or max(MIN_IN_FLIGHT, IN_FLIGHT_PER_CPU * cpus)
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    job = waiting.pop(0)
                    running[task.remote(job, flag)] = job
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    on_result(_outcome(ray, ref, running.pop(ref)))
        except KeyboardInterrupt:
            flag.set.remote()
            with contextlib.suppress(Exception):
                ray.wait(list(running), num_returns=len(running), timeout=STOP_TIMEOUT)
            for ref, job in running.items():
                on_result(_outcome(ray, ref, job, timeout=0))
            for job in waiting:
                on_result(FileResult(job.input, job.output, "interrupted", error="not started"))
            raise
        finally:
            ray.kill(flag)


def _outcome(ray: Any, ref: Any, job: FileJob, timeout: float | None = None) -> FileResult:
    """A task's result; a cancelled, lost or crashed task as the file's result."""
    try:
        result: FileResult = ray.get(ref, timeout=timeout)
        return result
    except ray.exceptions.GetTimeoutError:
        return FileResult(job.input, job.output, "interrupted", error="did not stop in time")
    except (ray.exceptions.RayError, LivethreshError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FileResult(job.input, job.output, "failed", error=f"its Ray task failed: {first}")
