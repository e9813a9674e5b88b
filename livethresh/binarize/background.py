"""Background division with hysteresis: ink is what is darker than the paper around it.

The paper is estimated as in Lu, Su and Tan's background estimation (DIBCO 2009): a gray
closing (a max filter, then a min filter, ``block_size`` square) removes every dark stroke
narrower than the window and keeps what is wider, the shading, shadows and stains; a box filter
of the same side smooths it. Dividing the frame by that paper, ``n = gray / paper``, leaves ink
near a level ``rho`` and paper near 1 whatever the light, so one page-wide rule fits every part
of the frame:

- ``rho`` is the mean of Otsu's dark class of ``n`` (a statistic of the whole frame: each band
  gathers the histogram of its own rows and the Binarizer merges them; :func:`ink_level`);
- a pixel is candidate ink when ``n <= rho + k * (1 - rho)``, ``k`` of the way from the ink's
  level to the paper's (0.5: halfway, where a blurred stroke edge sits);
- a connected piece of candidate ink is kept only when it holds a core pixel as dark as the
  ink's level, ``n <= rho + CORE * (1 - rho)``: show-through, stains, grain and noise specks
  are lighter than ink everywhere, a stroke is not. This hysteresis joins pieces across bands,
  so it runs once over the whole mask after them (:class:`Hysteresis`).

Otsu splits any histogram, also one of noise alone: :func:`ink_level` also reads the histogram
of the pre-blurred frame over the paper, where noise averages away and strokes stay, to find a
frame without ink (all paper) and a few strokes under strong noise.

What it cannot do: a stroke fainter than the page's typical ink over its whole length is
dropped with the stains; under noise heavier than about sigma 16 a blank frame comes out
speckled, and a few faint words come out empty. With ``auto_scale`` the window is 2 stroke
widths (:data:`Background.window_per_stroke`): wider than any stroke, narrow enough to follow
a shadow. The measurements behind ``k``, ``CORE``, the window and the smoothed histogram's
lines are in ``docs/document-methods.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from livethresh.binarize.components import Components
from livethresh.binarize.registry import Frame, InBands, Method
from livethresh.binarize.su import otsu_level

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

#: How far from the ink's level to the paper's a core pixel may be (0: at least as dark as the
#: page's mean ink). 0.05 keeps strokes a little fainter than the mean; 0.15 let PR2's
#: show-through back in (worst real page 84.4).
CORE = 0.05
#: Pre-blur of the frame the paper is estimated on: a closing of raw noise is biased bright.
PRE_BLUR = (3, 3)
#: Levels in the mask between the bands and the hysteresis: candidate ink, and its core.
CANDIDATE, CORE_LEVEL = 128, 255
#: Otsu's classes of pixel noise alone are 1 to 3.9 of the bright class's spread apart in the
#: smoothed histogram, and up to 4.8 in the raw one (white, camera-like and JPEG noise of sigma
#: 1 to 24); real printed pages' 7.4 and more in both, synthetic pages' 7.5, papyrus-like
#: pages' 3.8 to 5.5 (``docs/document-methods.md``).
NOISE_APART = 5.0
#: A frame whose smoothed classes are this close (in levels of ``n``) and noise-like holds no
#: ink: a board's noise of sigma 16 (white) or 12 (camera-like) is at most 14 deep, a page of
#: 10% contrast under noise of sigma 16 is 16, papyrus-like pages are 41 and more.
BLANK_DEPTH = 15.0
#: On video, a frame after one without ink is without ink up to this many times the depth: the
#: depth of a blank board's noise varies by about a level from frame to frame.
STILL_BLANK = 1.25
#: The ink level of a frame without ink, which has no candidate pixel.
NO_INK = -1.0


@dataclass(frozen=True)
class Split:
    """Otsu's two classes of a histogram of ``n``: the dark one's mean, and how far apart."""

    ink: float  # the dark class's mean level
    depth: float  # the bright class's mean minus the dark one's
    apart: float  # depth in units of the bright class's spread (at least 1 level)

    @classmethod
    def of(cls, histogram: np.ndarray) -> Split:
        split = otsu_level(histogram) + 1
        levels = np.arange(256, dtype=np.float64)
        dark, bright = histogram[:split], histogram[split:]
        if not dark.sum() or not bright.sum():
            return cls(float(levels @ histogram) / max(float(histogram.sum()), 1.0), 0.0, 0.0)
        ink = float(dark @ levels[:split]) / float(dark.sum())
        paper = float(bright @ levels[split:]) / float(bright.sum())
        spread = math.sqrt(float(bright @ (levels[split:] - paper) ** 2) / float(bright.sum()))
        return cls(ink, paper - ink, (paper - ink) / max(spread, 1.0))


def ink_level(raw: np.ndarray, smoothed: np.ndarray, was_blank: bool = False) -> float:
    """The mean level of the ink in ``n``, or :data:`NO_INK`, from two 256-bin histograms.

    ``raw`` is of ``n`` itself, ``smoothed`` of ``n`` after the 3x3 pre-blur. Otsu splits any
    histogram, also one of noise alone; the pre-blur tells them apart, because it averages
    pixel noise away and keeps strokes:

    - Otsu's classes of the smoothed histogram as close as noise's (:data:`NOISE_APART`) and
      shallow (:data:`BLANK_DEPTH`; :data:`STILL_BLANK` times that when the previous frame of
      a video was without ink, so that noise near the line does not flash the frame between
      empty and specks): a frame without ink, a blank page or board. Faint pages are far
      apart, papyrus-like pages with stains deep.
    - Noise-like in ``n`` but twice as far apart once smoothed: a few strokes under strong
      noise. The smoothed frame's dark class is the ink's level; the raw one's is the noise's.
    - Otherwise: the mean of Otsu's dark class of ``n``. (A deeper search for a darker class,
      without the smoothed frame's word, took a papyrus-like page's stains for its ink.)
    """
    of_raw, of_smoothed = Split.of(raw), Split.of(smoothed)
    blank_depth = BLANK_DEPTH * (STILL_BLANK if was_blank else 1.0)
    if of_smoothed.apart < NOISE_APART and of_smoothed.depth < blank_depth:
        return NO_INK
    if of_raw.apart < NOISE_APART and of_smoothed.apart >= 2 * of_raw.apart:
        return of_smoothed.ink
    return of_raw.ink


class Background(Method):
    name = "background"
    description = (
        "ink darker than k of the way from the page's ink to the paper estimated around it, "
        "in strokes with a dark core (background division, hysteresis)"
    )
    settings = ("block_size", "k")
    defaults: ClassVar[dict[str, float]] = {"k": 0.5}
    gathers = True
    window_per_stroke = 2.0
    min_window = 7

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        side = config.block_size
        self.kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
        self.ksize = (side, side)
        self.k = self.effective(config, "k")
        # Band-sized: the pre-blurred frame, the closing's second half (then the smoothed n,
        # then the core marks), the paper, and the normalized frame n as 255 * gray / paper.
        self.blurred = np.empty(shape, np.uint8)
        self.scratch = np.empty(shape, np.uint8)
        self.paper = np.empty(shape, np.uint8)
        self.normalized = np.empty(shape, np.uint8)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        # The pre-blur's row, then the max filter's, the min filter's and the box's halves.
        return PRE_BLUR[0] // 2 + 3 * (config.block_size // 2)

    @classmethod
    def frame_pass(cls, config: ThresholdConfig, shape: tuple[int, int]) -> Hysteresis:
        return Hysteresis(shape, config.invert)

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """The band's normalized frame (kept for :meth:`apply`), and its own rows' histograms
        of ``n`` and of the pre-blurred frame over the paper."""
        replicate = cv2.BORDER_REPLICATE
        cv2.blur(src, PRE_BLUR, dst=self.blurred, borderType=replicate)
        cv2.dilate(self.blurred, self.kernel, dst=self.paper, borderType=replicate)
        cv2.erode(self.paper, self.kernel, dst=self.scratch, borderType=replicate)
        cv2.blur(self.scratch, self.ksize, dst=self.paper, borderType=replicate)
        cv2.divide(src, self.paper, dst=self.normalized, scale=255.0)
        own = slice(first_row, first_row + rows)
        smoothed = self.scratch[own]
        cv2.divide(self.blurred[own], self.paper[own], dst=smoothed, scale=255.0)
        histograms = (
            cv2.calcHist([self.normalized[own]], [0], None, [256], [0, 256]),
            cv2.calcHist([smoothed], [0], None, [256], [0, 256]),
        )
        return tuple(float(v) for v in np.concatenate(histograms).ravel())

    @staticmethod
    def merge(
        parts: list[tuple[float, ...]], previous: tuple[float, ...] = ()
    ) -> tuple[float, ...]:
        """The ink's level ``rho`` of ``n`` (8-bit), from the whole frame's histograms; after a
        frame without ink, the next one is without ink up to a deeper line."""
        raw_and_smoothed = np.sum(parts, axis=0)
        was_blank = previous == (NO_INK,)
        return (ink_level(raw_and_smoothed[:256], raw_and_smoothed[256:], was_blank),)

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        """Mark the band's rows: candidate ink 128, its core 255, the rest 0."""
        (ink,) = self.frame_statistics
        if ink == NO_INK:
            out.fill(0)
            return
        candidate = math.floor(ink + self.k * (255.0 - ink))
        # A core is a candidate too, also when k is set below CORE.
        core = min(candidate, math.floor(ink + CORE * (255.0 - ink)))
        own = self.normalized[first_row : first_row + out.shape[0]]
        marks = self.scratch[: out.shape[0]]
        # THRESH_BINARY_INV: the value where n <= level, 0 above.
        cv2.threshold(own, candidate, CANDIDATE, cv2.THRESH_BINARY_INV, dst=out)
        cv2.threshold(own, core, CORE_LEVEL - CANDIDATE, cv2.THRESH_BINARY_INV, dst=marks)
        cv2.add(out, marks, dst=out)


class Hysteresis:
    """Keeps the candidate strokes that hold a core, over the whole mask, in place.

    Takes the marks of :meth:`Background.apply` (0, candidate 128, core 255) and leaves a mask
    of 0 and 255: ink is 255 if ``invert``, else 0. Only the labelling sees the whole frame;
    counting the cores and writing the mask run in the Binarizer's bands.
    """

    def __init__(self, shape: tuple[int, int], invert: bool) -> None:
        self.components = Components(shape)
        self.core = np.empty(shape, np.uint8)
        self.invert = invert

    def __call__(self, marks: Frame, in_bands: InBands) -> None:
        labels, count = self.components.label(marks)

        def cores_in(start: int, stop: int) -> np.ndarray:
            rows = slice(start, stop)
            # The cores are the 255 marks (a threshold: a compare with a Python number reads a
            # 1x1 frame as an array of the wrong size).
            cv2.threshold(marks[rows], CORE_LEVEL - 1, 255, cv2.THRESH_BINARY, dst=self.core[rows])
            return self.components.count(labels, count, self.core, rows)

        cores = np.sum(in_bands(cores_in), axis=0)
        table = self.components.table(cores > 0)
        table[0] = 0  # label 0 is the paper
        every_one = bool(table[1:].all())  # every candidate has a core: nothing to look up

        def write(start: int, stop: int) -> None:
            rows = slice(start, stop)
            if every_one:
                cv2.threshold(marks[rows], 0, 255, cv2.THRESH_BINARY, dst=marks[rows])
            else:
                self.components.lookup(table, labels[rows], marks[rows])
            if not self.invert:
                cv2.bitwise_not(marks[rows], dst=marks[rows])

        in_bands(write)
