"""The DIBCO measures on hand-checkable masks, and the degraded documents they are used on."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from livethresh import ThresholdConfig
from livethresh.binarize import binarize
from livethresh.degraded import DEGRADATIONS, degraded_document, papyrus_page
from livethresh.metrics import (
    DRD_WEIGHTS,
    drd,
    drd_distortion,
    f_measure,
    ink_of,
    nonuniform_blocks,
    pseudo_f,
    psnr,
    score,
    skeleton,
)


def square_truth() -> np.ndarray:
    truth = np.zeros((32, 32), bool)
    truth[8:16, 8:16] = True  # one 8x8 ink block, aligned: it straddles no block boundary
    truth[20:22, 4:30] = True  # a stroke: makes 4 mixed 8x8 blocks
    return truth


def test_perfect_mask_scores_best():
    truth = square_truth()
    assert score(truth, truth) == score(truth.copy(), truth)
    assert f_measure(truth, truth) == 100.0
    assert psnr(truth, truth) == 100.0
    assert drd(truth, truth) == 0.0


def test_f_measure_and_psnr_by_hand():
    truth = square_truth()
    ink = truth.copy()
    ink[8:12, 8:16] = False  # miss 32 of the 64 + 52 = 116 ink pixels
    ink[0, 0:4] = True  # 4 false alarms
    precision, recall = 84 / 88, 84 / 116
    assert f_measure(ink, truth) == pytest.approx(
        100 * 2 * precision * recall / (precision + recall)
    )
    assert psnr(ink, truth) == pytest.approx(10 * math.log10(1024 / 36))
    assert f_measure(np.zeros_like(truth), truth) == 0.0


def test_skeleton_is_one_pixel_wide_inside_the_stroke_and_keeps_it_connected():
    truth = np.zeros((40, 60), bool)
    truth[10:15, 5:55] = True  # a bar 5 high
    truth[10:35, 30:35] = True  # and a leg 5 wide: a T
    centre = skeleton(truth)
    assert not (centre & ~truth).any()
    assert centre[12, 10:25].all() and centre[10:15, 10:25].sum() == 15  # one row, the middle
    assert centre[12, 38:50].all() and centre[10:15, 38:50].sum() == 12
    assert centre[20:30, 32].all() and centre[20:30].sum() == 10  # the leg's centre column
    count, _ = cv2.connectedComponents(centre.astype(np.uint8), connectivity=8)
    assert count == 2  # background and one connected skeleton


def test_skeleton_keeps_dots_and_thin_diagonals():
    """A 2x2 dot keeps a pixel (a perfect mask of dots scores 100, not 0), and a stroke two
    pixels thick on the diagonal keeps its whole length, as MATLAB's bwmorph thin does."""
    dots = np.zeros((12, 12), bool)
    dots[2:4, 2:4] = dots[7:9, 6:8] = True
    assert skeleton(dots).sum() == 2 and pseudo_f(dots, dots) == 100.0
    diagonal = np.zeros((40, 40), bool)
    for i in range(26):
        diagonal[5 + i, 5 + i : 7 + i] = True
    centre = skeleton(diagonal)
    assert 24 <= centre.sum() <= 28
    count, _ = cv2.connectedComponents(centre.astype(np.uint8), connectivity=8)
    assert count == 2


def test_pseudo_f_forgives_stroke_width_and_not_missed_strokes():
    """A mask one pixel thinner than the truth loses F but keeps pseudo-F; a missed stroke
    costs pseudo-F its share of the skeleton."""
    truth = np.zeros((40, 80), bool)
    truth[5:10, 5:75] = True
    truth[25:30, 5:75] = True
    thinner = np.zeros_like(truth)
    thinner[6:9, 5:75] = thinner[26:29, 5:75] = True
    assert pseudo_f(truth, truth) == 100.0
    assert f_measure(thinner, truth) == pytest.approx(75.0)  # precision 1, recall 3/5
    assert pseudo_f(thinner, truth) == 100.0
    half = truth.copy()
    half[25:30] = False  # the second stroke missed: precision 1, pseudo-recall 1/2
    assert pseudo_f(half, truth) == pytest.approx(100 * 2 * 0.5 / 1.5)
    assert score(half, truth).pseudo_f == pseudo_f(half, truth)


def test_drd_of_one_isolated_false_pixel():
    """A lone ink pixel on paper far from text costs sum(W) = 1, divided by mixed blocks."""
    truth = square_truth()
    ink = truth.copy()
    ink[2, 28] = True
    assert DRD_WEIGHTS.sum() == pytest.approx(1.0) and DRD_WEIGHTS[2, 2] == 0
    assert drd(ink, truth) == pytest.approx(1.0 / 4)


def test_drd_grows_with_distance_from_the_text():
    truth = square_truth()
    near, far = truth.copy(), truth.copy()
    near[8, 16] = True  # touches the ink square: cheaper
    far[8, 18] = True
    assert 0 < drd(near, truth) < drd(far, truth)


def test_drd_neighbours_outside_the_image_cost_nothing():
    """A false ink pixel in the corner sees only 3x3 of its 5x5 weights: the rest is absent."""
    truth = square_truth()
    ink = truth.copy()
    ink[0, 0] = True
    assert drd_distortion(ink, truth) == pytest.approx(DRD_WEIGHTS[2:, 2:].sum())
    assert nonuniform_blocks(truth) == 4


def test_drd_distortion_is_doxas_and_only_the_block_count_differs():
    """Doxa's DRD divides the same distortion by the mixed blocks it finds looking at the
    top-left 7x7 pixels of each whole 8x8 block; with that count, the two agree exactly."""
    doxapy = pytest.importorskip("doxapy")
    gray, truth_image = degraded_document("bleed_through", 2, 203, 301, seed=3)
    truth = truth_image == 255
    mask = binarize(gray, ThresholdConfig(method="sauvola", block_size=15, k=0.2, blur=0))
    ink = mask == 0
    theirs = doxapy.calculate_performance(np.where(truth, 0, 255).astype(np.uint8), mask)["drdm"]
    doxa_blocks = sum(
        int(truth[y : y + 7, x : x + 7].min() != truth[y : y + 7, x : x + 7].max())
        for y in range(0, 203 - 7, 8)
        for x in range(0, 301 - 7, 8)
    )
    assert drd_distortion(ink, truth) / doxa_blocks == pytest.approx(theirs, rel=1e-5)
    assert drd(ink, truth) < theirs  # more mixed blocks found: the same distortion reads lower


def test_ink_of_follows_invert():
    mask = np.array([[0, 255]], np.uint8)
    assert ink_of(mask, ThresholdConfig()).tolist() == [[True, False]]
    assert ink_of(mask, ThresholdConfig(invert=True)).tolist() == [[False, True]]


def test_shapes_must_match():
    with pytest.raises(ValueError, match="differ in shape"):
        score(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


@pytest.mark.parametrize("kind", DEGRADATIONS)
def test_degradations_are_deterministic_and_get_harder(kind):
    first, truth = degraded_document(kind, 1, 200, 300, seed=1)
    again, _ = degraded_document(kind, 1, 200, 300, seed=1)
    assert np.array_equal(first, again) and truth.dtype == np.uint8
    clean_f = []
    for level in (1, 3):
        gray, truth = degraded_document(kind, level, 200, 300, seed=1)
        config = ThresholdConfig(method="sauvola", block_size=25, k=0.2, blur=0)
        clean_f.append(f_measure(ink_of(binarize(gray, config), config), truth == 255))
    assert clean_f[1] <= clean_f[0] + 1.0, f"{kind}: level 3 is not harder than level 1"


def test_degradation_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown degradation 'rain'"):
        degraded_document("rain", 1)
    with pytest.raises(ValueError, match="level must be 1, 2 or 3"):
        degraded_document("blur", 4)


def test_local_methods_beat_otsu_under_a_shadow():
    gray, truth = degraded_document("shadow", 3, 300, 400, seed=0)
    otsu = ThresholdConfig(method="otsu", blur=0)
    sauvola = ThresholdConfig(method="sauvola", block_size=25, blur=0)
    f_otsu = f_measure(ink_of(binarize(gray, otsu), otsu), truth == 255)
    f_sauvola = f_measure(ink_of(binarize(gray, sauvola), sauvola), truth == 255)
    assert f_sauvola > f_otsu + 20


def test_papyrus_pages_are_deterministic_and_get_harder():
    first, truth = papyrus_page(1, 200, 300, seed=1)
    again, _ = papyrus_page(1, 200, 300, seed=1)
    assert np.array_equal(first, again) and set(np.unique(truth)) == {0, 255}
    su = ThresholdConfig(method="su", block_size=9, k=0.0, blur=0)
    scores = []
    for level in (1, 2, 3):
        gray, truth = papyrus_page(level, 200, 300, seed=1)
        scores.append(f_measure(ink_of(binarize(gray, su), su), truth == 255))
    assert scores[0] > scores[1] > scores[2] > 30, scores
    with pytest.raises(ValueError, match="papyrus level"):
        papyrus_page(4)
