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

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2
import numpy as np

from livethresh.binarize.registry import Frame, Method, method_class
from livethresh.binarize.temporal import Stabilizer, block_spans
from livethresh.config import ThresholdConfig
from livethresh.errors import ConfigError, FrameShapeError, LivethreshError

T = TypeVar("T")


#: Bands shorter than this are not worth a thread: splitting stops there.
MIN_BAND_ROWS = 64


class _Band:
    """Rows ``[start, stop)`` of the output, computed from rows ``[top, bottom)`` of the input.

    ``method`` is None for the bands of a global method, which only pre-blur their rows.
    """

    def __init__(
        self,
        config: ThresholdConfig,
        method: type[Method] | None,
        width: int,
        span: tuple[int, int, int, int],
    ) -> None:
        self.top, self.start, self.stop, self.bottom = span
        shape = (self.bottom - self.top, width)
        self.blur = (config.blur, config.blur) if config.blur else None
        self.blurred = np.empty(shape, np.uint8) if self.blur else None
        self.method = method(config, shape) if method else None
        self.gathered: Frame | None = None  # the source rows between gather() and finish()

    def source(self, gray: Frame) -> Frame:
        """The band's input rows, pre-blurred when the config asks for it."""
        src = gray[self.top : self.bottom]
        if self.blur is None or self.blurred is None:
            return src
        cv2.GaussianBlur(src, self.blur, 0, dst=self.blurred)
        return self.blurred

    def run(self, gray: Frame, out: Frame) -> None:
        """Write this band's rows of the mask."""
        assert self.method is not None
        self.method.apply(self.source(gray), out[self.start : self.stop], self.start - self.top)

    def gather(self, gray: Frame) -> tuple[float, ...]:
        """First phase of a gathering method: this band's share of the frame statistics."""
        assert self.method is not None
        self.gathered = self.source(gray)
        return self.method.gather(self.gathered, self.start - self.top, self.stop - self.start)

    def finish(self, out: Frame, statistics: tuple[float, ...]) -> None:
        """Second phase: this band's rows of the mask, given the whole frame's statistics."""
        assert self.method is not None and self.gathered is not None
        self.method.frame_statistics = statistics
        self.method.apply(self.gathered, out[self.start : self.stop], self.start - self.top)

    def blur_into(self, gray: Frame, blurred: Frame) -> None:
        """Write this band's rows of the pre-blurred frame (for global methods)."""
        rows = self.source(gray)[self.start - self.top : self.stop - self.top]
        np.copyto(blurred[self.start : self.stop], rows)

    def stabilize(self, gray: Frame, blurred: Frame | None, stabilizer: Stabilizer) -> None:
        """First phase of stabilization: pre-blur this band's rows, measure their change."""
        if (
            blurred is not None
            and self.blur is not None
            and (self.top, self.bottom) == (0, len(gray))
        ):
            # A band of the whole frame blurs straight into it (no context rows to cut off).
            cv2.GaussianBlur(gray, self.blur, 0, dst=blurred)
        elif blurred is not None:
            self.blur_into(gray, blurred)
        stabilizer.measure(gray if blurred is None else blurred, self.start, self.stop)


def available_cores() -> int:
    """Cores this process may run on: the bands a still image is split into."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def limit_opencv_threads() -> None:
    """Turn OpenCV's own thread pool off.

    Parallelism is livethresh's (bands, pipeline stages): on 2 cores OpenCV's pool fights the
    decoder and the other stages for the same cores.
    """
    cv2.setNumThreads(1)


def plan_bands(height: int, bands: int, context: int) -> list[tuple[int, int, int, int]]:
    """Split ``height`` rows into at most ``bands`` spans of ``(top, start, stop, bottom)``.

    ``start:stop`` are the rows a band writes; ``top:bottom`` adds ``context`` rows each side,
    clipped to the frame, so that border handling at the real frame edges is unchanged.
    """
    count = max(1, min(bands, height // MIN_BAND_ROWS))
    edges = [round(i * height / count) for i in range(count + 1)]
    return [
        (max(0, start - context), start, stop, min(height, stop + context))
        for start, stop in itertools.pairwise(edges)
    ]


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
        self._stages: list[_Band] = []
        self._stabilized_input: Frame | None = None
        if config.stabilize:
            # Pre-blur and stabilize first, in bands on block boundaries; the method then
            # thresholds the stabilized frame, already blurred.
            self._stabilizer = Stabilizer(self.shape, config.stabilize_gate)
            context = config.blur // 2
            self._stages = [
                _Band(config, None, width, (max(0, a - context), a, b, min(height, b + context)))
                for a, b in block_spans(height, min(threads, max(1, height // MIN_BAND_ROWS)))
            ]
            self._stabilized_input = np.empty(self.shape, np.uint8) if config.blur else None
            config = config.replace(blur=0)
        method = method_class(config.method)
        self._method = method
        self._gathers = method.is_local and method.gathers
        if method.is_local:
            # Each band blurs and thresholds its own rows, with context for both steps.
            context = config.blur // 2 + method.context_rows(config)
            self._bands = [
                _Band(config, method, width, span) for span in plan_bands(height, threads, context)
            ]
            self._global: Method | None = None
            self._blurred: Frame | None = None
        else:
            # A global method needs the whole pre-blurred frame: bands only share the blur.
            spans = plan_bands(height, threads if config.blur else 1, config.blur // 2)
            self._bands = [_Band(config, None, width, span) for span in spans]
            self._global = method(config, self.shape)
            # With one band, that band's own buffer is the whole blurred frame.
            several = len(self._bands) > 1
            self._blurred = np.empty(self.shape, np.uint8) if config.blur and several else None
        workers = max(len(self._bands), len(self._stages)) - 1
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="livethresh-band") if workers else None
        )
        self.out = np.empty(self.shape, np.uint8)
        self._closed = False

    @property
    def threads(self) -> int:
        """Bands actually processed in parallel."""
        return max(len(self._bands), len(self._stages))

    def reset(self) -> None:
        """Forget the frames seen so far (with ``stabilize``: the next frame is not averaged)."""
        if self._stabilizer is not None:
            self._stabilizer.reset()

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
        if self._global is None and self._gathers:
            statistics = self._method.merge(self._each_band(lambda band: band.gather(gray)))
            self._each_band(lambda band: band.finish(out, statistics))
        elif self._global is None:
            self._each_band(lambda band: band.run(gray, out))
        elif self._blurred is None:
            self._global.apply(self._bands[0].source(gray), out, 0)
        else:
            blurred = self._blurred
            self._each_band(lambda band: band.blur_into(gray, blurred))
            self._global.apply(blurred, out, 0)
        return out

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

    def _each_band(self, work: Callable[[_Band], T], bands: list[_Band] | None = None) -> list[T]:
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
