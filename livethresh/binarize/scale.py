"""Automatic scale: the text's stroke width, measured on a mask, sets the window and speck size.

The stroke width is twice the median distance-transform value on the ridge of the ink (pixels
no nearer the paper than any neighbour): the half-width at the middle of each stroke. The
median comes from a histogram of those values (``cv2.calcHist`` with the ridge as its mask), so
the estimate costs a few frame-sized passes and no sort.

From it, ``window = 5 x stroke width`` (odd, 15 to 255; a method may ask for another factor and
smallest window, as ``background``'s closing does) and the despeckle area is a quarter of a
stroke's square. With Wolf's rule, the four DIBCO 2011 tuning pages score best with 6 to 8
stroke widths (mean F 91.9-92.4) and the synthetic degraded pages, whose text is small and
thin, with 3 to 4 (94.0-94.4); 5 is where the two plateaus meet (91.4 and 93.4), and areas of
0.25 to 0.5 stroke squares were within 0.3 points of each other (``benchmarks/evaluate.py``).

The first estimate comes from an Otsu mask, which has no window and so follows the page's
scale, cleaned by a 3x3 opening: where uneven light falls to Otsu's threshold, sensor noise
turns the paper into salt and pepper, which measured as 1-2 px strokes (the four real pages
under a light falling to 45%, or a shadow, with noise sigma 6: the ``document`` preset's mean F
80.4 without the opening and a smallest window of 3, 89.1 with it and 7; 0.1 point less on the
clean pages, none on the synthetic ones). Text with strokes under 3 px is measured from the
first mask of its own.
On video, :class:`ScaleTracker` re-estimates from the binarized mask itself every
:data:`PERIOD` frames, smooths the estimates, and moves the window only when the smoothed stroke
width has drifted by more than :data:`HYSTERESIS`, so the mask does not pump. Until one of those
masks shows ink, the first estimate is a guess, taken again every :data:`PERIOD` frames: a
camera that starts on an empty board would otherwise keep the window of the board's noise.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from livethresh.binarize.registry import Frame, Method

#: Window side per stroke width, and the smallest automatic window: the defaults of every
#: method (:class:`~livethresh.binarize.registry.Method`), which a method may change.
WINDOW_PER_STROKE, MIN_WINDOW = Method.window_per_stroke, Method.min_window
#: The largest automatic window.
MAX_WINDOW = 255
#: Despeckle area, in squared stroke widths, of ``despeckle = "auto"``.
SPECK_PER_STROKE_SQUARED = 0.25
#: Distances measured (pixels) and histogram bins: quarter-pixel steps up to 64 px half-widths.
MAX_DISTANCE, BINS = 64.0, 256
#: Largest share of the frame that ink may cover for its stroke width to be measured.
MAX_INK = 0.5
#: On video: frames between estimates, weight of a new estimate, and the relative drift of the
#: smoothed stroke width that moves the window.
PERIOD = 15
SMOOTHING = 0.3
HYSTERESIS = 0.15
#: Side of the opening that cleans the first, Otsu, mask before it is measured.
FIRST_OPENING = 3


def window_for(
    stroke: float, per_stroke: float = WINDOW_PER_STROKE, smallest: int = MIN_WINDOW
) -> int:
    """The odd window side for a stroke width, within ``smallest..MAX_WINDOW``."""
    side = round(per_stroke * stroke) | 1
    return max(smallest, min(MAX_WINDOW, side))


def speck_area(stroke: float) -> float:
    """The despeckle area (pixels) of ``despeckle = "auto"`` for a stroke width."""
    return SPECK_PER_STROKE_SQUARED * stroke * stroke


def stroke_of_window(window: int, per_stroke: float = WINDOW_PER_STROKE) -> float:
    """The stroke width a fixed window stands for (the inverse of :func:`window_for`)."""
    return window / per_stroke


def despeckle_area(
    setting: int | str,
    scale: AutoScale | None,
    block_size: int,
    per_stroke: float = WINDOW_PER_STROKE,
) -> float:
    """The despeckle area in pixels: the ``despeckle`` setting's, or for ``"auto"`` the speck
    area of the measured stroke width (of the one a fixed window stands for, without a scale;
    ``per_stroke`` is the method's window per stroke width)."""
    if setting != "auto":
        return float(setting)
    return speck_area(scale.stroke if scale else stroke_of_window(block_size, per_stroke))


class StrokeWidth:
    """Measures the median stroke width of ink masks of one shape, with preallocated buffers."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.distance = np.empty(shape, np.float32)
        self.peaks = np.empty(shape, np.float32)
        self.ridge = np.empty(shape, np.uint8)
        self.kernel = np.ones((3, 3), np.uint8)

    def __call__(self, ink: Frame) -> float | None:
        """The median stroke width in pixels of ``ink`` (255 = ink).

        Returns:
            None when there is no ink, or when ink covers more than :data:`MAX_INK` of the
            frame: that is no text (a blank, flat frame comes out all ink from Wolf's rule).
        """
        if not 0 < cv2.countNonZero(ink) <= MAX_INK * ink.size:
            return None
        cv2.distanceTransform(ink, cv2.DIST_L2, cv2.DIST_MASK_3, dst=self.distance)
        cv2.dilate(self.distance, self.kernel, dst=self.peaks)
        cv2.compare(self.distance, self.peaks, cv2.CMP_GE, dst=self.ridge)
        cv2.bitwise_and(self.ridge, ink, dst=self.ridge)
        histogram = cv2.calcHist([self.distance], [0], self.ridge, [BINS], [0, MAX_DISTANCE])
        cumulative = np.cumsum(histogram.ravel())
        if cumulative[-1] == 0:
            return None
        median_bin = int(np.searchsorted(cumulative, cumulative[-1] / 2))
        return 2.0 * (median_bin + 0.5) * MAX_DISTANCE / BINS


class ScaleTracker:
    """The stroke width of a video, smoothed over time, and whether the window must move.

    The first frame's estimate is taken as is; later estimates (one every :data:`PERIOD`
    frames) enter an exponential average. The committed stroke width, from which the window
    and speck area are derived, moves to the average only when the two differ by more than
    :data:`HYSTERESIS`: noise in the estimate never reaches the mask.

    A first estimate is only a guess until a frame's own mask shows ink (:attr:`confirmed`):
    a camera that starts on an empty board measures its noise, and a window kept from that
    noise would make the strokes written later too wide for it, and their own masks measure
    them too thin, for good. Until then the guess is taken again every :data:`PERIOD` frames.
    """

    def __init__(self) -> None:
        self.smoothed: float | None = None
        self.stroke: float | None = None
        self.frames = 0
        self.confirmed = False

    def wants_seed(self) -> bool:
        """Whether the next frame should be measured afresh (nothing yet, or a guess not
        borne out by an own mask, once a period)."""
        return self.stroke is None or (not self.confirmed and self.frames % PERIOD == 0)

    def seed(self, estimate: float | None) -> bool:
        """Take a first estimate as is, when one is wanted. Returns whether taken."""
        if estimate is None or not self.wants_seed() or estimate == self.stroke:
            return False
        self.smoothed = self.stroke = estimate
        return True

    def observe(self, measure: Callable[[], float | None]) -> bool:
        """Count one frame, measuring it with ``measure`` when due. Returns whether
        :attr:`stroke` moved (then the window and the speck area follow it).

        ``measure`` runs on the first frame, until some ink is seen, then every
        :data:`PERIOD`-th frame; it returns None when the frame holds no ink.
        """
        due = self.stroke is None or self.frames % PERIOD == 0
        self.frames += 1
        estimate = measure() if due else None
        if estimate is None:
            return False
        self.confirmed = True
        if self.smoothed is None:
            self.smoothed = estimate
        else:
            self.smoothed += SMOOTHING * (estimate - self.smoothed)
        if self.stroke is not None and abs(self.smoothed - self.stroke) <= HYSTERESIS * self.stroke:
            return False
        self.stroke = self.smoothed
        return True


class AutoScale:
    """The window and speck area of one :class:`~livethresh.binarize.Binarizer` with
    ``auto_scale``: a first estimate from Otsu's mask, then from the binarizer's own masks.

    Args:
        shape: ``(height, width)`` of the frames.
        invert: Whether masks hold ink as 255 (else 0).
        fallback: The window while no ink has been seen (the config's ``block_size``).
        per_stroke: The method's window in stroke widths.
        smallest: The method's smallest window.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        invert: bool,
        fallback: int,
        per_stroke: float = WINDOW_PER_STROKE,
        smallest: int = MIN_WINDOW,
    ) -> None:
        self.measure = StrokeWidth(shape)
        self.tracker = ScaleTracker()
        self.ink = np.empty(shape, np.uint8)
        self.first = np.empty(shape, np.uint8)
        self.opening = np.ones((FIRST_OPENING, FIRST_OPENING), np.uint8)
        self.invert = invert
        self.fallback = fallback
        self.per_stroke, self.smallest = per_stroke, smallest

    def reset(self) -> None:
        """Forget the measures: the next frame is measured as a first one."""
        self.tracker = ScaleTracker()

    @property
    def stroke(self) -> float:
        """The committed stroke width (the fallback window's, before any ink was seen)."""
        return self.tracker.stroke or stroke_of_window(self.fallback, self.per_stroke)

    @property
    def window(self) -> int:
        """The window for the next frame."""
        stroke = self.tracker.stroke
        return window_for(stroke, self.per_stroke, self.smallest) if stroke else self.fallback

    def start(self, gray: Frame) -> bool:
        """Before a frame is binarized: measure an Otsu mask if nothing was measured yet, or
        if no mask of the binarizer's own has shown ink since (:class:`ScaleTracker`).

        Returns:
            Whether the window may have changed.
        """
        if not self.tracker.wants_seed():
            return False
        cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU, dst=self.first)
        cv2.morphologyEx(self.first, cv2.MORPH_OPEN, self.opening, dst=self.ink)
        return self.tracker.seed(self.measure(self.ink))

    def observe(self, mask: Frame) -> bool:
        """After a frame is binarized: count it, and measure its mask when due.

        Returns:
            Whether the window may have changed (it applies from the next frame).
        """
        return self.tracker.observe(lambda: self.measure(self.ink_of(mask)))

    def ink_of(self, mask: Frame) -> Frame:
        """The ink of a mask as 255."""
        if self.invert:
            return mask
        cv2.bitwise_not(mask, dst=self.ink)
        return self.ink
