"""Binarization quality against a known ground truth: the DIBCO measures.

The measures compare a predicted text mask with the true one, both boolean with True = ink:

- **F-measure** (in percent): the harmonic mean of precision and recall of ink pixels.
- **PSNR** (dB): ``10 log10(1 / MSE)`` with ink and paper at distance 1, so MSE is the fraction
  of wrong pixels.
- **Flicker** (of video): the fraction of pixels whose mask differs from the previous frame's;
  on a still scene, all of it is noise.
- **DRD**, distance-reciprocal distortion (Lu, Kot and Shi, 2004): every wrong pixel costs the
  reciprocal-distance-weighted share of its 5x5 ground-truth neighbourhood that disagrees with
  it, and the sum is divided by the number of 8x8 ground-truth blocks that hold both ink and
  paper. Lower is better.

livethresh masks are 255 where a pixel is brighter than its threshold (paper), unless
``invert`` is set: :func:`ink_of` turns a mask into ink for either setting.

Real pages with ground truth are read from a folder by :func:`truth_pages`; the shared tuning
set (DIBCO 2011 printed, outside the repository) is found by :func:`tuning_pages_folder`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from livethresh.config import ThresholdConfig
from livethresh.errors import InputError


def _drd_weights(size: int = 5) -> np.ndarray:
    centre = size // 2
    yy, xx = np.mgrid[0:size, 0:size] - centre
    distance = np.hypot(yy, xx)
    weights = np.divide(1.0, distance, out=np.zeros((size, size)), where=distance > 0)
    return cast(np.ndarray, weights / weights.sum())


DRD_WEIGHTS = _drd_weights()
DRD_BLOCK = 8


@dataclass(frozen=True)
class Scores:
    """The three DIBCO measures of one mask (or their mean over many)."""

    f_measure: float
    psnr: float
    drd: float


def ink_of(mask: np.ndarray, config: ThresholdConfig) -> np.ndarray:
    """The ink (text) pixels of a livethresh mask made with ``config``."""
    return cast(np.ndarray, mask == 255 if config.invert else mask == 0)


def f_measure(ink: np.ndarray, truth: np.ndarray) -> float:
    """DIBCO F-measure in percent; 0 when nothing or the wrong thing is found."""
    hits = np.count_nonzero(ink & truth)
    if hits == 0:
        return 0.0
    precision = hits / np.count_nonzero(ink)
    recall = hits / np.count_nonzero(truth)
    return 100.0 * 2 * precision * recall / (precision + recall)


def psnr(ink: np.ndarray, truth: np.ndarray, cap: float = 100.0) -> float:
    """PSNR in dB with ink and paper one unit apart; a perfect mask scores ``cap``."""
    wrong = np.count_nonzero(ink != truth) / ink.size
    return cap if wrong == 0 else min(cap, 10.0 * math.log10(1.0 / wrong))


def drd(ink: np.ndarray, truth: np.ndarray) -> float:
    """Distance-reciprocal distortion; 0 for a perfect mask.

    A wrong pixel whose predicted value is ``b`` costs ``sum(W * |truth - b|)`` over its 5x5
    neighbourhood; with ``truth`` in {0, 1} that is the weighted ink share around it if
    ``b`` is paper, and the weighted paper share if ``b`` is ink. Neighbours outside the image
    cost nothing, as in Doxa, so this sum is Doxa's to the pixel.

    The divisor is the number of 8x8 ground-truth blocks that hold both ink and paper, a block
    cut by the image edge counting as if its missing pixels were paper. Doxa (0.9) divides by
    fewer blocks: it looks only at the top-left 7x7 pixels of each block and skips the cut ones,
    so its DRD reads about 10% higher on the same mask (3.48 against 3.05 for Otsu on PR1).
    """
    return drd_distortion(ink, truth) / max(nonuniform_blocks(truth), 1)


def drd_distortion(ink: np.ndarray, truth: np.ndarray) -> float:
    """The numerator of :func:`drd`: the summed cost of every wrong pixel."""
    weights = DRD_WEIGHTS.astype(np.float32)
    # Outside the image the constant border is paper for the ink share, and no weight at all
    # for the paper share: an absent neighbour never disagrees.
    ink_share = cv2.filter2D(truth.astype(np.float32), -1, weights, borderType=cv2.BORDER_CONSTANT)
    present = cv2.filter2D(
        np.ones(truth.shape, np.float32), -1, weights, borderType=cv2.BORDER_CONSTANT
    )
    wrong = ink != truth
    missed, extra = wrong & ~ink, wrong & ink
    return float(ink_share[missed].sum(dtype=np.float64)) + float(
        (present[extra] - ink_share[extra]).sum(dtype=np.float64)
    )


def nonuniform_blocks(truth: np.ndarray) -> int:
    """The denominator of :func:`drd`: 8x8 ground-truth blocks that hold both ink and paper."""
    height, width = truth.shape
    blocks_y, blocks_x = -(-height // DRD_BLOCK), -(-width // DRD_BLOCK)
    padded = np.zeros((blocks_y * DRD_BLOCK, blocks_x * DRD_BLOCK), np.int32)
    padded[:height, :width] = truth
    counts = padded.reshape(blocks_y, DRD_BLOCK, blocks_x, DRD_BLOCK).sum(axis=(1, 3))
    return int(np.count_nonzero((counts > 0) & (counts < DRD_BLOCK * DRD_BLOCK)))


def score(ink: np.ndarray, truth: np.ndarray) -> Scores:
    """All three measures of a predicted ink mask against the true one (both boolean)."""
    if ink.shape != truth.shape:
        raise ValueError(f"mask {ink.shape} and ground truth {truth.shape} differ in shape")
    return Scores(f_measure(ink, truth), psnr(ink, truth), drd(ink, truth))


def mean_scores(scores: list[Scores]) -> Scores:
    """The mean of each measure over several images."""
    if not scores:
        raise ValueError("no scores to average")
    return Scores(
        float(np.mean([s.f_measure for s in scores])),
        float(np.mean([s.psnr for s in scores])),
        float(np.mean([s.drd for s in scores])),
    )


def flicker(previous: np.ndarray, mask: np.ndarray) -> float:
    """The fraction of pixels (0 to 1) whose value differs between two consecutive masks."""
    return np.count_nonzero(previous != mask) / mask.size


def mean_flicker(masks: Iterable[np.ndarray]) -> float:
    """The mean :func:`flicker` over consecutive pairs of ``masks`` (0 for fewer than two)."""
    total, pairs = 0.0, 0
    previous: np.ndarray | None = None
    for mask in masks:
        if previous is not None:
            total += flicker(previous, mask)
            pairs += 1
        previous = mask.copy()
    return total / pairs if pairs else 0.0


#: Where the real tuning pages (DIBCO 2011 printed, with ground truth) are looked for: this
#: path under any folder above the repository (they are never copied into it).
TUNING_PAGES = Path("shared/data/dibco11-printed")
#: Ground-truth files are named like their page plus this suffix (DIBCO's convention).
TRUTH_SUFFIX = "_gt"
#: File types a page and its truth may have.
PAGE_SUFFIXES = frozenset({".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".pgm"})


@dataclass(frozen=True)
class TruthPage:
    """A real page and its ground truth: ``gray`` uint8, ``truth`` boolean with True = ink."""

    name: str
    gray: np.ndarray
    truth: np.ndarray


def tuning_pages_folder() -> Path | None:
    """The shared folder of real tuning pages, if one exists above the repository."""
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / TUNING_PAGES).is_dir():
            return parent / TUNING_PAGES
    return None


def truth_pages(folder: Path) -> list[TruthPage]:
    """Every page of ``folder`` that has a ground truth beside it (``PR1.png``, ``PR1_gt.png``).

    The page is read as gray like any input (:func:`livethresh.images.read_gray`); in the truth,
    dark (< 128) is ink. Pages are sorted by name.

    Raises:
        InputError: A page or truth cannot be read, or their sizes differ.
    """
    from livethresh.images import read_gray

    pages = []
    for truth_path in sorted(folder.glob(f"*{TRUTH_SUFFIX}.*")):
        name = truth_path.stem[: -len(TRUTH_SUFFIX)]
        candidates = [
            p for p in sorted(folder.glob(f"{name}.*")) if p.suffix.lower() in PAGE_SUFFIXES
        ]
        if not candidates:
            continue
        gray, truth = read_gray(candidates[0]), read_gray(truth_path) < 128
        if gray.shape != truth.shape:
            raise InputError(
                f"page {str(candidates[0])!r} is {gray.shape[1]}x{gray.shape[0]} but its ground "
                f"truth is {truth.shape[1]}x{truth.shape[0]}"
            )
        pages.append(TruthPage(name, gray, truth))
    return pages
