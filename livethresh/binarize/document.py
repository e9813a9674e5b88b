"""The document methods: a threshold surface from each window's mean and deviation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from livethresh.binarize.registry import Frame, Method

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig


#: Output rows per chunk of the document methods' box filters: a chunk's float32 mean and mean
#: of squares (280 rows of 1920 pixels at window 25, about 4 MB) stay in the caches until its
#: strips have read them.
CHUNK_ROWS = 256


#: Rows per strip of the document methods' float32 arithmetic within a chunk.
STRIP_ROWS = 64


class LocalStatistics(Method):
    """Base of the document methods: a threshold surface from the window's mean and deviation.

    The window is ``block_size`` square, centred, with ``BORDER_REPLICATE`` at the frame edges
    (the convention of OpenCV's adaptive threshold). Its mean and mean of squares come from
    ``cv2.boxFilter`` and ``cv2.sqrBoxFilter`` on the uint8 input: running sums in integers,
    so the cost per pixel does not depend on the window and the sums are exact; only the final
    scale to float32 rounds. A pixel is foreground (255) when it is strictly brighter than the
    surface, ``src > T``, as in scikit-image and DoxaPy; ``invert`` gives ``src <= T``.

    The work is cut to fit the CPU cache, because at 1080p memory traffic, not arithmetic, is
    what costs: the box filters run on chunks of :data:`CHUNK_ROWS` output rows (plus the
    window's context rows, which the next chunk filters again), and the float32 surface and
    comparison on strips of :data:`STRIP_ROWS` rows within each chunk. Nothing frame-sized is
    written between the box filters and the mask. A chunk's sums are the same integers as a
    whole-frame filter's, so chunking, like banding, does not change a single output pixel.

    Subclasses set ``defaults`` for the settings they read and write :meth:`surface`.
    """

    #: Each method's value of a setting left unset (None). These are the literature's values,
    #: except where ``benchmarks/evaluate.py`` found them more than 2 F-measure points below
    #: the best on degraded documents: sauvola k 0.5 -> 0.1, niblack k -0.2 -> -0.8,
    #: phansalkar k 0.25 -> 0.1 (and config p 2 -> 1), bradley t 15 -> 10 (config).
    defaults: ClassVar[dict[str, float]] = {}
    #: Whether :meth:`surface` needs the local standard deviation (not only the mean).
    uses_deviation: ClassVar[bool] = True

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        self.ksize = (config.block_size, config.block_size)
        self.context = self.context_rows(config)
        # Chunks at least 8 windows tall keep the rows filtered twice under ~12% of the work.
        self.chunk_rows = min(shape[0], max(CHUNK_ROWS, 8 * self.context))
        chunk = (min(shape[0], self.chunk_rows + 2 * self.context), shape[1])
        self.mean = np.empty(chunk, np.float32)
        # Mean of squares, then variance, then standard deviation, in place.
        self.squares = np.empty(chunk, np.float32) if self.uses_deviation else None
        strip = (min(STRIP_ROWS, self.chunk_rows), shape[1])
        self.limit = np.empty(strip, np.float32)
        self.pixels = np.empty(strip, np.float32)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        return config.block_size // 2

    def setting(self, name: str) -> float:
        """The configured value of ``name``, or this method's default when it is unset."""
        return self.effective(self.config, name)

    def window_statistics(
        self, src: Frame, first_row: int, rows: int
    ) -> Iterator[tuple[slice, Frame, Frame | None]]:
        """Box statistics of ``src[first_row:first_row + rows]``, strip by strip.

        Yields:
            ``(band rows, mean, squares)`` per strip: the strip's rows of ``src``, its window
            means and (None unless used) its window means of squares. Both are views of this
            method's chunk buffers, which the caller may overwrite until the next strip.
        """
        stop_row = first_row + rows
        for start in range(first_row, stop_row, self.chunk_rows):
            stop = min(stop_row, start + self.chunk_rows)
            top, bottom = max(0, start - self.context), min(src.shape[0], stop + self.context)
            mean = self.mean[: bottom - top]
            cv2.boxFilter(
                src[top:bottom], cv2.CV_32F, self.ksize, dst=mean, borderType=cv2.BORDER_REPLICATE
            )
            if self.squares is not None:
                cv2.sqrBoxFilter(
                    src[top:bottom],
                    cv2.CV_32F,
                    self.ksize,
                    dst=self.squares[: bottom - top],
                    borderType=cv2.BORDER_REPLICATE,
                )
            for strip in range(start, stop, STRIP_ROWS):
                here = slice(strip - top, min(stop, strip + STRIP_ROWS) - top)
                squares = self.squares[here] if self.squares is not None else None
                yield slice(strip, here.stop + top), mean[here], squares

    def surface_inputs(
        self, src: Frame, first_row: int, rows: int
    ) -> Iterator[tuple[slice, Frame, Frame | None]]:
        """What :meth:`surface` reads, strip by strip; :meth:`window_statistics` by default."""
        return self.window_statistics(src, first_row, rows)

    @staticmethod
    def deviation_from_squares(
        mean: Frame, squares: Frame, scratch: Frame, deviation: Frame | None = None
    ) -> None:
        """Turn the mean of squares into the standard deviation, in place or into ``deviation``.

        ``E[x^2] - E[x]^2`` cancels in float32 and can come out slightly negative on flat
        regions; it is clamped at 0 (a threshold to zero, cheaper than ``max``) so that
        ``sqrt`` never makes a NaN.
        """
        cv2.multiply(mean, mean, dst=scratch)
        cv2.subtract(squares, scratch, dst=squares)
        cv2.threshold(squares, 0.0, 0.0, cv2.THRESH_TOZERO, dst=squares)
        cv2.sqrt(squares, dst=squares if deviation is None else deviation)

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        """Compute the threshold ``T`` for the given rows.

        ``deviation`` holds the mean of squares on entry (None if not used); the method may
        overwrite it, ``mean`` and the scratch ``limit``.

        Returns:
            The array holding ``T``: ``limit``, or an input the method overwrote with it
            (which saves a copy).
        """
        raise NotImplementedError

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        compare = cv2.CMP_LE if self.config.invert else cv2.CMP_GT
        for rows, mean, deviation in self.surface_inputs(src, first_row, out.shape[0]):
            count = rows.stop - rows.start
            limit, pixels = self.limit[:count], self.pixels[:count]
            threshold = self.surface(mean, deviation, limit)
            np.copyto(pixels, src[rows])
            own = slice(rows.start - first_row, rows.stop - first_row)
            cv2.compare(pixels, threshold, compare, dst=out[own])


class Sauvola(LocalStatistics):
    name = "sauvola"
    description = "T = m * (1 + k * (s / R - 1)) over the window (Sauvola-Pietikainen)"
    settings = ("block_size", "k", "r")
    defaults: ClassVar[dict[str, float]] = {"k": 0.1, "r": 128.0}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        k, r = self.setting("k"), self.setting("r")
        self.deviation_from_squares(mean, deviation, limit)
        cv2.multiply(mean, deviation, dst=limit, scale=k / r)
        cv2.scaleAdd(mean, 1.0 - k, limit, dst=limit)
        return limit


class Niblack(LocalStatistics):
    name = "niblack"
    description = "T = m + k * s over the window (Niblack; k < 0 for dark text)"
    settings = ("block_size", "k")
    defaults: ClassVar[dict[str, float]] = {"k": -0.8}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        self.deviation_from_squares(mean, deviation, limit)
        cv2.scaleAdd(deviation, self.setting("k"), mean, dst=limit)
        return limit


class Nick(LocalStatistics):
    name = "nick"
    description = "T = m + k * sqrt(s^2 + m^2) over the window (NICK, Khurshid et al.)"
    settings = ("block_size", "k")
    defaults: ClassVar[dict[str, float]] = {"k": -0.1}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        # s^2 + m^2 is the mean of squares itself: no cancellation, never negative.
        cv2.sqrt(deviation, dst=deviation)
        cv2.scaleAdd(deviation, self.setting("k"), mean, dst=limit)
        return limit


class Wolf(LocalStatistics):
    name = "wolf"
    description = (
        "T = m - k * (1 - s / R) * (m - M), M the frame's darkest pixel, R its largest s "
        "(Wolf-Jolion)"
    )
    #: R is not defaulted: unset, it is the frame's largest local deviation, as in the paper.
    settings = ("block_size", "k", "r")
    defaults: ClassVar[dict[str, float]] = {"k": 0.5}
    #: M and R are statistics of the whole frame, gathered from every band first.
    gathers = True

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        # The band's means and deviations, kept from gather() for apply().
        self.band_mean = np.empty(shape, np.float32)
        self.band_deviation = np.empty(shape, np.float32)

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """The band's darkest own pixel and largest own deviation; means and deviations kept."""
        largest = 0.0
        for band_rows, mean, squares in self.window_statistics(src, first_row, rows):
            assert squares is not None
            np.copyto(self.band_mean[band_rows], mean)
            deviation = self.band_deviation[band_rows]
            self.deviation_from_squares(mean, squares, self.limit[: len(mean)], deviation)
            largest = max(largest, cv2.minMaxLoc(deviation)[1])
        return cv2.minMaxLoc(src[first_row : first_row + rows])[0], largest

    @staticmethod
    def merge(
        parts: list[tuple[float, ...]], previous: tuple[float, ...] = ()
    ) -> tuple[float, ...]:
        return min(p[0] for p in parts), max(p[1] for p in parts)

    def surface_inputs(
        self, src: Frame, first_row: int, rows: int
    ) -> Iterator[tuple[slice, Frame, Frame | None]]:
        """The means and deviations kept by :meth:`gather`, strip by strip."""
        for start in range(first_row, first_row + rows, STRIP_ROWS):
            strip = slice(start, min(first_row + rows, start + STRIP_ROWS))
            yield strip, self.band_mean[strip], self.band_deviation[strip]

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None  # already the standard deviation (see gather)
        k = self.setting("k")
        darkest, largest = self.frame_statistics
        spread = self.config.r if self.config.r is not None else largest
        # T = m + (m - M) * (k * s / R - k); a frame without contrast (R = 0) gives T = m - k(m-M).
        # Kept in this form (not (1 - k) m + k M + ...) so that T is exactly m where m = M.
        # numpy, not cv2.subtract: OpenCV 5.1 reads a Python number beside a 1x1 array as a
        # second array of another depth, and returns garbage for a 1x1 frame.
        np.subtract(mean, np.float32(darkest), out=limit)
        scale = k / spread if spread > 0 else 0.0
        cv2.addWeighted(deviation, scale, deviation, 0.0, -k, dst=deviation)
        cv2.accumulateProduct(limit, deviation, mean)
        return mean


class Bradley(LocalStatistics):
    name = "bradley"
    description = "T = m * (1 - t / 100) over the window (Bradley-Roth, t in percent)"
    settings = ("block_size", "t")
    defaults: ClassVar[dict[str, float]] = {}
    uses_deviation = False

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        np.multiply(mean, 1.0 - self.config.t / 100.0, out=limit)
        return limit


#: Phansalkar's q from which exp(-q * m) is already 0 in float32 for any mean above 0.
Q_SATURATES = 1e30


class Phansalkar(LocalStatistics):
    name = "phansalkar"
    description = "T = m * (1 + p * exp(-q * m) + k * (s / R - 1)), m in [0, 1] (Phansalkar et al.)"
    settings = ("block_size", "k", "r", "p", "q")
    defaults: ClassVar[dict[str, float]] = {"k": 0.1, "r": 127.5}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        k, r = self.setting("k"), self.setting("r")
        self.deviation_from_squares(mean, deviation, limit)
        # The paper normalises gray to [0, 1]: exp(-q * m / 255) on 8-bit values. A q beyond
        # float32's range would overflow (with numpy's warnings); past Q_SATURATES the term is
        # 0 for any mean above 1e-25 and 1 at 0 already, so the mask is the same.
        np.multiply(mean, -min(self.config.q, Q_SATURATES) / 255.0, out=limit)
        cv2.exp(limit, dst=limit)
        # 1 - k + p * exp(...) + (k / R) * s, then times m.
        cv2.addWeighted(limit, self.config.p, deviation, k / r, 1.0 - k, dst=limit)
        cv2.multiply(limit, mean, dst=limit)
        return limit
