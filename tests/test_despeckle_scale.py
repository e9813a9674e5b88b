"""Despeckling and the automatic window: what they remove, what they measure, how they move."""

from __future__ import annotations

import tracemalloc

import av
import cv2
import numpy as np
import pytest

import livethresh.binarize.scale
from livethresh import Binarizer, ThresholdConfig
from livethresh.binarize import binarize
from livethresh.binarize.despeckle import Despeckler
from livethresh.binarize.scale import (
    HYSTERESIS,
    PERIOD,
    AutoScale,
    ScaleTracker,
    StrokeWidth,
    speck_area,
    stroke_of_window,
    window_for,
)
from livethresh.config import ConfigError, resolve
from livethresh.degraded import blank_board, degraded_document
from livethresh.metrics import f_measure, ink_of
from livethresh.synthetic import document_frames, light_page, render_text_page
from tests.clips import Coding, Picture, make_video
from tests.helpers import invoke


def specks_and_blocks(ink: int, paper: int) -> np.ndarray:
    """Paper with a 1-px and a 3x3 ink speck, and an ink block holding a 2x2 and a 6x6 hole."""
    mask = np.full((60, 80), paper, np.uint8)
    mask[5, 5] = ink
    mask[10:13, 10:13] = ink
    mask[20:50, 30:70] = ink
    mask[25:27, 35:37] = paper
    mask[35:41, 50:56] = paper
    return mask


@pytest.mark.parametrize(("ink", "paper"), [(0, 255), (255, 0)])
def test_despeckle_removes_small_components_of_both_polarities(ink, paper):
    mask = specks_and_blocks(ink, paper)
    cleaned = Despeckler(mask.shape)(mask.copy(), 10, ink)
    want = mask.copy()
    want[5, 5] = want[10:13, 10:13] = paper  # ink specks of 1 and 9 px go
    want[25:27, 35:37] = ink  # the 4-px hole is filled
    assert np.array_equal(cleaned, want)  # the block and its 36-px hole stay
    assert np.array_equal(Despeckler(mask.shape)(mask.copy(), 1, ink), mask)


def test_despeckling_a_1080p_mask_allocates_nothing_frame_sized():
    """Thousands of specks of both polarities: the lookup of their labels casts labels to
    intp by strips, each far smaller than the frame (64-row strips made 1 MB copies)."""
    rng = np.random.default_rng(0)
    mask = np.full((1080, 1920), 255, np.uint8)
    mask[::4, ::4] = np.where(rng.random((270, 480)) < 0.1, 0, 255)  # 13,000 specks
    mask[502:558] = 0  # a band of ink, two rows from the nearest specks, with holes in it
    mask[504:556:4, ::4] = np.where(rng.random((13, 480)) < 0.3, 255, 0)
    despeckle = Despeckler(mask.shape)
    despeckle(mask.copy(), 9)  # warm up
    cleaned = mask.copy()
    tracemalloc.start()
    try:
        despeckle(cleaned, 9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not cleaned[502:558].any()  # the holes were filled
    assert cleaned[:502].all() and cleaned[558:].all()  # the specks were removed
    assert peak < mask.size // 10, peak


def test_despeckle_setting_runs_after_the_threshold():
    gray = light_page(
        render_text_page(200, 300, seed=2), np.ones((200, 300), np.float32), noise=25.0
    )
    config = ThresholdConfig(method="wolf", block_size=25, blur=0, k=0.2)
    raw = binarize(gray, config)
    cleaned = binarize(gray, config.replace(despeckle=12))
    assert np.array_equal(cleaned, Despeckler(raw.shape)(raw.copy(), 12, 0))
    assert np.count_nonzero(cleaned != raw) > 0
    # "auto" without auto_scale: a quarter of the squared stroke the window stands for.
    auto = binarize(gray, config.replace(despeckle="auto"))
    area = speck_area(stroke_of_window(25))
    assert np.array_equal(auto, Despeckler(raw.shape)(raw.copy(), area, 0))


@pytest.mark.parametrize(
    ("given", "stored"),
    [("auto", "auto"), ("AUTO", "auto"), ("off", 0), ("0", 0), ("20", 20), (20, 20), (0, 0)],
)
def test_despeckle_setting_spellings(given, stored):
    assert ThresholdConfig(despeckle=given).despeckle == stored


@pytest.mark.parametrize("bad", ["x", "-1", -1, 2.5, True, None])
def test_despeckle_setting_rejects_the_rest(bad):
    with pytest.raises(ConfigError, match="invalid despeckle"):
        ThresholdConfig(despeckle=bad)


def bars(width: int) -> np.ndarray:
    """Ink bars (255) of an exact stroke width, horizontal and vertical, on paper (0)."""
    ink = np.zeros((400, 600), np.uint8)
    for y, x in np.ndindex(8, 6):
        top, left = 20 + 45 * y, 20 + 90 * x
        ink[top : top + width, left : left + 60] = 255
        ink[top : top + 40, left + 70 : left + 70 + width] = 255
    return ink


@pytest.mark.parametrize("width", [3, 9])
def test_stroke_width_of_bars_at_two_scales(width):
    assert abs(StrokeWidth((400, 600))(bars(width)) - width) <= 1.0


def test_stroke_width_of_text_follows_its_scale_and_sets_the_window():
    measured = {}
    for scale in (1, 3):
        page = render_text_page(300 * scale, 400 * scale, seed=4, line_height=24 * scale)
        measured[scale] = StrokeWidth(page.shape)(np.where(page < 128, 255, 0).astype(np.uint8))
        with Binarizer(ThresholdConfig(method="wolf", blur=0, auto_scale=True), page.shape) as run:
            run(page)
            assert run._scale is not None
            assert run.block_size == window_for(run._scale.stroke)
    assert measured[1] and measured[3]
    assert 2.2 <= measured[3] / measured[1] <= 3.3


def test_auto_window_follows_the_page_scale():
    windows = []
    for scale in (1, 2):
        page = render_text_page(400 * scale, 500 * scale, seed=5, line_height=32 * scale)
        with Binarizer(ThresholdConfig(method="wolf", blur=0, auto_scale=True), page.shape) as run:
            run(page)
            windows.append(run.block_size)
    assert 1.6 <= windows[1] / windows[0] <= 2.4


def test_tracker_ignores_jitter_and_follows_a_real_change():
    tracker = ScaleTracker()
    assert tracker.seed(5.0)
    jitter = [5.4, 4.6, 5.3, 4.7, 5.5, 4.5] * 10
    assert not tracker.observe(lambda: jitter[0]) and tracker.confirmed
    assert not tracker.seed(9.0)  # borne out by an own mask: no more guesses
    moved = [tracker.observe(lambda v=v: v) for v in jitter]
    assert not any(moved) and tracker.stroke == 5.0
    # The text doubles in size: the stroke moves within a few measures, then holds.
    changes, frames = 0, 0
    while frames < 40 * PERIOD:
        changes += tracker.observe(lambda: 10.0)
        frames += 1
    assert tracker.stroke is not None and 8.5 < tracker.stroke <= 10.0
    assert 1 <= changes <= 6


def test_a_guess_no_own_mask_bears_out_is_taken_again_every_period():
    """A first estimate from a frame whose own mask holds no ink (an empty board's noise)."""
    tracker = ScaleTracker()
    assert tracker.seed(2.0)  # frame 0: a seed, then the frame's own mask
    assert not tracker.observe(lambda: None)
    for _ in range(1, PERIOD):
        assert not tracker.seed(6.0) and not tracker.observe(lambda: None)
    assert tracker.wants_seed() and tracker.seed(6.0) and tracker.stroke == 6.0
    tracker.observe(lambda: 6.1)
    assert tracker.confirmed and not tracker.wants_seed()


def test_a_camera_that_starts_on_an_empty_board_finds_the_strokes_written_later():
    """Before, the window measured on the board's noise stayed: the strokes written later were
    too wide for it, their masks measured them thin, and F stayed near 45."""
    config = resolve(preset="whiteboard").replace(stabilize=False)
    writing = np.zeros((480, 640), np.uint8)
    cv2.putText(writing, "Hello", (60, 300), cv2.FONT_HERSHEY_SIMPLEX, 5, 255, 12)
    board = [blank_board(4, correlated=True, seed=seed) for seed in range(PERIOD + 1)]
    written = [np.where(writing > 0, gray // 3, gray).astype(np.uint8) for gray in board]
    with Binarizer(config, writing.shape) as fresh:
        fresh(written[0])
        expected = fresh.block_size
    with Binarizer(config, writing.shape) as run:
        for gray in board:
            assert not ink_of(run(gray), config).any()
        scores = [f_measure(ink_of(run(gray), config), writing > 0) for gray in written]
    # The window a fresh start takes, up to the tracker's own tolerance: the two first estimates
    # come from frames with different noise.
    assert expected > 2 * 9
    assert abs(run.block_size - expected) <= HYSTERESIS * expected
    assert min(scores[-2:]) > 99  # from the next period's first frame on


def test_tracker_measures_the_first_frame_then_every_period():
    tracker, calls = ScaleTracker(), []
    for _ in range(3 * PERIOD):
        tracker.observe(lambda: calls.append(1) or 4.0)
    assert len(calls) == 3


def test_auto_window_does_not_pump_on_video():
    config = resolve(preset="document")
    frames = list(document_frames(60, 270, 480))
    with Binarizer(config, frames[0].shape, threads=2) as run:
        windows = []
        for gray in frames:
            run(gray)
            windows.append(run.block_size)
    assert len(set(windows[1:])) == 1, windows


def test_document_preset_allocates_nothing_frame_sized_per_frame(doc_1080p):
    config = resolve(preset="document")
    with Binarizer(config, doc_1080p.shape, threads=2) as run:
        for _ in range(2 * PERIOD):
            run(doc_1080p)
        tracemalloc.start()
        try:
            for _ in range(2 * PERIOD):
                run(doc_1080p)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < doc_1080p.size // 10, f"peak {peak} bytes"


def test_auto_scale_is_validated_and_a_frame_without_text_keeps_the_fallback():
    with pytest.raises(ConfigError, match="auto_scale"):
        ThresholdConfig(auto_scale="yes")
    config = ThresholdConfig(method="wolf", block_size=21, auto_scale=True)
    for blank in (np.full((100, 100), 200, np.uint8), np.zeros((100, 100), np.uint8)):
        with Binarizer(config, blank.shape) as run:
            for _ in range(PERIOD + 1):
                run(blank)
            assert run.block_size == 21
    assert StrokeWidth((4, 4))(np.full((4, 4), 255, np.uint8)) is None


@pytest.mark.parametrize("opening", [3, 1])
def test_the_first_estimate_is_not_fooled_by_noise_where_the_light_falls(monkeypatch, opening):
    """Light falling to half across the page, sensor noise sigma 12: Otsu's mask turns the dark
    side's paper into salt and pepper. The opening keeps the first estimate at the clean page's;
    without it (the guard) the estimate collapses to the specks."""
    monkeypatch.setattr(livethresh.binarize.scale, "FIRST_OPENING", opening)
    page, _ = degraded_document("noise", 1)
    light = np.linspace(1.0, 0.5, page.shape[1])[None, :]
    noise = np.random.default_rng(0).normal(0, 12, page.shape)
    dark = np.clip(page * light + noise, 0, 255).astype(np.uint8)
    strokes = []
    for gray in (page, dark):
        scale = AutoScale(gray.shape, True, 11)
        scale.start(gray)
        strokes.append(scale.stroke)
    if opening == 3:
        assert strokes[1] == pytest.approx(strokes[0], rel=0.2)
    else:
        assert strokes[1] < 0.6 * strokes[0]


@pytest.mark.parametrize("name", ["receipt", "lowlight-webcam"])
def test_a_blank_video_smaller_than_the_speck_area_stays_paper(name):
    """The page itself is paper smaller than the despeckle area: it was filled with ink."""
    config = resolve(preset=name)
    with Binarizer(config, (2, 2)) as run:
        for _ in range(3):
            assert (run(np.full((2, 2), 200, np.uint8)) == 255).all()


def test_despeckling_a_blank_page_with_an_area_larger_than_the_page_keeps_it_blank():
    config = ThresholdConfig(method="background", despeckle=100_000)
    assert (binarize(np.full((240, 320), 200, np.uint8), config) == 255).all()
    assert (binarize(np.full((240, 320), 200, np.uint8), config.replace(invert=True)) == 0).all()


def test_despeckling_still_fills_holes_but_never_the_page():
    mask = np.full((20, 20), 255, np.uint8)
    mask[2:18, 2:18] = 0  # a blot of 252 px with a 2x2 hole
    mask[9:11, 9:11] = 255
    Despeckler(mask.shape)(mask, 200)
    assert (mask[2:18, 2:18] == 0).all()  # the hole is filled
    assert (mask[:2] == 255).all()  # the page (144 px, under the area) is kept


@pytest.mark.parametrize("name", ["receipt", "lowlight-webcam"])
def test_transcoding_a_blank_2x2_video_with_a_despeckling_preset_writes_paper(name, tmp_path):
    clip, out = tmp_path / "tiny.mkv", tmp_path / "mask.mkv"
    make_video(
        clip, Picture(lumas=[np.full((2, 2), 200, np.uint8)] * 5), coding=Coding(lossless=True)
    )
    result = invoke("transcode", clip, out, "--preset", name)
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as container:
        masks = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert len(masks) == 5 and all((mask > 127).all() for mask in masks)
