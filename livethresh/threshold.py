"""Binarization kernels: pure functions of a gray frame, writing into preallocated buffers.

A :class:`Binarizer` is built once for a frame shape. It allocates every intermediate buffer up
front, so that binarizing a frame allocates nothing frame-sized. Each method is one small
:class:`Method` subclass in the registry below; adding a method touches this module only (plus
any new setting in ``config``).

Output is bit-exact with the direct OpenCV calls of the seed article:
``cv2.GaussianBlur(gray, (k, k), 0)`` then ``cv2.threshold`` (fixed, otsu) or
``cv2.adaptiveThreshold`` (mean, gaussian). It is faster because it avoids the work OpenCV
repeats on every call (frame-sized float temporaries, a scalar lookup-table pass) and because
local methods can split the frame into horizontal bands processed in parallel. A band carries
enough rows of context above and below that its rows come out identical to a whole-frame run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ClassVar, TypeVar

import cv2
import numpy as np

from livethresh.errors import FrameShapeError

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

Frame = np.ndarray
T = TypeVar("T")
#: Bands shorter than this are not worth a thread: splitting stops there.
MIN_BAND_ROWS = 64
#: Output rows per chunk of the document methods' box filters: a chunk's float32 mean and mean
#: of squares (280 rows of 1920 pixels at window 25, about 4 MB) stay in the caches until its
#: strips have read them.
CHUNK_ROWS = 256
#: Rows per strip of the document methods' float32 arithmetic within a chunk.
STRIP_ROWS = 64

_METHODS: dict[str, type[Method]] = {}

def register(cls: type[Method]) -> type[Method]:
    """Class decorator adding a method to the registry under ``cls.name``."""
    _METHODS[cls.name] = cls
    return cls

def available_methods() -> list[str]:
    """Names of every registered method, in registration order."""
    return list(_METHODS)

def method_descriptions() -> dict[str, str]:
    """One line per method, for help texts."""
    return {name: cls.description for name, cls in _METHODS.items()}

def method_defaults(setting: str) -> dict[str, float]:
    """Each method's own default for an optional ``setting`` (``k``, ``r``), by method name."""
    found: dict[str, float] = {}
    for name, cls in _METHODS.items():
        defaults: dict[str, float] = getattr(cls, "defaults", {})
        if setting in defaults:
            found[name] = defaults[setting]
    return found

class Method:
    """One way of turning a (pre-blurred) gray image into a mask.

    A method instance is sized for one band of the frame and owns that band's scratch buffers.
    ``apply`` may read the whole band but writes only the rows asked for, which are the band's
    own rows without the context margins.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    #: Whether the result at a pixel depends only on a neighbourhood (so the frame can be split
    #: into bands). Global methods such as Otsu see the whole frame at once.
    is_local: ClassVar[bool] = True
    #: Whether a local method also needs a few numbers about the whole frame (Wolf's darkest
    #: pixel and largest deviation). The Binarizer then calls :meth:`gather` on every band,
    #: folds the results with :meth:`merge`, stores them in ``frame_statistics`` of every band's
    #: method, and only then calls :meth:`apply`; so bands still run in parallel.
    gathers: ClassVar[bool] = False

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        self.config = config
        self.shape = shape
        self.frame_statistics: tuple[float, ...] = ()

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """Statistics of the band's own rows ``src[first_row:first_row + rows]``."""
        raise NotImplementedError

    @staticmethod
    def merge(parts: list[tuple[float, ...]]) -> tuple[float, ...]:
        """The frame's statistics from those of its bands."""
        raise NotImplementedError

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        """Rows of neighbourhood needed on each side of an output row."""
        return 0

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        """Write the mask of ``src[first_row:first_row + len(out)]`` into ``out``."""
        raise NotImplementedError

def _binary_type(invert: bool) -> int:
    return cv2.THRESH_BINARY_INV if invert else cv2.THRESH_BINARY

@register
class Fixed(Method):
    name = "fixed"
    description = "global threshold at --threshold (cv2.threshold)"

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        rows = src[first_row : first_row + out.shape[0]]
        cv2.threshold(rows, self.config.threshold, 255, _binary_type(self.config.invert), dst=out)

@register
class Otsu(Method):
    name = "otsu"
    description = "global threshold chosen by Otsu's method (the article's baseline)"
    is_local = False

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        kind = _binary_type(self.config.invert) | cv2.THRESH_OTSU
        cv2.threshold(src, 0, 255, kind, dst=out)

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

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        self.mean = np.empty(shape, np.uint8)
        self.ksize = (config.block_size, config.block_size)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        return config.block_size // 2

    def local_mean(self, src: Frame) -> None:
        raise NotImplementedError

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        self.local_mean(src)
        rows = slice(first_row, first_row + out.shape[0])
        compare_with_local_mean(src[rows], self.mean[rows], out, self.config.c, self.config.invert)

@register
class Mean(LocalMean):
    name = "mean"
    description = "pixel vs. mean of its block minus C (ADAPTIVE_THRESH_MEAN_C)"

    def local_mean(self, src: Frame) -> None:
        cv2.boxFilter(
            src, -1, self.ksize, dst=self.mean, normalize=True, borderType=cv2.BORDER_REPLICATE
        )

@register
class Gaussian(LocalMean):
    name = "gaussian"
    description = (
        "pixel vs. Gaussian-weighted mean of its block minus C (ADAPTIVE_THRESH_GAUSSIAN_C)"
    )

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
        value = getattr(self.config, name)
        return float(self.defaults[name] if value is None else value)

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
                    src[top:bottom], cv2.CV_32F, self.ksize, dst=self.squares[: bottom - top],
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


@register
class Sauvola(LocalStatistics):
    name = "sauvola"
    description = "T = m * (1 + k * (s / R - 1)) over the window (Sauvola-Pietikainen)"
    defaults: ClassVar[dict[str, float]] = {"k": 0.1, "r": 128.0}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        k, r = self.setting("k"), self.setting("r")
        self.deviation_from_squares(mean, deviation, limit)
        cv2.multiply(mean, deviation, dst=limit, scale=k / r)
        cv2.scaleAdd(mean, 1.0 - k, limit, dst=limit)
        return limit


@register
class Niblack(LocalStatistics):
    name = "niblack"
    description = "T = m + k * s over the window (Niblack; k < 0 for dark text)"
    defaults: ClassVar[dict[str, float]] = {"k": -0.8}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        self.deviation_from_squares(mean, deviation, limit)
        cv2.scaleAdd(deviation, self.setting("k"), mean, dst=limit)
        return limit


@register
class Nick(LocalStatistics):
    name = "nick"
    description = "T = m + k * sqrt(s^2 + m^2) over the window (NICK, Khurshid et al.)"
    defaults: ClassVar[dict[str, float]] = {"k": -0.1}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        # s^2 + m^2 is the mean of squares itself: no cancellation, never negative.
        cv2.sqrt(deviation, dst=deviation)
        cv2.scaleAdd(deviation, self.setting("k"), mean, dst=limit)
        return limit


@register
class Wolf(LocalStatistics):
    name = "wolf"
    description = (
        "T = m - k * (1 - s / R) * (m - M), M the frame's darkest pixel, R its largest s "
        "(Wolf-Jolion)"
    )
    #: R is not defaulted: unset, it is the frame's largest local deviation, as in the paper.
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
    def merge(parts: list[tuple[float, ...]]) -> tuple[float, ...]:
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
        # OpenCV takes a Python number as a scalar operand; its stubs allow only arrays.
        cv2.subtract(mean, darkest, dst=limit)  # type: ignore[call-overload]
        scale = k / spread if spread > 0 else 0.0
        cv2.addWeighted(deviation, scale, deviation, 0.0, -k, dst=deviation)
        cv2.accumulateProduct(limit, deviation, mean)
        return mean


@register
class Bradley(LocalStatistics):
    name = "bradley"
    description = "T = m * (1 - t / 100) over the window (Bradley-Roth, t in percent)"
    defaults: ClassVar[dict[str, float]] = {}
    uses_deviation = False

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        np.multiply(mean, 1.0 - self.config.t / 100.0, out=limit)
        return limit


@register
class Phansalkar(LocalStatistics):
    name = "phansalkar"
    description = "T = m * (1 + p * exp(-q * m) + k * (s / R - 1)), m in [0, 1] (Phansalkar et al.)"
    defaults: ClassVar[dict[str, float]] = {"k": 0.1, "r": 127.5}

    def surface(self, mean: Frame, deviation: Frame | None, limit: Frame) -> Frame:
        assert deviation is not None
        k, r = self.setting("k"), self.setting("r")
        self.deviation_from_squares(mean, deviation, limit)
        # The paper normalises gray to [0, 1]: exp(-q * m / 255) on 8-bit values.
        np.multiply(mean, -self.config.q / 255.0, out=limit)
        cv2.exp(limit, dst=limit)
        # 1 - k + p * exp(...) + (k / R) * s, then times m.
        cv2.addWeighted(limit, self.config.p, deviation, k / r, 1.0 - k, dst=limit)
        cv2.multiply(limit, mean, dst=limit)
        return limit


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
    (the video pipeline does this on a resolution change).

    Args:
        config: The threshold settings.
        shape: ``(height, width)`` of the frames.
        threads: How many bands of rows to process in parallel. 1 runs everything in the
            calling thread; more uses a small pool created here, once. Global methods (Otsu)
            share only the pre-blur between bands.

    Example:
        >>> with Binarizer(ThresholdConfig(), (1080, 1920), threads=2) as binarize:
        ...     mask = binarize(gray)
    """

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int], threads: int = 1) -> None:
        height, width = shape
        if height < 1 or width < 1:
            raise FrameShapeError(f"cannot binarize an empty frame of shape {shape}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.config = config
        self.shape = (int(height), int(width))
        method = _METHODS[config.method]
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
        self._pool = (
            ThreadPoolExecutor(len(self._bands) - 1, thread_name_prefix="livethresh-band")
            if len(self._bands) > 1
            else None
        )
        self.out = np.empty(self.shape, np.uint8)

    @property
    def threads(self) -> int:
        """Bands actually processed in parallel."""
        return len(self._bands)

    def __call__(self, gray: Frame, out: Frame | None = None) -> Frame:
        """Binarize one frame.

        Args:
            gray: uint8 frame of the binarizer's shape; rows may be strided (e.g. a luma plane
                with padding), pixels must be contiguous.
            out: Where to write the mask (uint8, C-contiguous, same shape). When None, the
                binarizer's own buffer ``self.out`` is used and overwritten by the next call.

        Returns:
            ``out`` (or ``self.out``), holding 0 and 255.

        Raises:
            FrameShapeError: ``gray`` or ``out`` does not have the expected shape or type.
        """
        self.check(gray, "frame")
        if out is None:
            out = self.out
        else:
            self.check(out, "out")
            if not out.flags.c_contiguous:
                raise FrameShapeError("out must be C-contiguous")
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

    def _each_band(self, work: Callable[[_Band], T]) -> list[T]:
        """Run ``work`` on every band: the first in this thread, the others in the pool.

        Returns:
            The results, in band order.
        """
        if self._pool is None:  # one band, or closed: run them all here
            return [work(band) for band in self._bands]
        pending = [self._pool.submit(work, band) for band in self._bands[1:]]
        first = work(self._bands[0])
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
        """Stop the band threads; later calls still work, in the calling thread. Idempotent."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Binarizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

def binarize(gray: Frame, config: ThresholdConfig | None = None, out: Frame | None = None) -> Frame:
    """Binarize one image. Convenient for stills; for video build a :class:`Binarizer` once."""
    from livethresh.config import ThresholdConfig

    with Binarizer(config or ThresholdConfig(), gray.shape[:2]) as run:
        result = run(gray, out)
        return result if out is not None else result.copy()

def reference(gray: Frame, config: ThresholdConfig) -> Frame:
    """The seed article's direct OpenCV calls for ``config``: the ground truth for exactness."""
    blurred = cv2.GaussianBlur(gray, (config.blur, config.blur), 0) if config.blur else gray
    kind = _binary_type(config.invert)
    if config.method == "fixed":
        return cv2.threshold(blurred, config.threshold, 255, kind)[1]
    if config.method == "otsu":
        return cv2.threshold(blurred, 0, 255, kind | cv2.THRESH_OTSU)[1]
    adaptive: dict[str, int] = {
        "mean": cv2.ADAPTIVE_THRESH_MEAN_C,
        "gaussian": cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
    }
    return cv2.adaptiveThreshold(
        blurred, 255, adaptive[config.method], kind, config.block_size, config.c
    )
