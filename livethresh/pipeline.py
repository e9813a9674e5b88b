"""The engine that moves frames: source -> gray -> binarizer -> sink, in three concurrent stages.

::

    decode thread            process thread              caller's thread
    source.frames()  ->  [decoded]  ->  Binarizer  ->  [processed]  ->  sink.write()
    LumaReader           queue                         queue
          ^                                                             |
          +-------------------- pool of free slots <--------------------+

A :class:`Slot` carries one frame through the stages: the decoded frame, its gray image (a view
of the frame's luma plane, or the slot's own buffer when a conversion or rotation is needed)
and its mask buffer. Slots are allocated when the run starts and when the frame size changes,
never per frame, and are recycled through the pool. The queues between stages are bounded
(:class:`SlotQueue`):

- a **live** source (camera, stream, paced file) never waits for downstream: when a queue is
  full, the oldest waiting slot is dropped, counted and recycled, so a frame reaches the sink
  within a frame or two of being decoded (:attr:`LivePolicy.DROP_OLDEST`);
- a **file** never loses a frame: a full queue blocks its producer (:attr:`LivePolicy.BLOCK`).

The output stage runs in the thread that calls :meth:`Pipeline.run`, because GUI toolkits
(``cv2.imshow``) want the main thread, and so that Ctrl-C lands where it can stop the run.

Shutdown: every worker sends its end-of-stream marker from ``finally`` (it closes its output
queue), whatever happened. The first exception of any stage is kept, the stop event is set and
every queue is aborted, which wakes all waiting stages at once; the caller then joins the
threads and re-raises that exception (its traceback intact). A sink raising
:class:`~livethresh.sinks.StopPipeline` ends the run cleanly.

Threads on 2 cores: PyAV decodes with ``thread_type="AUTO"``, FFmpeg's automatic thread count
for files and one thread for live sources
(:func:`~livethresh.sources.pyav.default_decoder_threads`); OpenCV's own pool is off
(:func:`~livethresh.binarize.binarizer.limit_opencv_threads`) because it would
oversubscribe the cores the stages already use; and the binarizer runs in :data:`FILE_BANDS`
or :data:`LIVE_BANDS` band(s). See ``benchmarks/bench_pipeline.py`` and the README for the
measurements behind these choices.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from livethresh.binarize.binarizer import Binarizer, limit_opencv_threads
from livethresh.frames import LumaReader, ProcessedFrame, seconds
from livethresh.sinks import FrameSink, StopPipeline
from livethresh.stats import Stats

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig
    from livethresh.sources import FrameSource

logger = logging.getLogger(__name__)

#: Binarizer bands for files: one. Read as fast as possible, the decoder already keeps both
#: cores busy, and a second band measured no faster (benchmarks/bench_pipeline.py).
FILE_BANDS = 1
#: Binarizer bands for live sources: two. The decoder sleeps between frames, so both cores are
#: free when a frame arrives, and splitting it cuts the median latency by about a third.
LIVE_BANDS = 2
#: Slots each queue between two stages may hold: one frame of slack is enough to keep both
#: cores busy (a second slot measured no faster in a 1080p transcode and held 15 MiB more), and
#: for live sources every extra slot is a frame of potential latency.
DEFAULT_QUEUE_SIZE = 1
#: Seconds to wait for a worker thread to finish once stopped before giving up on it.
JOIN_TIMEOUT = 30.0


class LivePolicy(enum.Enum):
    """What a producer does when the queue to the next stage is full."""

    DROP_OLDEST = "drop-oldest"
    """Replace the oldest waiting frame (live sources: latency stays low)."""
    BLOCK = "block"
    """Wait for room (files: every frame is kept)."""


class Aborted(Exception):
    """A queue was aborted because the run is stopping; the stage should return."""


class Slot:
    """One frame's worth of buffers, reused from frame to frame.

    Attributes:
        shape: ``(height, width)`` the buffers are sized for.
        gray_buffer: Where converted or rotated gray pixels are written.
        mask: Where the binarizer writes the mask.
        gray: The frame's gray image: ``gray_buffer`` or a view of the frame's luma plane.
        frame: The decoded frame, kept alive while ``gray`` may view its memory.
    """

    __slots__ = ("decoded_at", "frame", "gray", "gray_buffer", "index", "mask", "shape")

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.gray_buffer = np.empty(shape, np.uint8)
        self.mask = np.empty(shape, np.uint8)
        self.gray: np.ndarray | None = None
        self.frame: Any = None
        self.index = -1
        self.decoded_at = 0.0

    def fit(self, shape: tuple[int, int]) -> None:
        """Resize the buffers if the frame size changed (a rare, deliberate allocation)."""
        if shape != self.shape:
            self.shape = shape
            self.gray_buffer = np.empty(shape, np.uint8)
            self.mask = np.empty(shape, np.uint8)

    def release(self) -> Slot:
        """Drop the references to the frame so its decoder buffer can be reused."""
        self.frame = None
        self.gray = None
        return self


class SlotQueue:
    """A bounded FIFO of slots with end-of-stream and abort, woken without polling.

    Args:
        capacity: Slots it may hold.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[Slot] = deque()
        self._cond = threading.Condition()
        self._ended = False
        self._aborted = False

    def put(self, slot: Slot, policy: LivePolicy = LivePolicy.BLOCK) -> Slot | None:
        """Add ``slot``; when full, block or drop the oldest one (returned to the caller).

        Raises:
            Aborted: The run is stopping.
        """
        with self._cond:
            dropped = None
            while len(self._items) >= self.capacity and not self._aborted:
                if policy is LivePolicy.DROP_OLDEST:
                    dropped = self._items.popleft()
                    break
                self._cond.wait()
            if self._aborted:
                raise Aborted
            self._items.append(slot)
            self._cond.notify_all()
            return dropped

    def get(self) -> Slot | None:
        """Take the oldest slot, waiting for one; None once the producer has ended.

        Raises:
            Aborted: The run is stopping.
        """
        with self._cond:
            while not self._items and not self._ended and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise Aborted
            if not self._items:
                return None
            slot = self._items.popleft()
            self._cond.notify_all()
            return slot

    def end(self) -> None:
        """Mark end of stream: consumers get the remaining slots, then None."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> list[Slot]:
        """Wake every waiter with :class:`Aborted` and hand back the slots still queued."""
        with self._cond:
            self._aborted = True
            drained = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return drained


class Pipeline:
    """Runs a source through the binarizer into a sink, decode/process/output overlapping.

    Args:
        source: An open :class:`~livethresh.sources.FrameSource`; the caller closes it.
        sink: Where masks go. The pipeline opens it before the first frame and closes it at
            the end of :meth:`run`, also on errors.
        config: Threshold settings; see :meth:`set_config` to change them while running.
        bands: Binarizer bands run in parallel; None: :data:`LIVE_BANDS` or
            :data:`FILE_BANDS` by the policy.
        max_frames: Stop after reading this many frames (None: until the source ends).
        policy: Override the queue policy; by default live sources drop the oldest frame and
            files block.
        queue_size: Slots each inter-stage queue holds. More smooths bursts in files; for live
            sources every extra slot is a frame of potential latency.

    Example:
        >>> with open_source("testsrc2=size=640x480") as source:
        ...     stats = Pipeline(source, NullSink(), ThresholdConfig(), max_frames=100).run()
    """

    def __init__(
        self,
        source: FrameSource,
        sink: FrameSink,
        config: ThresholdConfig,
        *,
        bands: int | None = None,
        max_frames: int | None = None,
        policy: LivePolicy | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.source = source
        self.sink = sink
        self.config = config
        self.max_frames = max_frames
        self.policy = policy or (
            LivePolicy.DROP_OLDEST if source.info.is_live else LivePolicy.BLOCK
        )
        if bands is None:
            bands = LIVE_BANDS if self.policy is LivePolicy.DROP_OLDEST else FILE_BANDS
        self.bands = max(1, bands)
        self.stats = Stats()
        shape = (source.info.height, source.info.width)
        # Each stage holds at most one slot and each queue `queue_size`: with this many slots
        # the decoder always finds a free one unless a queue blocks it (files).
        self._slot_count = 3 + 2 * queue_size
        self._free = SlotQueue(self._slot_count)
        for _ in range(self._slot_count):
            self._free.put(Slot(shape))
        self._decoded = SlotQueue(queue_size)
        self._processed = SlotQueue(queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._pending: tuple[ThresholdConfig, Binarizer | None] | None = None
        self._pending_lock = threading.Lock()
        self._binarizer: Binarizer | None = None
        self._active_config = config
        self._threads: list[threading.Thread] = []
        self._ran = False
        self._writing = False

    # -- control, from any thread ------------------------------------------------------------

    def stop(self) -> None:
        """Ask the run to end soon (from any thread); :meth:`run` then returns normally."""
        self._stop.set()
        self._abort_queues()
        self.source.interrupt()  # a paced source may be waiting for its next frame to be due

    def set_config(self, config: ThresholdConfig) -> None:
        """Use ``config`` from the next frame on, without interrupting the run.

        The new binarizer is built here, in the caller's thread, for the current frame size,
        so that the processing thread only swaps it in. It starts without history: with
        ``stabilize``, the average restarts from the next frame under the new settings.
        """
        current = self._binarizer
        prebuilt = None
        if current is not None:
            prebuilt = Binarizer(config, current.shape, threads=self.bands)
        with self._pending_lock:
            previous, self._pending = self._pending, (config, prebuilt)
        if previous is not None and previous[1] is not None:
            previous[1].close()
        self.config = config

    @property
    def writing(self) -> bool:
        """True while a frame is handed to the sink and counted: a forced stop must wait."""
        return self._writing

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker threads of the current or last run."""
        return list(self._threads)

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> Stats:
        """Run until the source ends, ``max_frames`` is reached, the sink or :meth:`stop` ends
        it, or a stage fails.

        Returns:
            The run's statistics.

        Raises:
            Exception: The first exception raised by the source, the binarizer or the sink,
                re-raised with its original traceback once every thread has stopped.
            KeyboardInterrupt: On Ctrl-C, after the same clean shutdown.
        """
        if self._ran:
            raise RuntimeError("a Pipeline runs once; build a new one")
        self._ran = True
        limit_opencv_threads()
        self.stats = Stats()
        try:
            self.sink.open(self.source.info)
            self._threads = [
                threading.Thread(
                    target=self._guard,
                    args=(self._decode_loop, self._decoded, True),
                    name="livethresh-decode",
                    daemon=True,
                ),
                threading.Thread(
                    target=self._guard,
                    args=(self._process_loop, self._processed),
                    name="livethresh-process",
                    daemon=True,
                ),
            ]
            for thread in self._threads:
                thread.start()
            self._output_loop()
        except StopPipeline:
            self.stats.stopped_early = True
        except Aborted:
            pass  # stop() was called, or a worker failed and recorded why
        except BaseException as exc:
            self._fail(exc)
        finally:
            self._shutdown()
        if self._error is not None:
            raise self._error
        return self.stats

    def _guard(self, loop: Callable[[], None], output: SlotQueue, drain: bool = False) -> None:
        """Run a worker loop; record its failure; always send end-of-stream downstream.

        Args:
            drain: On failure, let the later stages finish the frames already passed on before
                the error is raised (the source: a camera unplugged or a stream cut after N
                frames still delivers those N). Otherwise the run stops at once.
        """
        try:
            loop()
        except Aborted:
            pass
        except BaseException as exc:
            if drain:
                self._record(exc)
            else:
                self._fail(exc)
        finally:
            output.end()

    def _record(self, exc: BaseException) -> None:
        """Keep the run's first exception, to be re-raised by :meth:`run`."""
        with self._error_lock:
            if self._error is None:
                self._error = exc

    def _fail(self, exc: BaseException) -> None:
        self._record(exc)
        self.stop()

    def _abort_queues(self) -> None:
        for queue in (self._decoded, self._processed, self._free):
            queue.abort()

    def _shutdown(self) -> None:
        self._stop.set()
        self._abort_queues()
        self.source.interrupt()
        stuck: list[str] = []
        try:
            deadline = time.monotonic() + JOIN_TIMEOUT
            for thread in self._threads:
                while thread.is_alive() and time.monotonic() < deadline:
                    thread.join(0.1)
                    # Slots a stage put back after the abort are released here.
                    self._abort_queues()
                if thread.is_alive():
                    logger.error("%s did not stop within %.0f s", thread.name, JOIN_TIMEOUT)
                    stuck.append(thread.name)
            self.stats.finished = time.perf_counter()
        finally:
            with self._pending_lock:
                pending, self._pending = self._pending, None
            if pending is not None and pending[1] is not None:
                pending[1].close()
            if self._binarizer is not None and not stuck:
                self._binarizer.close()  # a stuck process thread may still be using it
            try:
                self.sink.close()
            except BaseException as exc:
                with self._error_lock:
                    if self._error is None:
                        self._error = exc

    def _decode_loop(self) -> None:
        stats, times = self.stats, self.stats.stage_seconds
        reader = LumaReader()
        frames = self.source.frames()
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and stats.frames_read >= self.max_frames:
                    break
                started = time.perf_counter()
                frame = next(frames, None)
                read = time.perf_counter()
                times["read"] += read - started
                if frame is None:
                    break
                slot = self._free.get()
                if slot is None:  # pragma: no cover - the pool never ends
                    break
                slot.fit(reader.shape(frame))
                slot.frame = frame
                slot.gray = reader(frame, slot.gray_buffer)
                slot.index = stats.frames_read
                slot.decoded_at = time.perf_counter()
                times["gray"] += slot.decoded_at - read
                stats.frames_read += 1
                dropped = self._decoded.put(slot, self.policy)
                if dropped is not None:
                    stats.dropped_before_processing += 1
                    self._free.put(dropped.release())
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            stats.decode_errors = self.source.decode_errors

    def _process_loop(self) -> None:
        stats, times = self.stats, self.stats.stage_seconds
        while True:
            slot = self._decoded.get()
            if slot is None:
                return
            started = time.perf_counter()
            binarize = self._binarizer_for(slot.shape)
            assert slot.gray is not None  # the read stage always sets it
            # Timestamps let a stabilizing binarizer reset at a gap or a restart of the stream.
            frame = slot.frame
            timestamp = seconds(getattr(frame, "pts", None), getattr(frame, "time_base", None))
            binarize(slot.gray, slot.mask, timestamp)
            times["binarize"] += time.perf_counter() - started
            stats.frames_processed += 1
            dropped = self._processed.put(slot, self.policy)
            if dropped is not None:
                stats.dropped_before_output += 1
                self._free.put(dropped.release())

    def _binarizer_for(self, shape: tuple[int, int]) -> Binarizer:
        """The binarizer for this frame size and the latest config, rebuilt only on change."""
        if self._pending is not None:
            with self._pending_lock:
                pending, self._pending = self._pending, None
            if pending is not None:
                config, prebuilt = pending
                if self._binarizer is not None:
                    self._binarizer.close()
                self._binarizer = prebuilt
                self._active_config = config
        config = self._active_config
        current = self._binarizer
        if current is None or current.shape != shape or current.config is not config:
            if current is not None:
                current.close()
                logger.info("frame size is now %dx%d: rebuilding buffers", shape[1], shape[0])
            self._binarizer = current = Binarizer(config, shape, threads=self.bands)
        return current

    def _output_loop(self) -> None:
        stats = self.stats
        while True:
            slot = self._processed.get()
            if slot is None:
                return
            assert slot.gray is not None
            frame = slot.frame
            result = ProcessedFrame(
                index=slot.index,
                gray=slot.gray,
                mask=slot.mask,
                frame=frame if not isinstance(frame, np.ndarray) else None,
                pts=getattr(frame, "pts", None),
                time_base=getattr(frame, "time_base", None),
                decoded_at=slot.decoded_at,
            )
            started = time.perf_counter()
            stats.latency.add(started - slot.decoded_at)
            # A forced stop (a second Ctrl-C) waits for the frame to be written and counted, so
            # that the count the run reports is the number of frames in the output.
            self._writing = True
            try:
                self.sink.write(result)
                stats.frames_written += 1
            except StopPipeline:  # the sink took this frame, then asked to stop
                stats.frames_written += 1
                raise
            finally:
                self._writing = False
            stats.stage_seconds["write"] += time.perf_counter() - started
            self._free.put(slot.release())
