"""Su's method: its pieces against their definitions, bands against a whole frame, and DoxaPy.

Conventions compared with DoxaPy 0.9.2's ``SU`` (see :mod:`livethresh.binarize.su`): the 8-bit
contrast, edges strictly above Otsu's level, a window shrunk at the frame's edges and
``min_edges`` = window all match; DoxaPy's standard deviation is always 0, so it is compared
with ``k = 0``. Outputs: DoxaPy writes text as 0, as livethresh does without ``invert``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livethresh import ThresholdConfig
from livethresh.binarize.su import EPSILON, contrast_image, otsu_level
from livethresh.config import ConfigError
from livethresh.degraded import degraded_document
from livethresh.metrics import truth_pages, tuning_pages_folder
from tests.conftest import document_frame
from tests.helpers import run_binarizer as run

MIN_AGREEMENT = 0.999


def doxapy_su(gray: np.ndarray, window: int | None = None) -> np.ndarray:
    doxapy = pytest.importorskip("doxapy")
    out = np.empty_like(gray)
    binarizer = doxapy.Binarization(doxapy.Binarization.Algorithms.SU)
    binarizer.initialize(np.ascontiguousarray(gray))
    binarizer.to_binary(out, {"window": window, "minN": window} if window else {})
    return out


def su_reference(gray: np.ndarray, window: int, k: float) -> np.ndarray:
    """Su's rule in float64, written from the paper with explicit loops over the window."""
    high = cv2.dilate(gray, np.ones((3, 3), np.uint8)).astype(np.float64)
    low = cv2.erode(gray, np.ones((3, 3), np.uint8)).astype(np.float64)
    contrast = np.floor(255 * (high - low) / (high + low + EPSILON)).astype(np.uint8)
    level, _ = cv2.threshold(contrast, 0, 255, cv2.THRESH_OTSU)
    edges = contrast > level
    r = window // 2
    mask = np.full(gray.shape, 255, np.uint8)
    values = gray.astype(np.float64)
    for y, x in np.ndindex(gray.shape):
        rows = slice(max(0, y - r), y + r + 1)
        cols = slice(max(0, x - r), x + r + 1)
        near = values[rows, cols][edges[rows, cols]]
        if near.size >= window and values[y, x] <= near.mean() + k * near.std():
            mask[y, x] = 0
    return mask


def test_contrast_is_exact_for_every_pair_of_extremes():
    high, low = (a.astype(np.uint8) for a in np.meshgrid(range(256), range(256), indexing="ij"))
    keep = high >= low  # a max is never below its min
    spread, level = np.empty((256, 256), np.float32), np.empty((256, 256), np.float32)
    got = np.empty((256, 256), np.uint8)
    contrast_image(high, low, spread, level, got)
    h, lo = high.astype(np.float64), low.astype(np.float64)
    want = np.floor(255 * (h - lo) / (h + lo + EPSILON))
    assert np.array_equal(got[keep], want[keep])


@pytest.mark.parametrize("seed", range(20))
def test_otsu_level_is_opencvs(seed):
    rng = np.random.default_rng(seed)
    image = rng.choice(rng.integers(0, 256, 1 + seed % 7), (40, 60)).astype(np.uint8)
    if seed % 2:
        image = np.clip(rng.normal(rng.uniform(0, 255), 30, (40, 60)), 0, 255).astype(np.uint8)
    histogram = cv2.calcHist([image], [0], None, [256], [0, 256])
    assert otsu_level(histogram) == cv2.threshold(image, 0, 255, cv2.THRESH_OTSU)[0]


@pytest.mark.parametrize("k", [0.0, 0.5])
def test_matches_the_papers_rule_in_float64(k):
    gray = document_frame(60, 90, seed=3)
    config = ThresholdConfig(method="su", block_size=7, blur=0, k=k)
    agreement = np.mean(run(gray, config) == su_reference(gray, 7, k))
    assert agreement >= MIN_AGREEMENT


@pytest.mark.parametrize(("kind", "window"), [("bleed_through", None), ("shadow", 15)])
def test_agrees_with_doxapy_on_synthetic_pages(kind, window):
    gray, _ = degraded_document(kind, 2, 200, 300)
    want = doxapy_su(gray, window)
    config = ThresholdConfig(method="su", block_size=window or 9, blur=0, k=0.0)
    assert np.mean(run(gray, config) == want) >= MIN_AGREEMENT


def test_agrees_with_doxapy_on_the_real_pages():
    folder = tuning_pages_folder()
    if folder is None:
        pytest.skip("the shared real pages are not present")
    for page in truth_pages(folder):
        want = doxapy_su(page.gray)
        got = run(page.gray, ThresholdConfig(method="su", block_size=9, blur=0, k=0.0))
        agreement = np.mean(got == want)
        assert agreement >= MIN_AGREEMENT, f"{page.name}: {agreement:.4%}"


def test_min_edges_gates_text_and_is_validated():
    gray = document_frame(120, 160)
    few = run(gray, ThresholdConfig(method="su", block_size=9, blur=0, min_edges=1))
    many = run(gray, ThresholdConfig(method="su", block_size=9, blur=0, min_edges=81))
    assert np.count_nonzero(few == 0) > np.count_nonzero(many == 0)
    for bad in (0, -3, 2.5, "9"):
        with pytest.raises(ConfigError, match="min_edges"):
            ThresholdConfig(method="su", min_edges=bad)
