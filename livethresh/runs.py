"""One run policy for every job (transcode, serve, batch, preview): exit codes and signals.

Exit codes: 0 when the run did what was asked, 2 for bad input or a failure (a
:class:`~livethresh.errors.LivethreshError`, a file of a batch that failed), and 128 plus the
signal that ended the run early, as shells report it: 130 for Ctrl-C (SIGINT), 143 for SIGTERM
and 129 for SIGHUP. SIGHUP is what a terminal or an SSH session that goes away sends, so it
ends a run exactly as SIGTERM does: the output finalized, temporary files removed, the report
written.

The signal guard (:func:`stop_on_signals`): a handler runs between two bytecodes of the main
thread, so it only records the signal and asks for the stop from a helper thread; a second
signal forces the stop, except while the output is finalized, which would leave a file that
does not play, and only once the frame being written is counted.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from livethresh.errors import OutputError

if TYPE_CHECKING:
    from livethresh.pipeline import Pipeline
    from livethresh.stats import Stats

log = logging.getLogger(__name__)

EXIT_OK = 0
#: Bad input, bad settings, or a failure during the run (a batch with a failed file).
EXIT_BAD_INPUT = 2
#: A run ended by a signal exits with this plus the signal's number.
SIGNAL_EXIT_BASE = 128

#: The signals that end a run cleanly: Ctrl-C, a polite kill, and a terminal that hangs up.
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)
if sys.platform != "win32":
    STOP_SIGNALS += (signal.SIGHUP,)


def exit_code(signum: int | None, failed: bool = False) -> int:
    """The exit code of a run: 128 + the signal that ended it, else 2 if it failed, else 0."""
    if signum:
        return SIGNAL_EXIT_BASE + signum
    return EXIT_BAD_INPUT if failed else EXIT_OK


#: Ctrl-C's exit code.
EXIT_INTERRUPTED = exit_code(signal.SIGINT)


class RunOutcome:
    """What every job's result shares: the signal that ended it and the exit code that follows.

    A result class declares ``signal`` (a dataclass field) and, when part of the run can fail
    while the rest goes on, overrides :attr:`failed`.
    """

    signal: int | None

    @property
    def failed(self) -> bool:
        """Whether part of the run failed (the run itself ended)."""
        return False

    @property
    def exit_code(self) -> int:
        """0; 2 if part of the run failed; 128 + the signal (129, 130, 143) if one ended it."""
        return exit_code(self.signal, self.failed)

    @property
    def signal_name(self) -> str | None:
        """The name of the signal that ended the run (``SIGINT``...), or None."""
        return signal.Signals(self.signal).name if self.signal else None


def ignore_stop_signals() -> None:
    """Ignore the stop signals in a worker process: its parent alone decides when to stop
    (a terminal sends them to the whole process group)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold the stop signals back in this thread; processes started meanwhile keep them blocked.

    For helper processes that must outlive a hang-up of the terminal, which sends SIGHUP to the
    whole process group: the signal mask survives fork and exec, so they never see the stop
    signals and end when their parent does. A signal that arrives meanwhile is delivered to
    this process on the way out of the block, not lost.
    """
    if sys.platform == "win32":
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def stop_on_signals(
    stop: Callable[[], None] | None,
    received: list[int],
    finalizing: Callable[[], bool] = lambda: False,
    force: Callable[[], None] | None = None,
    writing: Callable[[], bool] = lambda: False,
) -> Iterator[None]:
    """Turn the stop signals (:data:`STOP_SIGNALS`) into a graceful stop; a second one forces it.

    The first signal is appended to ``received``, and ``stop`` is called from a helper thread,
    because the handler runs between two bytecodes of the main thread, which may hold a queue
    lock. Without ``stop``, the first signal raises ``KeyboardInterrupt`` in the main thread
    instead, for a job whose main thread turns that into an orderly stop (a batch).

    A second signal stops the waiting for the run's threads, with two exceptions:

    - while ``finalizing()`` it is only noted: interrupting the trailer (or MP4's faststart
      rewrite) would leave a file that does not play;
    - while ``writing()`` a frame, it takes effect as soon as the frame is written and
      counted, so that the count the run reports is the frames in the output; a third signal
      during the same write (a write that hangs) forces the stop at once.

    Once a signal has ended the run, all stay ignored. ``force``, when given, is how a forced
    stop happens (instead of raising ``KeyboardInterrupt`` in the main thread, which an event
    loop would report as a crash). Off the main thread, signals are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
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
                log.info("%s received while the run is finalized: finishing it first", name)
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
        log.info("%s received: stopping cleanly", name)
        if stop is None:
            raise KeyboardInterrupt
        threading.Thread(target=stop, name="livethresh-stop", daemon=True).start()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        over.set()
        for sig, handler in previous.items():
            # After a signal ended the run the output is in place and the process is on its
            # way out: a further signal must not cut the caller's report or its exit code.
            signal.signal(sig, signal.SIG_IGN if received else handler)


class Finalized(Protocol):
    """An output that is finalized when closed (the encoder sink)."""

    @property
    def closing(self) -> bool:
        """True once closing has begun."""

    def close(self) -> None:
        """Flush and finalize; idempotent."""


class RunControl:
    """What the signal handler acts on, from before the pipeline exists to the final rename."""

    def __init__(self) -> None:
        self._pipeline: Pipeline | None = None
        self._output: Finalized | None = None
        self._stop_requested = False

    def attach(self, pipeline: Pipeline, output: Finalized) -> None:
        self._pipeline, self._output = pipeline, output
        if self._stop_requested:  # a signal came while the output was being opened
            pipeline.stop()

    def stop(self) -> None:
        self._stop_requested = True
        if self._pipeline is not None:
            self._pipeline.stop()

    def finalizing(self) -> bool:
        """True from the start of the output's close to the end: no more forced stops."""
        return self._output is not None and self._output.closing

    def writing(self) -> bool:
        """True while the pipeline writes and counts a frame: a forced stop waits for it."""
        return self._pipeline is not None and self._pipeline.writing


def run_to_the_end(
    pipeline: Pipeline, output: Finalized, received: list[int]
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
            output.close()  # idempotent; the pipeline normally closed it already
        except OutputError as exc:
            error = error or exc
        # The run's time includes the encoder's flush (seconds for x265's lookahead).
        pipeline.stats.finished = time.perf_counter()
    if received and isinstance(error, KeyboardInterrupt):
        error = None  # a second signal forced the stop; it is reported as the first one
    return stats, error
