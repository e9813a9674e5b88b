"""The Binarizer: one frame shape, every buffer allocated once, horizontal bands in parallel.

A :class:`Binarizer` is built once for a frame shape. It allocates every intermediate buffer up
front, so that binarizing a frame allocates nothing frame-sized. Local methods split the frame
into horizontal bands processed in parallel; a band carries enough rows of context above and
below that its rows come out identical to a whole-frame run.

With ``stabilize`` on, the frame goes through three stages instead: the bands pre-blur their
rows into one frame, the :class:`~livethresh.binarize.temporal.Stabilizer` turns it into a
temporal average (in bands on block boundaries), and the method thresholds that average.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2
import numpy as np

from livethresh.binarize.bands import MIN_BAND_ROWS, Band, plan_bands
from livethresh.binarize.despeckle import Despeckler
from livethresh.binarize.registry import Frame, Method, method_class
from livethresh.binarize.scale import AutoScale, despeckle_area
from livethresh.binarize.temporal import Stabilizer, block_spans
from livethresh.config import ThresholdConfig
from livethresh.errors import ConfigError, FrameShapeError, LivethreshError

T = TypeVar("T")


def available_cores() -> int:
    """Cores this process may run on: the bands a still image is split into."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def limit_opencv_threads() -> None:
    """Turn OpenCV's own thread pool off.

    Parallelism is livethresh's (bands, pipeline stages): on 2 cores OpenCV's pool fights the
    decoder and the other stages for the same cores.
    """
    cv2.setNumThreads(1)


class Binarizer:
    """Binarizes uint8 gray frames of one shape into masks, without per-frame allocation.

    A frame of any other shape raises :class:`FrameShapeError`; build a new binarizer for it
    (the video pipeline does this on a resolution change). After :meth:`close` it refuses
    frames with a :class:`LivethreshError`: its band threads are gone, and a caller that still
    uses it has a lifetime bug that should surface rather than silently run single-threaded.

    Args:
        config: The threshold settings.
        shape: ``(height, width)`` of the gray frames (for a color image, ``image.shape[:2]``).
        threads: How many bands of rows to process in parallel. 1 runs everything in the
            calling thread; more uses a small pool created here, once. Global methods (Otsu)
            share only the pre-blur between bands.

    Example:
        >>> with Binarizer(ThresholdConfig(), (1080, 1920), threads=2) as binarize:
        ...     mask = binarize(gray)

    Raises:
        FrameShapeError: ``shape`` is not ``(height, width)`` with two positive integers.
        ConfigError: ``threads`` is below 1.
    """

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int], threads: int = 1) -> None:
        height, width = _frame_size(shape)
        if threads < 1:
            raise ConfigError(f"invalid threads {threads!r}: must be an integer >= 1")
        self.config = config
        self.shape = (int(height), int(width))
        self._stabilizer: Stabilizer | None = None
        self._stages: list[Band] = []
        self._stabilized_input: Frame | None = None
        if config.stabilize:
            # Pre-blur and stabilize first, in bands on block boundaries; the method then
            # thresholds the stabilized frame, already blurred.
            self._stabilizer = Stabilizer(self.shape, config.stabilize_gate)
            context = config.blur // 2
            self._stages = [
                Band(config, None, width, (max(0, a - context), a, b, min(height, b + context)))
                for a, b in block_spans(height, min(threads, max(1, height // MIN_BAND_ROWS)))
            ]
            self._stabilized_input = np.empty(self.shape, np.uint8) if config.blur else None
            config = config.replace(blur=0)
        method = method_class(config.method)
        self._method = method
        self._gathers = method.is_local and method.gathers
        self._requested_threads = threads
        self._scale = (
            AutoScale(
                self.shape,
                config.invert,
                config.block_size,
                method.window_per_stroke,
                method.min_window,
            )
            if config.auto_scale
            else None
        )
        self._frame_pass = method.frame_pass(config, self.shape)
        #: The last frame's statistics of a gathering method (:meth:`Method.merge`).
        self._statistics: tuple[float, ...] = ()
        self._despeckle = Despeckler(self.shape) if config.despeckle else None
        self._method_config = config  # what the bands run: without the blur when stabilized
        self._build(config)
        workers = max(len(self._bands), len(self._stages)) - 1
        self._pool: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(workers, thread_name_prefix="livethresh-band") if workers else None
        )
        self.out = np.empty(self.shape, np.uint8)
        self._closed = False

    def _build(self, config: ThresholdConfig) -> None:
        """Make the bands of ``config``; again when the automatic window moves (same count)."""
        method, (height, width), threads = self._method, self.shape, self._requested_threads
        self.block_size = config.block_size
        if method.is_local:
            # Each band blurs and thresholds its own rows, with context for both steps.
            context = config.blur // 2 + method.context_rows(config)
            self._bands = [
                Band(config, method, width, span)
                for span in plan_bands(height, threads, context, method.band_alignment)
            ]
            self._global: Method | None = None
            self._blurred: Frame | None = None
        else:
            # A global method needs the whole pre-blurred frame: bands only share the blur.
            spans = plan_bands(height, threads if config.blur else 1, config.blur // 2)
            self._bands = [Band(config, None, width, span) for span in spans]
            self._global = method(config, self.shape)
            # With one band, that band's own buffer is the whole blurred frame.
            several = len(self._bands) > 1
            self._blurred = np.empty(self.shape, np.uint8) if config.blur and several else None

    @property
    def threads(self) -> int:
        """Bands actually processed in parallel."""
        return max(len(self._bands), len(self._stages))

    def reset(self) -> None:
        """Forget the frames seen so far: the stabilizer's average, the measured stroke width,
        the last frame's statistics."""
        if self._stabilizer is not None:
            self._stabilizer.reset()
        if self._scale is not None:
            self._scale.reset()
        self._statistics = ()

    def __call__(
        self, gray: Frame, out: Frame | None = None, timestamp: float | None = None
    ) -> Frame:
        """Binarize one frame.

        Args:
            gray: uint8 frame of the binarizer's shape; rows may be strided (e.g. a luma plane
                with padding), pixels must be contiguous.
            out: Where to write the mask (uint8, C-contiguous, same shape). When None, the
                binarizer's own buffer ``self.out`` is used and overwritten by the next call.
            timestamp: The frame's time in seconds, if known. With ``stabilize``, a step
                backwards or a gap resets the average
                (:meth:`~livethresh.binarize.temporal.Stabilizer.begin`).

        Returns:
            ``out`` (or ``self.out``), holding 0 and 255.

        Raises:
            FrameShapeError: ``gray`` or ``out`` does not have the expected shape or type.
            LivethreshError: The binarizer was closed.
        """
        if self._closed:
            raise LivethreshError(
                "this Binarizer is closed; build a new one to binarize more frames"
            )
        self.check(gray, "frame")
        if out is None:
            out = self.out
        else:
            self.check(out, "out")
            if not out.flags.c_contiguous:
                raise FrameShapeError("out must be C-contiguous")
        if self._stabilizer is not None:
            gray = self._stabilize(gray, self._stabilizer, timestamp)
        scale = self._scale
        if scale is not None and scale.start(gray):
            self._rescale(scale)
        self._mask(gray, out)
        # A first frame whose own mask moves its window (set from Otsu's mask) is done again.
        if scale and scale.observe(out) and self._rescale(scale) and scale.tracker.frames == 1:
            self._mask(gray, out)
        return out

    def _mask(self, gray: Frame, out: Frame) -> None:
        """The method over the frame, then the despeckling."""
        self._threshold(gray, out)
        if self._despeckle is not None:
            area = despeckle_area(
                self.config.despeckle,
                self._scale,
                self.config.block_size,
                self._method.window_per_stroke,
            )
            self._despeckle(out, area, 255 if self.config.invert else 0)

    def _rescale(self, scale: AutoScale) -> bool:
        """Follow the automatic window. Returns whether it moved."""
        if scale.window == self.block_size:
            return False
        self._build(self._method_config.replace(block_size=scale.window))
        return True

    def _threshold(self, gray: Frame, out: Frame) -> None:
        """Run the method over the frame, in bands, then its whole-frame pass if it has one."""
        if self._global is None and self._gathers:
            parts = self._each_band(lambda band: band.gather(gray))
            statistics = self._statistics = self._method.merge(parts, self._statistics)
            self._each_band(lambda band: band.finish(out, statistics))
        elif self._global is None:
            self._each_band(lambda band: band.run(gray, out))
        elif self._blurred is None:
            self._global.apply(self._bands[0].source(gray), out, 0)
        else:
            blurred = self._blurred
            self._each_band(lambda band: band.blur_into(gray, blurred))
            self._global.apply(blurred, out, 0)
        if self._frame_pass is not None:
            self._frame_pass(out, self._in_bands)

    def _stabilize(self, gray: Frame, stabilizer: Stabilizer, timestamp: float | None) -> Frame:
        """Pre-blur and stabilize ``gray`` in bands; returns the stabilized frame."""
        blurred = self._stabilized_input
        stabilizer.begin(timestamp)
        self._each_band(lambda band: band.stabilize(gray, blurred, stabilizer), self._stages)
        stabilizer.decide()
        source = gray if blurred is None else blurred
        self._each_band(lambda band: stabilizer.update(source, band.start, band.stop), self._stages)
        stabilizer.end()
        return stabilizer.average

    def _in_bands(self, work: Callable[[int, int], T]) -> list[T]:
        """Run ``work(start, stop)`` over the own rows of every band of the method."""
        return self._each_band(lambda band: work(band.start, band.stop))

    def _each_band(self, work: Callable[[Band], T], bands: list[Band] | None = None) -> list[T]:
        """Run ``work`` on every band (of the method, or ``bands``): the first in this thread,
        the others in the pool.

        Returns:
            The results, in band order.
        """
        bands = self._bands if bands is None else bands
        if self._pool is None:  # one band, or closed: run them all here
            return [work(band) for band in bands]
        pending = [self._pool.submit(work, band) for band in bands[1:]]
        first = work(bands[0])
        return [first] + [job.result() for job in pending]

    def check(self, frame: Frame, what: str) -> None:
        """Raise :class:`FrameShapeError` unless ``frame`` is a uint8 image of this shape."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
            kind = f"{frame.dtype} {frame.ndim}-D" if isinstance(frame, np.ndarray) else type(frame)
            raise FrameShapeError(f"{what} must be a 2-D uint8 gray image, got {kind}")
        if frame.shape != self.shape:
            raise FrameShapeError(
                f"{what} has shape {frame.shape[0]}x{frame.shape[1]} but this binarizer was built "
                f"for {self.shape[0]}x{self.shape[1]}; build a new Binarizer for the new size"
            )
        if frame.strides[1] != 1:
            raise FrameShapeError(f"{what} must have contiguous pixels within each row")

    def close(self) -> None:
        """Stop the band threads and refuse further frames. Idempotent."""
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Binarizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _frame_size(shape: object) -> tuple[int, int]:
    """``(height, width)`` from a shape, refusing anything but two positive integers."""
    if (
        not isinstance(shape, tuple | list)
        or len(shape) != 2
        or not all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in shape)
    ):
        hint = (
            f"; for a color image pass image.shape[:2] ({shape[0]}, {shape[1]}) and gray frames"
            if isinstance(shape, tuple | list) and len(shape) == 3
            else ""
        )
        raise FrameShapeError(
            f"a Binarizer's shape must be (height, width) of gray frames, got {shape!r}{hint}"
        )
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise FrameShapeError(f"cannot binarize an empty frame of shape {tuple(shape)}")
    return height, width


def binarize(gray: Frame, config: ThresholdConfig | None = None, out: Frame | None = None) -> Frame:
    """Binarize one image. Convenient for stills; for video build a :class:`Binarizer` once."""
    with Binarizer(config or ThresholdConfig(), gray.shape[:2]) as run:
        result = run(gray, out)
        return result if out is not None else result.copy()
