"""The learned method: exact bands, quality on a page with ground truth, its knob, its weights,
and a smoke run of its training script (only where torch is installed)."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from livethresh import Binarizer, ThresholdConfig
from livethresh.binarize import learned
from livethresh.binarize.bands import plan_bands
from livethresh.degraded import degraded_document
from livethresh.metrics import f_measure, ink_of
from livethresh.synthetic import document_frames
from tests.helpers import assert_one_line, document_frame, invoke, random_frame, run_binarizer

ROOT = Path(__file__).resolve().parents[1]
LEARNED = ThresholdConfig(method="learned", blur=0)


@pytest.mark.parametrize(
    "shape", [(1, 1), (7, 5), (15, 3), (131, 97), (200, 333), (257, 64), (479, 50), (300, 1281)]
)
def test_bands_give_the_whole_frame_mask_exactly(shape):
    """Bands on the network's grid, padded below: 1, 2, 3 and 4 bands give the same bits,
    also on frames smaller than the grid and of odd sizes."""
    gray = document_frame(*shape, seed=shape[0])
    for config in (LEARNED, LEARNED.replace(invert=True, k=0.3), LEARNED.replace(blur=3)):
        whole = run_binarizer(gray, config, threads=1)
        assert set(np.unique(whole)) <= {0, 255}
        for threads in (2, 3, 4):
            assert np.array_equal(run_binarizer(gray, config, threads), whole), (shape, threads)


def test_video_with_every_post_step_is_the_same_in_bands():
    """Stabilized, despeckled, automatic scale, inverted: 1, 2 and 3 bands agree frame by frame
    (the ink level is gathered from every band, the hysteresis sees the whole mask)."""
    frames = list(document_frames(4, 200, 300, noise=4.0))
    config = LEARNED.replace(blur=3, stabilize=True, invert=True, despeckle="auto", auto_scale=True)
    masks = {}
    for threads in (1, 2, 3):
        with Binarizer(config, frames[0].shape, threads=threads) as binarize:
            masks[threads] = [binarize(f, timestamp=i / 30).copy() for i, f in enumerate(frames)]
    for threads in (2, 3):
        assert all(np.array_equal(a, b) for a, b in zip(masks[1], masks[threads], strict=True))


def test_band_tops_lie_on_the_grid():
    for height in (64, 129, 200, 719, 1080):
        for top, start, _, _ in plan_bands(height, 4, 37, learned.GRID):
            assert top % learned.GRID == 0 and start % learned.GRID == 0


def test_beats_otsu_on_an_unevenly_lit_page():
    gray, truth = degraded_document("uneven_light", 3, 240, 320, seed=1)
    ink = truth == 255
    mine = f_measure(ink_of(run_binarizer(gray, LEARNED), LEARNED), ink)
    otsu = ThresholdConfig(method="otsu", blur=0)
    theirs = f_measure(ink_of(run_binarizer(gray, otsu), otsu), ink)
    # 78.9 and 41.6 when written: the network finds 99.5% of this page's ink and draws its
    # strokes bolder than this small page's truth (precision 0.65), as DIBCO's annotators do.
    assert mine > 75 and mine > theirs + 30, (mine, theirs)


def test_k_moves_the_mask_monotonically():
    """A higher ink probability threshold keeps a subset of the ink."""
    gray, _ = degraded_document("bleed_through", 3, 160, 200, seed=2)
    inks = [
        run_binarizer(gray, LEARNED.replace(k=k)) == 0 for k in (-1, 0.1, 0.3, 0.5, 0.7, 0.9, 1)
    ]
    counts = [int(ink.sum()) for ink in inks]
    assert counts[0] > counts[3] > counts[-1] == 0, counts
    for looser, stricter in itertools.pairwise(inks):
        assert not np.any(stricter & ~looser)


def test_describes_its_knob():
    assert learned.Learned.describe(LEARNED) == "learned  k 0.4  no blur"


@pytest.fixture
def weights(monkeypatch, tmp_path):
    """Point the method at a file of the test's making."""
    path = tmp_path / "learned.onnx"
    monkeypatch.setattr(learned, "WEIGHTS", path)
    return path


def test_missing_weights_say_reinstall(weights, tmp_path):
    with pytest.raises(learned.WeightsError, match=r"No such file.*reinstall livethresh"):
        run_binarizer(random_frame(20, 20), LEARNED)
    photo = tmp_path / "page.png"
    cv2.imwrite(str(photo), document_frame(60, 80))
    result = invoke("image", photo, tmp_path / "mask.png", "-m", "learned")
    assert_one_line(result.stderr, result.exit_code, 2, "learned.onnx", "reinstall livethresh")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_weights_say_reinstall(damage, tmp_path, monkeypatch):
    shipped = learned.WEIGHTS.read_bytes()
    weights = tmp_path / "learned.onnx"
    monkeypatch.setattr(learned, "WEIGHTS", weights)
    weights.write_bytes(b"\x08\x07not a network" * 100 if damage == "garbage" else shipped[:5000])
    photo = tmp_path / "page.png"
    cv2.imwrite(str(photo), document_frame(60, 80))
    result = invoke("image", photo, tmp_path / "mask.png", "-m", "learned")
    assert_one_line(result.stderr, result.exit_code, 2, "is damaged", "reinstall livethresh")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_training_script_writes_a_network_the_method_runs(tmp_path, monkeypatch):
    """A few steps on two generated pages: the ONNX file it writes drives the method."""
    for year, seed in (("2009", 0), ("2010", 1)):
        gray, truth = degraded_document("shadow", 1, 96, 128, seed=seed)
        (tmp_path / year).mkdir()
        cv2.imwrite(str(tmp_path / year / "P1.png"), gray)
        cv2.imwrite(str(tmp_path / year / "P1_gt.png"), 255 - truth)
    out = tmp_path / "fold.onnx"
    script = ROOT / "benchmarks/train_learned.py"
    options = ["--data", tmp_path, "--holdout", 2010, "--out", out, "--steps", 3, "--batch", 2]
    command = [sys.executable, script, *options, "--crop", 64]
    subprocess.run(list(map(str, command)), check=True, capture_output=True, timeout=120)
    monkeypatch.setattr(learned, "WEIGHTS", out)
    mask = run_binarizer(document_frame(50, 70), LEARNED)
    assert mask.shape == (50, 70) and set(np.unique(mask)) <= {0, 255}
