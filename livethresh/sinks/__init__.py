"""Every place masks go: the :class:`FrameSink` protocol and the small sinks.

A sink is opened with the stream's :class:`~livethresh.frames.StreamInfo`, written one
:class:`~livethresh.frames.ProcessedFrame` at a time from the pipeline's output thread, and
closed once; ``close()`` is idempotent and flushes. The encoder (``sinks.encoder``, a thin sink
over the muxer in :mod:`livethresh.encode`), the window (``sinks.window``) and the browser
view's broadcaster are sinks too. A sink never imports :mod:`livethresh.sources`
(``tests/test_layout.py`` checks it): the two ends of the pipe meet only in the pipeline.

Adding a sink takes one file and one line:

1. Write ``livethresh/sinks/NAME.py``: a module docstring that says its role, and a class with
   ``open(info)``, ``write(frame)`` and ``close()`` (idempotent, flushing; raise
   :class:`StopPipeline` from ``write`` to end the run cleanly) that counts the frames it
   delivered in ``frames``.
2. Add one line to ``SINKS`` in ``tests/test_sink_contract.py`` (``SINKS_ON_A_DISPLAY`` if it
   opens a window): ``"NAME": counted(NameSink)``. The contract runs over it from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from livethresh.frames import ProcessedFrame, StreamInfo

#: How often :class:`ProgressSink` reports, at most, in seconds.
PROGRESS_INTERVAL = 0.1


class StopPipeline(Exception):
    """Raised by a sink to end the run cleanly, for example when the user presses ``q``."""


@runtime_checkable
class FrameSink(Protocol):
    """Something that consumes masks: a window, an encoder, a counter."""

    def open(self, info: StreamInfo) -> None:
        """Prepare for frames described by ``info``; called once, before the first write."""

    def write(self, frame: ProcessedFrame) -> None:
        """Consume one frame; raise :class:`StopPipeline` to end the run cleanly."""

    def close(self) -> None:
        """Flush and release everything; safe to call more than once."""


class NullSink:
    """Discards masks but counts them: for measuring the pipeline itself."""

    def __init__(self) -> None:
        self.frames = 0
        self.closed = False

    def open(self, info: StreamInfo) -> None:
        self.frames = 0

    def write(self, frame: ProcessedFrame) -> None:
        self.frames += 1

    def close(self) -> None:
        self.closed = True


class TeeSink:
    """Feeds every frame to several sinks in order, such as an encoder and a preview window.

    Each sink is opened and closed once; ``close`` closes every sink even if one fails, and
    re-raises the first failure. A sink raising :class:`StopPipeline` ends the run after the
    sinks before it have taken the frame, so put the one that must not miss frames first.
    """

    def __init__(self, sinks: list[FrameSink]) -> None:
        self.sinks = list(sinks)

    def open(self, info: StreamInfo) -> None:
        for sink in self.sinks:
            sink.open(info)

    def write(self, frame: ProcessedFrame) -> None:
        for sink in self.sinks:
            sink.write(frame)

    def close(self) -> None:
        failure: BaseException | None = None
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


class ProgressSink:
    """Wraps a sink to report the frames written so far, at most every
    :data:`PROGRESS_INTERVAL` seconds and once more at the end (a progress bar's feed)."""

    def __init__(self, sink: FrameSink, report: Callable[[int], None]) -> None:
        self.sink = sink
        self.report = report
        self.frames = 0
        self._next = 0.0

    def open(self, info: StreamInfo) -> None:
        self.sink.open(info)

    def write(self, frame: ProcessedFrame) -> None:
        self.sink.write(frame)
        self.frames += 1
        now = time.perf_counter()
        if now >= self._next:
            self._next = now + PROGRESS_INTERVAL
            self.report(self.frames)

    def close(self) -> None:
        self.sink.close()
        self.report(self.frames)
