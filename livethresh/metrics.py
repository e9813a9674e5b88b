"""Binarization quality against a known ground truth: the DIBCO measures.

The measures compare a predicted text mask with the true one, both boolean with True = ink:

- **F-measure** (in percent): the harmonic mean of precision and recall of ink pixels.
- **Pseudo-F** (in percent, DIBCO 2010's definition): the same with recall measured on the
  skeleton of the true ink, so that a stroke found thinner than its annotator drew it costs
  little and a stroke or a letter missed costs a lot (a thicker stroke still costs precision).
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
    """The DIBCO measures of one mask (or their mean over many)."""

    f_measure: float
    psnr: float
    drd: float
    pseudo_f: float


def ink_of(mask: np.ndarray, config: ThresholdConfig) -> np.ndarray:
    """The ink (text) pixels of a livethresh mask made with ``config``."""
    return cast(np.ndarray, mask == 255 if config.invert else mask == 0)


def f_measure(ink: np.ndarray, truth: np.ndarray) -> float:
    """DIBCO F-measure in percent; 0 when nothing or the wrong thing is found."""
    return _f(ink, truth, truth)


def pseudo_f(ink: np.ndarray, truth: np.ndarray) -> float:
    """DIBCO 2010 pseudo-F in percent: precision on the true ink, recall on its skeleton."""
    return _f(ink, truth, skeleton(truth))


def _f(ink: np.ndarray, truth: np.ndarray, recalled: np.ndarray) -> float:
    hits = np.count_nonzero(ink & truth)
    found = np.count_nonzero(ink & recalled)
    if hits == 0 or found == 0:
        return 0.0
    precision = hits / np.count_nonzero(ink)
    recall = found / np.count_nonzero(recalled)
    return 100.0 * 2 * precision * recall / (precision + recall)


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """The two sub-iterations of Lam, Lee and Suen's thinning (MATLAB's ``bwmorph thin``), as
    lookup tables over a pixel's 8 neighbours ``x1..x8``: east first, counter-clockwise, ``x_i``
    in bit ``i - 1``. A table holds 1 where the pixel is deleted."""
    tables = np.zeros((2, 256), np.uint8)
    for code in range(256):

        def x(i: int, code: int = code) -> int:
            return (code >> ((i - 1) % 8)) & 1

        crossings = sum(x(2 * i - 1) == 0 and (x(2 * i) or x(2 * i + 1)) for i in range(1, 5))
        n1 = sum(x(2 * k - 1) | x(2 * k) for k in range(1, 5))
        n2 = sum(x(2 * k) | x(2 * k + 1) for k in range(1, 5))
        thin = crossings == 1 and 2 <= min(n1, n2) <= 3
        tables[0, code] = thin and ((x(2) | x(3) | (1 - x(8))) & x(1)) == 0
        tables[1, code] = thin and ((x(6) | x(7) | (1 - x(4))) & x(5)) == 0
    return tables[0], tables[1]


THINNING = _thinning_tables()
#: Where neighbours x1..x8 of :func:`_thinning_tables` sit, as (row, column) offsets.
NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def skeleton(ink: np.ndarray) -> np.ndarray:
    """The one-pixel-wide centre lines of ``ink``, by Lam, Lee and Suen's thinning (1992), the
    algorithm of MATLAB's ``bwmorph(ink, 'thin', Inf)``: it keeps every stroke connected and
    leaves a dot a pixel. Each pass deletes, in two sub-iterations, the border pixels that its
    tables allow, looked up for the whole image at once from the 8-bit code of the neighbours.
    """
    image = np.pad(ink.astype(np.uint8), 1)
    height, width = ink.shape
    code = np.empty(ink.shape, np.uint8)
    while True:
        changed = False
        for table in THINNING:
            centre = image[1:-1, 1:-1]
            code.fill(0)
            for bit, (dy, dx) in enumerate(NEIGHBOURS):
                code |= image[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] << bit
            delete = (centre == 1) & (cv2.LUT(code, table) == 1)
            if delete.any():
                centre[delete] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


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
    so its DRD reads 7-14% higher on the same mask (3.48 against 3.04 for Otsu on PR1).
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
    """All the measures of a predicted ink mask against the true one (both boolean)."""
    if ink.shape != truth.shape:
        raise ValueError(f"mask {ink.shape} and ground truth {truth.shape} differ in shape")
    return Scores(f_measure(ink, truth), psnr(ink, truth), drd(ink, truth), pseudo_f(ink, truth))


def mean_scores(scores: list[Scores]) -> Scores:
    """The mean of each measure over several images."""
    if not scores:
        raise ValueError("no scores to average")
    return Scores(
        *(float(np.mean([getattr(s, name) for s in scores])) for name in Scores.__annotations__)
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
#: Where the DIBCO 2009-2014 pages are looked for, the same way: a folder per year.
DIBCO_YEARS = Path("shared/data/dibco")
#: Endings of a ground truth's file name, after its page's name (any case): DIBCO's ``PR1_gt``,
#: H-DIBCO's ``1_gt``, Doxa's ``2JohnC1V3-GroundTruth``.
TRUTH_SUFFIXES = ("_gt", "-gt", "_groundtruth", "-groundtruth", "_ground_truth")
#: Folders of ground truths named like their pages (any case), beside the pages' folder.
TRUTH_FOLDERS = frozenset({"gt", "groundtruth", "ground_truth", "ground-truth"})
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
    return _shared_folder(TUNING_PAGES)


def dibco_years_folder() -> Path | None:
    """The shared folder of the DIBCO 2009-2014 years, if one exists above the repository."""
    return _shared_folder(DIBCO_YEARS)


def _shared_folder(relative: Path) -> Path | None:
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / relative).is_dir():
            return parent / relative
    return None


def truth_pages(folder: Path) -> list[TruthPage]:
    """Every page of ``folder`` that has a ground truth, sorted by name.

    The layouts of the public sets are understood: a truth beside its page, named like it plus
    a suffix of :data:`TRUTH_SUFFIXES` (``PR1.png`` and ``PR1_gt.png``), or in a subfolder of
    :data:`TRUTH_FOLDERS` under the same name; the pages may sit in ``folder`` or in any of its
    other subfolders (``imgs/1.bmp`` and ``gt/1.bmp``). The page is read as gray like any input
    (:func:`livethresh.images.read_gray`); in the truth, dark (< 128) is ink.

    Raises:
        InputError: A page or truth cannot be read, or their sizes differ.
    """
    from livethresh.images import read_gray

    folders = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    truths: dict[str, list[Path]] = {}
    pages: dict[str, list[Path]] = {}
    for where in folders:
        for path in sorted(where.iterdir()):
            if path.suffix.lower() not in PAGE_SUFFIXES or not path.is_file():
                continue
            stem = path.stem.lower()
            ending = next((e for e in TRUTH_SUFFIXES if stem.endswith(e)), None)
            if ending is not None:
                truths.setdefault(path.stem[: -len(ending)], []).append(path)
            elif where.name.lower() in TRUTH_FOLDERS:
                truths.setdefault(path.stem, []).append(path)
            else:
                pages.setdefault(path.stem, []).append(path)
    found = []
    for name in sorted(truths.keys() & pages.keys()):
        for kind, paths in (("pages", pages[name]), ("ground truths", truths[name])):
            if len(paths) > 1:  # which one is meant cannot be guessed
                listed = " and ".join(repr(str(p)) for p in paths)
                raise InputError(
                    f"two {kind} named {name!r} in {str(folder)!r}: {listed}; "
                    "keep one, or pass their folders one at a time"
                )
        (page,), (truth_path,) = pages[name], truths[name]
        gray, truth = read_gray(page), read_gray(truth_path) < 128
        if gray.shape != truth.shape:
            raise InputError(
                f"page {str(page)!r} is {gray.shape[1]}x{gray.shape[0]} but its ground "
                f"truth is {truth.shape[1]}x{truth.shape[0]}"
            )
        found.append(TruthPage(name, gray, truth))
    return found
