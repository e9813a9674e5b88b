"""Ctrl-C and SIGTERM end a run cleanly: the pipeline stops, the output is finalized.

A signal handler runs between two bytecodes of the main thread, so it only records the signal
and asks for the stop from a helper thread; a second signal forces the stop, except while the
output is finalized, which would leave a file that does not play, and only once the frame
being written is counted.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from livethresh.errors import OutputError
from livethresh.sinks.encoder import EncoderSink
from livethresh.stats import Stats

log = logging.getLogger(__name__)


@contextmanager
def stop_on_signals(
    stop: Callable[[], None],
    received: list[int],
    finalizing: Callable[[], bool] = lambda: False,
    force: Callable[[], None] | None = None,
    writing: Callable[[], bool] = lambda: False,
) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop of the run; a second one forces it.

    The handler only records the signal and asks the pipeline to stop from a helper thread,
    because it runs between two bytecodes of the main thread, which may hold a queue lock.
    A second signal stops the waiting for the pipeline's threads, with two exceptions:

    - while ``finalizing()`` it is only noted: interrupting the trailer (or MP4's faststart
      rewrite) would leave a file that does not play;
    - while ``writing()`` a frame, it takes effect as soon as the frame is written and
      counted, so that the count the run reports is the frames in the output; a third signal
      during the same write (a write that hangs) forces the stop at once.

    Once a signal has ended the run, both stay ignored. ``force``, when given, is how a
    forced stop happens (instead of raising ``KeyboardInterrupt`` in the main thread, which an
    event loop would report as a crash).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    deferred: list[int] = []
    over = threading.Event()

    def redeliver(signum: int) -> None:
        """Send the deferred signal again once the frame's write is over."""
        while writing() and not over.wait(0.005):
            pass
        if not over.is_set():
            os.kill(os.getpid(), signum)

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if received:  # a second signal: stop waiting for a clean end
            if finalizing():
                log.info("%s received while the output is finalized: finishing it first", name)
                return
            if writing() and not deferred:
                log.info("%s received while a frame is written: stopping after it", name)
                deferred.append(signum)
                threading.Thread(target=redeliver, args=(signum,), daemon=True).start()
                return
            if force is not None:
                force()
                return
            raise KeyboardInterrupt
        received.append(signum)
        log.info("%s received: finalizing the output", name)
        threading.Thread(target=stop, name="livethresh-stop", daemon=True).start()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        over.set()
        for sig, handler in previous.items():
            # After a signal ended the run the output is in place and the process is on its
            # way out: a further Ctrl-C must not cut the caller's report or its exit code.
            signal.signal(sig, signal.SIG_IGN if received else handler)


class RunControl:
    """What the signal handler acts on, from before the pipeline exists to the final rename."""

    def __init__(self) -> None:
        self._pipeline: Any = None
        self._sink: EncoderSink | None = None
        self._stop_requested = False

    def attach(self, pipeline: Any, sink: EncoderSink) -> None:
        self._pipeline, self._sink = pipeline, sink
        if self._stop_requested:  # a signal came while the output was being opened
            pipeline.stop()

    def stop(self) -> None:
        self._stop_requested = True
        if self._pipeline is not None:
            self._pipeline.stop()

    def finalizing(self) -> bool:
        """True from the start of the encoder's close to the end: no more forced stops."""
        return self._sink is not None and self._sink.closing

    def writing(self) -> bool:
        """True while the pipeline writes and counts a frame: a forced stop waits for it."""
        return self._pipeline is not None and bool(self._pipeline.writing)


def run_to_the_end(
    pipeline: Any, sink: EncoderSink, received: list[int]
) -> tuple[Stats, BaseException | None]:
    """Run the pipeline to its end and finalize the output whatever happens.

    Returns:
        The stats, and the exception that ended the run (None if it ended normally or on a
        signal listed in ``received``).
    """
    error: BaseException | None = None
    try:
        stats = pipeline.run()
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
        stats = pipeline.stats
    finally:
        try:
            sink.close()  # idempotent; the pipeline normally closed it already
        except OutputError as exc:
            error = error or exc
        # The run's time includes the encoder's flush (seconds for x265's lookahead).
        pipeline.stats.finished = time.perf_counter()
    if received and isinstance(error, KeyboardInterrupt):
        error = None  # a second signal forced the stop; it is reported as the first one
    return stats, error
