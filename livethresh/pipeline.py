"""The engine that moves frames: source -> gray -> binarizer -> sink, in three concurrent stages.

::

    decode thread            process thread              caller's thread
    source.frames()  ->  [decoded]  ->  Binarizer  ->  [processed]  ->  sink.write()
    LumaReader           queue                         queue
          ^                                                             |
          +-------------------- pool of free slots <--------------------+

Each frame travels in a :class:`~livethresh.slots.Slot` (its gray image and mask buffers).
Slots are allocated when the run starts and when the frame size changes, never per frame, and
are recycled through the pool. The queues between stages are bounded
(:class:`~livethresh.slots.SlotQueue`): a live source drops its oldest waiting frame when one
is full, a file blocks (:class:`~livethresh.slots.LivePolicy`).

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

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from livethresh.binarize.binarizer import limit_opencv_threads
from livethresh.frames import LumaReader
from livethresh.sinks import FrameSink, StopPipeline
from livethresh.slots import Aborted, LivePolicy, Slot, SlotQueue
from livethresh.stats import Stats
from livethresh.swap import BinarizerSwap

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
        self._free: SlotQueue[Slot] = SlotQueue(self._slot_count)
        for _ in range(self._slot_count):
            self._free.put(Slot(shape))
        self._decoded: SlotQueue[Slot] = SlotQueue(queue_size)
        self._processed: SlotQueue[Slot] = SlotQueue(queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._binarizers = BinarizerSwap(config, self.bands)
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
        so that the processing thread only swaps it in (:class:`~livethresh.swap.BinarizerSwap`).
        It starts without history: with ``stabilize``, the average restarts from the next frame
        under the new settings.
        """
        self._binarizers.change(config)
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
                threading.Thread(target=self._guard, args=args, name=name, daemon=True)
                for name, args in (
                    ("livethresh-decode", (self._decode_loop, self._decoded, True)),
                    ("livethresh-process", (self._process_loop, self._processed)),
                )
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

    def _guard(
        self, loop: Callable[[], None], output: SlotQueue[Slot], drain: bool = False
    ) -> None:
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
        """Keep the run's first exception, to be re-raised by :meth:`run`: the one place a
        failure is captured, from any stage and from the sink's close."""
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
        self.stop()
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
            self._binarizers.close(in_use=bool(stuck))  # a stuck thread may still use it
            try:
                self.sink.close()
            except BaseException as exc:
                self._record(exc)

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
                slot.frame, slot.gray = frame, reader(frame, slot.gray_buffer)
                slot.index = stats.frames_read
                slot.decoded_at = time.perf_counter()
                times["gray"] += slot.decoded_at - read
                stats.frames_read += 1
                dropped = self._decoded.put(slot, self.policy)
                if dropped is not None:
                    stats.dropped_before_processing += 1
                    self._free.put(dropped.release())
        finally:
            if isinstance(frames, Generator):
                frames.close()  # the source's own cleanup runs now, in this thread
            stats.decode_errors = self.source.decode_errors

    def _process_loop(self) -> None:
        stats, times = self.stats, self.stats.stage_seconds
        while True:
            slot = self._decoded.get()
            if slot is None:
                return
            started = time.perf_counter()
            binarize = self._binarizers.for_shape(slot.shape)
            assert slot.gray is not None  # the read stage always sets it
            # Timestamps let a stabilizing binarizer reset at a gap or a restart of the stream.
            binarize(slot.gray, slot.mask, slot.time())
            times["binarize"] += time.perf_counter() - started
            stats.frames_processed += 1
            dropped = self._processed.put(slot, self.policy)
            if dropped is not None:
                stats.dropped_before_output += 1
                self._free.put(dropped.release())

    def _output_loop(self) -> None:
        stats = self.stats
        while True:
            slot = self._processed.get()
            if slot is None:
                return
            result = slot.processed()
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
