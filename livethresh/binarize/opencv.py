"""The seed article's methods, bit-exact with OpenCV: fixed, otsu, mean and gaussian.

Output is bit-exact with ``cv2.threshold`` (fixed, otsu) and ``cv2.adaptiveThreshold`` (mean,
gaussian). It is faster because it avoids the work OpenCV repeats on every call (frame-sized
float temporaries, a scalar lookup-table pass).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from livethresh.binarize.registry import Frame, Method

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig


def _binary_type(invert: bool) -> int:
    return cv2.THRESH_BINARY_INV if invert else cv2.THRESH_BINARY


class Fixed(Method):
    name = "fixed"
    description = "global threshold at --threshold (cv2.threshold)"
    settings = ("threshold",)

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        rows = src[first_row : first_row + out.shape[0]]
        cv2.threshold(rows, self.config.threshold, 255, _binary_type(self.config.invert), dst=out)

    @staticmethod
    def reference(blurred: Frame, config: ThresholdConfig) -> Frame:
        """The seed article's direct OpenCV call, which :meth:`apply` is bit-exact with."""
        return cv2.threshold(blurred, config.threshold, 255, _binary_type(config.invert))[1]


class Otsu(Method):
    name = "otsu"
    description = "global threshold chosen by Otsu's method (the article's baseline)"
    is_local = False

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        kind = _binary_type(self.config.invert) | cv2.THRESH_OTSU
        cv2.threshold(src, 0, 255, kind, dst=out)

    @staticmethod
    def reference(blurred: Frame, config: ThresholdConfig) -> Frame:
        """The seed article's direct OpenCV call, which :meth:`apply` is bit-exact with."""
        return cv2.threshold(blurred, 0, 255, _binary_type(config.invert) | cv2.THRESH_OTSU)[1]


def compare_with_local_mean(src: Frame, mean: Frame, out: Frame, c: float, invert: bool) -> None:
    """Write OpenCV's adaptive-threshold decision for pixels ``src`` against local ``mean``.

    OpenCV keeps a pixel when ``src - mean > -ceil(c)`` (``<= -floor(c)`` when inverted) and
    evaluates it through a scalar lookup table. The same decision is made here with two SIMD
    calls on uint8: a saturating subtraction and a threshold. Saturation is harmless because
    each branch compares against a bound that the clipped values cannot cross.
    """
    d = math.floor(c) if invert else math.ceil(c)
    if d > 0:
        # keep <=> mean - src < d; mean - src clipped at 0 is still < d.
        cv2.subtract(mean, src, dst=out)
        kind = cv2.THRESH_BINARY if invert else cv2.THRESH_BINARY_INV
        cv2.threshold(out, d - 1, 255, kind, dst=out)
    else:
        # keep <=> src - mean > -d >= 0; src - mean clipped at 0 is still not > -d.
        cv2.subtract(src, mean, dst=out)
        kind = cv2.THRESH_BINARY_INV if invert else cv2.THRESH_BINARY
        cv2.threshold(out, -d, 255, kind, dst=out)


class LocalMean(Method):
    """Base of the two OpenCV adaptive methods: a local mean, then the comparison."""

    settings = ("block_size", "c")
    #: The ``cv2.ADAPTIVE_THRESH_*`` flag of the seed article's call for this method.
    adaptive_method: ClassVar[int]

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        self.mean = np.empty(shape, np.uint8)
        self.ksize = (config.block_size, config.block_size)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        return config.block_size // 2

    @classmethod
    def reference(cls, blurred: Frame, config: ThresholdConfig) -> Frame:
        """The seed article's direct OpenCV call, which :meth:`apply` is bit-exact with."""
        return cv2.adaptiveThreshold(
            blurred,
            255,
            cls.adaptive_method,
            _binary_type(config.invert),
            config.block_size,
            config.c,
        )

    def local_mean(self, src: Frame) -> None:
        raise NotImplementedError

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        self.local_mean(src)
        rows = slice(first_row, first_row + out.shape[0])
        compare_with_local_mean(src[rows], self.mean[rows], out, self.config.c, self.config.invert)


class Mean(LocalMean):
    name = "mean"
    description = "pixel vs. mean of its block minus C (OpenCV's adaptive mean)"
    adaptive_method = cv2.ADAPTIVE_THRESH_MEAN_C

    def local_mean(self, src: Frame) -> None:
        cv2.boxFilter(
            src, -1, self.ksize, dst=self.mean, normalize=True, borderType=cv2.BORDER_REPLICATE
        )


class Gaussian(LocalMean):
    name = "gaussian"
    description = "pixel vs. Gaussian-weighted mean of its block minus C (OpenCV's adaptive)"
    adaptive_method = cv2.ADAPTIVE_THRESH_GAUSSIAN_C

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        # OpenCV blurs in float32 and rounds back; these are the temporaries it would allocate.
        self.as_float = np.empty(shape, np.float32)
        self.blurred_float = np.empty(shape, np.float32)

    def local_mean(self, src: Frame) -> None:
        np.copyto(self.as_float, src)
        cv2.GaussianBlur(
            self.as_float, self.ksize, 0, dst=self.blurred_float, borderType=cv2.BORDER_REPLICATE
        )
        # Rounds to nearest like Mat.convertTo; values are never negative, so abs is a no-op.
        cv2.convertScaleAbs(self.blurred_float, dst=self.mean)


def article_reference(gray: Frame, config: ThresholdConfig) -> Frame:
    """The seed article's pipeline for ``config``: ``cv2.GaussianBlur``, then the method's call.

    The ground truth of exactness for the four methods of this module (tests and benchmarks
    compare the :class:`~livethresh.binarize.Binarizer` with it).
    """
    blurred = cv2.GaussianBlur(gray, (config.blur, config.blur), 0) if config.blur else gray
    method = REFERENCE_METHODS[config.method]
    return method.reference(blurred, config)


#: The methods that have a direct OpenCV equivalent, by name.
REFERENCE_METHODS: dict[str, type[Fixed] | type[Otsu] | type[LocalMean]] = {
    cls.name: cls for cls in (Fixed, Otsu, Mean, Gaussian)
}
