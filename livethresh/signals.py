"""Ctrl-C and SIGTERM end a run cleanly: the pipeline stops, the output is finalized.

A signal handler runs between two bytecodes of the main thread, so it only records the signal
and asks for the stop from a helper thread; a second signal forces the stop, except while a
frame is written or the output is finalized, which would leave a frame uncounted or a file
that does not play.
"""

from __future__ import annotations

import logging
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
    protected: Callable[[], bool] = lambda: False,
    force: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Turn SIGINT and SIGTERM into a graceful stop of the run; a second one forces it.

    The handler only records the signal and asks the pipeline to stop from a helper thread,
    because it runs between two bytecodes of the main thread, which may hold a queue lock.
    A second signal stops the waiting for the pipeline's threads, but while ``protected()``
    is true it is only noted: interrupting the trailer (or MP4's faststart rewrite) would
    leave a file that does not play, and interrupting the write of a frame would leave the
    frame in the file but not in the run's count. Once a signal has ended the run, both stay
    ignored.
    ``force``, when given, is how a second signal forces the stop (instead of raising
    ``KeyboardInterrupt`` in the main thread, which an event loop would report as a crash).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, _frame: object) -> None:
        if received:  # a second signal: stop waiting for a clean end
            if protected():
                log.info(
                    "%s received while the output is written: finishing that first",
                    signal.Signals(signum).name,
                )
                return
            if force is not None:
                force()
                return
            raise KeyboardInterrupt
        received.append(signum)
        log.info("%s received: finalizing the output", signal.Signals(signum).name)
        threading.Thread(target=stop, name="livethresh-stop", daemon=True).start()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
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

    def protected(self) -> bool:
        """True while a forced stop would damage the output or its count: while a frame is
        written, and from the start of the encoder's close to the end."""
        if self._pipeline is not None and self._pipeline.writing:
            return True
        return self._sink is not None and self._sink.closing


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
