"""``serve --loop``: a source that plays again from its start each time it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from livethresh.frames import FALLBACK_RATE, StreamInfo
from livethresh.sources import FrameSource


class Replay:
    """A :class:`~livethresh.sources.FrameSource` that opens its source again at each end.

    The pipeline sees one endless stream: its counters and frame indices go on across the
    replays. A source that fails is not opened again: the error ends the run as without
    ``--loop``.

    Args:
        first: The source, already open (its :attr:`info` describes the stream).
        reopen: Opens the same source again from its start.
    """

    def __init__(self, first: FrameSource, reopen: Callable[[], FrameSource]) -> None:
        self._current = first
        self._reopen = reopen
        self._interrupted = threading.Event()
        self._lock = threading.Lock()
        self._earlier_errors = 0
        #: Damaged packets skipped over every play (counted as each play ends).
        self.decode_errors = 0
        self.info: StreamInfo = first.info
        #: How many times the source has been played to its end.
        self.plays = 0

    def frames(self) -> Iterator[Any]:
        try:
            yield from self._plays()
        finally:
            self.decode_errors = self._earlier_errors + self._current.decode_errors

    def _plays(self) -> Iterator[Any]:
        while True:
            yield from self._current.frames()
            self.plays += 1
            # The last frame stays on for a frame's time, as every other frame did (and a
            # one-frame file does not replay as fast as it can be opened).
            if self._interrupted.wait(1 / float(self.info.frame_rate or FALLBACK_RATE)):
                return
            replay = self._reopen()
            with self._lock:
                ended, self._current = self._current, replay
                self._earlier_errors += ended.decode_errors
                self.decode_errors = self._earlier_errors
            ended.close()
            if self._interrupted.is_set():  # stopped while it was being opened again
                return

    def interrupt(self) -> None:
        self._interrupted.set()
        with self._lock:
            self._current.interrupt()

    def close(self) -> None:
        with self._lock:
            self._current.close()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
