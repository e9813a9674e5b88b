"""Su, Lu and Tan's method (2010): a threshold from the stroke edges around each pixel.

The local contrast ``(max - min) / (max + min + eps)`` over a 3x3 window is high on stroke edges
whatever the light, because it divides by the local brightness. Otsu's threshold on the whole
frame's contrast picks the edge pixels. A pixel is text when at least ``min_edges`` edge pixels
lie in its ``block_size`` window and it is no brighter than their mean plus ``k`` times their
standard deviation (the paper's ``k`` is 1/2).

Everything is built from frame-sized passes that cost the same whatever the window: 3x3 max
and min filters (``cv2.dilate``/``cv2.erode``); the contrast in float32, whose floor equals the
float64 formula's for every one of the 65536 (max, min) pairs (a test checks all of them); box
sums (``cv2.boxFilter``/``cv2.sqrBoxFilter`` without normalisation) of the edge count, the edge
pixels' gray levels and their squares. Otsu's threshold on the contrast is the only statistic
of the whole frame: each band gathers the histogram of its own rows' contrast and the Binarizer
merges them, so bands still run in parallel and the result is identical to a whole-frame run.

Conventions, as in DoxaPy's ``SU`` (checked in ``tests/test_su.py``): the contrast image is
``floor(255 * (max - min) / (max + min + 0.0001))`` on 8 bits; edges are contrast strictly above
Otsu's threshold; the window is shrunk at the frame's edges (box sums with a zero border count
only the pixels inside); ``min_edges`` defaults to the window's side. DoxaPy 0.9.2's standard
deviation is always 0 (its formula subtracts the mean from itself); ``k = 0`` reproduces it
exactly, the default ``k = 0.5`` is the paper's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from livethresh.binarize.document import CHUNK_ROWS, STRIP_ROWS, LocalStatistics
from livethresh.binarize.registry import Frame, Method

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

#: The paper's epsilon, keeping the contrast of a black neighbourhood finite.
EPSILON = 0.0001


def contrast_image(high: Frame, low: Frame, spread: Frame, level: Frame, contrast: Frame) -> None:
    """Write ``floor(255 * (high - low) / (high + low + EPSILON))`` into ``contrast``.

    ``spread`` and ``level`` are float32 scratch of the same shape. The floor is a rounding
    of ``x - 0.5``: the contrast is never an exact half-integer, so ties cannot occur.
    """
    cv2.subtract(high, low, dst=spread, dtype=cv2.CV_32F)
    cv2.addWeighted(high, 1.0, low, 1.0, EPSILON, dst=level, dtype=cv2.CV_32F)
    cv2.divide(spread, level, dst=spread, scale=255.0)
    cv2.convertScaleAbs(spread, contrast, 1.0, -0.5)


def otsu_level(histogram: np.ndarray) -> int:
    """Otsu's threshold of a 256-bin histogram, as ``cv2.threshold(..., THRESH_OTSU)`` picks it.

    Bins above the returned level are the upper class. The first level of largest
    between-class variance wins, as in OpenCV.
    """
    counts = histogram.astype(np.float64).ravel()
    total = counts.sum()
    if total == 0:
        return 0
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(counts) / total  # probability of the lower class, levels 0..i
    first_moment = np.cumsum(counts * levels) / total
    mean = first_moment[-1]
    upper = 1.0 - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean * weight - first_moment) ** 2 / (weight * upper)
    eps = np.finfo(np.float64).eps
    between[(np.minimum(weight, upper) < eps) | (np.maximum(weight, upper) > 1.0 - eps)] = 0.0
    return int(np.argmax(between))


class Su(Method):
    name = "su"
    description = (
        "text where >= N edge pixels surround it and it is <= their mean + k * deviation "
        "(Su-Lu-Tan)"
    )
    settings = ("block_size", "k", "min_edges")
    defaults: ClassVar[dict[str, float]] = {"k": 0.5}
    #: Otsu's threshold on the contrast is a statistic of the whole frame.
    gathers = True

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        self.ksize = (config.block_size, config.block_size)
        self.context = self.context_rows(config)
        self.k = self.effective(config, "k")
        self.min_edges = config.min_edges or config.block_size
        self.kernel = np.ones((3, 3), np.uint8)
        # Band-sized: the 3x3 extremes, the contrast's numerator and denominator, the 8-bit
        # contrast, the edges (255) and the gray level of the edge pixels (0 elsewhere).
        self.high = np.empty(shape, np.uint8)
        self.low = np.empty(shape, np.uint8)
        self.spread = np.empty(shape, np.float32)
        self.level = np.empty(shape, np.float32)
        self.contrast = np.empty(shape, np.uint8)
        self.edges = np.empty(shape, np.uint8)
        self.edge_gray = np.empty(shape, np.uint8)
        # Chunk-sized box sums and strip-sized float arithmetic, as in the document methods.
        self.chunk_rows = min(shape[0], max(CHUNK_ROWS, 8 * self.context))
        chunk = (min(shape[0], self.chunk_rows + 2 * self.context), shape[1])
        self.count = np.empty(chunk, np.float32)
        self.sums = np.empty(chunk, np.float32)
        self.squares = np.empty(chunk, np.float32)
        strip = (min(STRIP_ROWS, self.chunk_rows), shape[1])
        self.limit = np.empty(strip, np.float32)
        self.pixels = np.empty(strip, np.float32)
        self.gate = np.empty(strip, np.uint8)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        # The window's half, plus the row the 3x3 contrast of its outermost row reads.
        return config.block_size // 2 + 1

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """The band's contrast image (kept for :meth:`apply`) and its own rows' histogram."""
        # Extremes at the frame's edges use the pixels inside (a replicated edge changes
        # neither the max nor the min). Band-sized: the 3x3 extremes, the contrast's
        # numerator and denominator, the 8-bit contrast.
        cv2.dilate(src, self.kernel, dst=self.high, borderType=cv2.BORDER_REPLICATE)
        cv2.erode(src, self.kernel, dst=self.low, borderType=cv2.BORDER_REPLICATE)
        contrast_image(self.high, self.low, self.spread, self.level, self.contrast)
        own = self.contrast[first_row : first_row + rows]
        histogram = cv2.calcHist([own], [0], None, [256], [0, 256])
        return tuple(float(v) for v in histogram.ravel())

    @staticmethod
    def merge(
        parts: list[tuple[float, ...]], previous: tuple[float, ...] = ()
    ) -> tuple[float, ...]:
        return (float(otsu_level(np.sum(parts, axis=0))),)

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        (level,) = self.frame_statistics
        cv2.threshold(self.contrast, level, 255, cv2.THRESH_BINARY, dst=self.edges)
        cv2.bitwise_and(src, self.edges, dst=self.edge_gray)
        stop_row = first_row + out.shape[0]
        for start in range(first_row, stop_row, self.chunk_rows):
            stop = min(stop_row, start + self.chunk_rows)
            top, bottom = max(0, start - self.context), min(src.shape[0], stop + self.context)
            self.box_sums(top, bottom)
            for strip in range(start, stop, STRIP_ROWS):
                end = min(stop, strip + STRIP_ROWS)
                self.decide(
                    src[strip:end],
                    slice(strip - top, end - top),
                    out[strip - first_row : end - first_row],
                )

    def box_sums(self, top: int, bottom: int) -> None:
        """Window sums over rows ``top:bottom`` of the edges (255 each), their gray, its square.

        A zero border counts only the pixels inside the frame: the shrunk window of DoxaPy.
        Gray sums are exact in float32 up to a 256-pixel window; squares round like the
        document methods' variance.
        """
        rows = slice(0, bottom - top)
        for source, total, square in (
            (self.edges, self.count, False),
            (self.edge_gray, self.sums, False),
            (self.edge_gray, self.squares, True),
        ):
            box = cv2.sqrBoxFilter if square else cv2.boxFilter
            box(
                source[top:bottom],
                cv2.CV_32F,
                self.ksize,
                dst=total[rows],
                normalize=False,
                borderType=cv2.BORDER_CONSTANT,
            )

    def decide(self, gray: Frame, rows: slice, out: Frame) -> None:
        """Write the mask of one strip: text (0) where the edge statistics say so."""
        count, sums, squares = self.count[rows], self.sums[rows], self.squares[rows]
        n = gray.shape[0]
        limit, pixels, gate = self.limit[:n], self.pixels[:n], self.gate[:n]
        # Edges count 255 each: at least min_edges of them <=> count >= 255 * min_edges. In
        # numpy, because OpenCV reads a 1x1 array beside a number as two scalars; the gate's
        # True (1) becomes 255 by negation.
        np.greater_equal(count, 255.0 * self.min_edges - 0.5, out=gate.view(np.bool_))
        np.negative(gate, out=gate)
        np.maximum(count, 255.0, out=count)  # no division by zero
        # mean = sums / edges = 255 * sums / count; the same for the mean of squares.
        cv2.divide(sums, count, dst=limit, scale=255.0)
        cv2.divide(squares, count, dst=squares, scale=255.0)
        LocalStatistics.deviation_from_squares(limit, squares, pixels)
        cv2.scaleAdd(squares, self.k, limit, dst=limit)
        np.copyto(pixels, gray)
        # Text: enough edges and gray <= T. Paper is 255 unless inverted.
        cv2.compare(pixels, limit, cv2.CMP_LE, dst=out)
        cv2.bitwise_and(out, gate, dst=out)
        if not self.config.invert:
            cv2.bitwise_not(out, dst=out)
