"""Quality on real printed pages (the shared DIBCO 2011 tuning set, skipped when absent)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livethresh import ThresholdConfig, resolve
from livethresh.binarize import binarize
from livethresh.errors import InputError
from livethresh.metrics import (
    TruthPage,
    dibco_years_folder,
    f_measure,
    ink_of,
    truth_pages,
    tuning_pages_folder,
)
from livethresh.presets import iter_presets


@pytest.fixture(scope="module")
def real_pages() -> list[TruthPage]:
    folder = tuning_pages_folder()
    if folder is None:
        pytest.skip("the shared real pages (shared/data/dibco11-printed) are not present")
    return truth_pages(folder)


@pytest.fixture(scope="module")
def dibco_years() -> dict[str, list[TruthPage]]:
    folder = dibco_years_folder()
    if folder is None:
        pytest.skip("the shared DIBCO years (shared/data/dibco) are not present")
    return {year.name: truth_pages(year) for year in sorted(folder.iterdir()) if year.is_dir()}


def f_scores(config: ThresholdConfig, pages: list[TruthPage]) -> list[float]:
    return [f_measure(ink_of(binarize(p.gray, config), config), p.truth) for p in pages]


def test_no_preset_but_article_scores_below_otsu_on_real_pages(real_pages):
    otsu = np.mean(f_scores(ThresholdConfig(method="otsu", blur=0), real_pages))
    for name, _ in iter_presets():
        if name == "article":  # the seed article's pipeline, kept bit-exact on purpose
            continue
        mean = np.mean(f_scores(resolve(preset=name), real_pages))
        assert mean >= otsu, f"preset {name}: mean F {mean:.2f} < Otsu's {otsu:.2f}"


def test_document_preset_meets_its_targets_on_real_pages(real_pages):
    """Mean F >= 90 on the four printed pages it was first tuned on. No page below 82: k 0.6,
    which the held-out years chose, takes in more of PR2's show-through (82.4; 85.6 at the
    former k 0.5)."""
    scores = f_scores(resolve(preset="document"), real_pages)
    assert np.mean(scores) >= 90.0 and min(scores) >= 82.0, scores


def test_document_preset_beats_its_former_settings_in_every_dibco_year(dibco_years):
    """k 0.6, chosen by leave-one-year-out on these 71 pages (each fold chose it), against the
    former k 0.5: better in every year (2010 by 2.4 points, 2009 by 0.1) and at least 89.5 on
    the mean of the six (89.7)."""
    preset = resolve(preset="document")
    former = preset.replace(k=0.5)
    ours, theirs = [], []
    for year, pages in dibco_years.items():
        ours.append(np.mean(f_scores(preset, pages)))
        theirs.append(np.mean(f_scores(former, pages)))
        assert ours[-1] > theirs[-1], (year, ours[-1], theirs[-1])
    assert np.mean(ours) >= 89.5, ours


def test_truth_pages_pairs_pages_with_their_truth(tmp_path):
    page = np.full((20, 30), 200, np.uint8)
    page[5:10, 5:25] = 30
    cv2.imwrite(str(tmp_path / "a.png"), page)
    cv2.imwrite(str(tmp_path / "a_gt.png"), np.where(page < 128, 0, 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "lonely.png"), page)  # no truth: not a test page
    (pages,) = truth_pages(tmp_path)
    assert pages.name == "a" and np.array_equal(pages.truth, page < 128)
    cv2.imwrite(str(tmp_path / "b.png"), page)
    cv2.imwrite(str(tmp_path / "b_gt.png"), page[:10])
    with pytest.raises(InputError, match="ground truth"):
        truth_pages(tmp_path)


def test_truth_pages_reads_the_layouts_of_the_public_sets(tmp_path):
    """Doxa's ``NAME-GroundTruth.png``, H-DIBCO's ``imgs/1.bmp`` with ``gt/1_gt.bmp``, and a
    ``GT`` folder of truths named like their pages."""
    page = np.full((20, 30), 200, np.uint8)
    page[5:10, 5:25] = 30
    truth = np.where(page < 128, 0, 255).astype(np.uint8)
    for sub in ("imgs", "gt", "other", "GT"):
        (tmp_path / sub).mkdir()
    cv2.imwrite(str(tmp_path / "2JohnC1V3.png"), page)
    cv2.imwrite(str(tmp_path / "2JohnC1V3-GroundTruth.png"), truth)
    cv2.imwrite(str(tmp_path / "imgs" / "1.bmp"), page)
    cv2.imwrite(str(tmp_path / "gt" / "1_gt.bmp"), truth)
    cv2.imwrite(str(tmp_path / "other" / "H01.tif"), page)
    cv2.imwrite(str(tmp_path / "GT" / "H01.tif"), truth)
    cv2.imwrite(str(tmp_path / "imgs" / "2.bmp"), page)  # no truth: not a test page
    pages = truth_pages(tmp_path)
    assert [p.name for p in pages] == ["1", "2JohnC1V3", "H01"]
    assert all(np.array_equal(p.truth, page < 128) for p in pages)
    (tmp_path / "bin").mkdir()  # an earlier output beside the pages: which is the page?
    cv2.imwrite(str(tmp_path / "bin" / "1.bmp"), truth)
    with pytest.raises(InputError, match=r"two pages named '1' .*imgs/1.bmp"):
        truth_pages(tmp_path)


def test_the_scan_preset_scores_the_pages_its_network_was_trained_on(dibco_years):
    """``--preset scan`` (the shipped network) on the 71 pages it was trained on: an in-sample
    check that the file and the inference are intact (91.4 on the mean of the years when
    written; its held-out figures are in docs/learned.md), and Otsu's global threshold left
    behind in every year."""
    learned = resolve(preset="scan")
    assert learned.method == "learned" and learned.blur == 0
    otsu = ThresholdConfig(method="otsu", blur=0)
    means = []
    for year, pages in dibco_years.items():
        means.append(np.mean(f_scores(learned, pages)))
        assert means[-1] > np.mean(f_scores(otsu, pages)) + 1, (year, means[-1])
    assert np.mean(means) >= 91.0, means
