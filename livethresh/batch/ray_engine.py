"""The Ray engine: each file of a batch is one Ray task, on whichever node has a free CPU.

Each task declares :data:`CPUS_PER_FILE`, so Ray runs as many files at once on a node as it has
CPUs, and the tasks are spread over the nodes. Results are gathered with ``ray.wait`` as they
finish, so progress is live and a failure stays with its file. With an address the batch joins
a running cluster (``ray start`` on every machine); without one it starts a Ray instance on this
machine and stops it at the end.

The workers open the inputs and write the outputs themselves: both must be at the same paths on
every node (shared storage), and livethresh must be installed on every node.
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
#: Seconds to wait for the cancelled tasks' results once the batch is stopped.
CANCEL_TIMEOUT = 30.0


def _node_name() -> str:
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{socket.gethostname()} ({address}, node {node_id[:8]})"


def _run_on_node(job: FileJob) -> FileResult:
    return run_file(job, node=_node_name())


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
        max_in_flight: Tasks submitted at once (None: all; Ray queues what does not fit).

    Raises:
        ConfigError: Ray is missing or the cluster cannot be joined.
        KeyboardInterrupt: The batch was stopped; running tasks were cancelled (their files
            abandoned) and every file that did not finish was reported ``interrupted`` first.
    """
    if not jobs:
        return
    with ray_session(address) as ray:
        # SPREAD: the files are independent, so they go round the nodes rather than filling the
        # first one (which also runs this driver) while the others start their workers.
        task = ray.remote(num_cpus=CPUS_PER_FILE, max_retries=0, scheduling_strategy="SPREAD")(
            _run_on_node
        )
        waiting = list(jobs)
        running: dict[Any, FileJob] = {}
        limit = max_in_flight or len(jobs)
        try:
            while waiting or running:
                while waiting and len(running) < limit:
                    job = waiting.pop(0)
                    running[task.remote(job)] = job
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    on_result(_outcome(ray, ref, running.pop(ref)))
        except KeyboardInterrupt:
            for ref in running:
                ray.cancel(ref)
            with contextlib.suppress(Exception):
                ray.wait(list(running), num_returns=len(running), timeout=CANCEL_TIMEOUT)
            for ref, job in running.items():
                on_result(_outcome(ray, ref, job, timeout=0))
            for job in waiting:
                on_result(FileResult(job.input, job.output, "interrupted", error="not started"))
            raise


def _outcome(ray: Any, ref: Any, job: FileJob, timeout: float | None = None) -> FileResult:
    """A task's result; a cancelled, lost or crashed task as the file's result."""
    try:
        result: FileResult = ray.get(ref, timeout=timeout)
        return result
    except ray.exceptions.TaskCancelledError:
        return FileResult(job.input, job.output, "interrupted", error="not started")
    except ray.exceptions.GetTimeoutError:
        return FileResult(job.input, job.output, "interrupted", error="did not stop in time")
    except (ray.exceptions.RayError, LivethreshError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FileResult(job.input, job.output, "failed", error=f"its Ray task failed: {first}")
