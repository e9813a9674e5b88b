"""The binarizer's contract: preallocated buffers, caller-given output, shape checks."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import numpy as np
import pytest

from livethresh import (
    Binarizer,
    FrameShapeError,
    LivethreshError,
    ThresholdConfig,
    available_methods,
)
from livethresh.binarize import binarize
from livethresh.binarize.bands import plan_bands
from livethresh.binarize.opencv import article_reference as reference
from tests.helpers import document_frame, random_frame, run_binarizer

FRAME_BYTES = 1080 * 1920


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("method", available_methods())
def test_no_frame_sized_allocation_per_call(method, threads, doc_1080p):
    """60 calls at 1080p allocate (through Python and numpy) far less than one frame: a leak
    of 2 KB a call would show."""
    out = np.empty_like(doc_1080p)
    with Binarizer(ThresholdConfig(method=method), doc_1080p.shape, threads=threads) as run:
        for _ in range(3):  # warm up: thread pool, caches
            run(doc_1080p, out)
        gc.collect()
        tracemalloc.start()
        try:
            for _ in range(60):
                run(doc_1080p, out)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < FRAME_BYTES // 20, f"{method}: peak {peak} bytes traced over 60 calls"


@pytest.mark.parametrize("method", available_methods())
@pytest.mark.parametrize(("invert", "blur"), [(False, 0), (True, 3)])
def test_bands_equal_the_whole_frame(method, invert, blur):
    """Every method, including those that gather frame statistics or finish the whole mask
    (Wolf, Su, background's hysteresis), gives the same mask in bands as in one piece."""
    gray = document_frame(400, 500, seed=1)
    config = ThresholdConfig(method=method, block_size=9, blur=blur, invert=invert)
    whole = run_binarizer(gray, config, threads=1)
    assert np.array_equal(run_binarizer(gray, config, threads=4), whole)
    assert set(np.unique(whole)) == {0, 255}
    assert np.array_equal(run_binarizer(gray, config.replace(invert=not invert)), 255 - whole)


@pytest.mark.parametrize("method", available_methods())
def test_every_method_takes_the_smallest_frames(method):
    """1x1 and other slivers, flat or noisy, with the automatic window and despeckling: a mask
    of 0 and 255 comes out (OpenCV reads a 1x1 array beside a number as two scalars)."""
    for shape in [(1, 1), (1, 7), (7, 1), (2, 3)]:
        for gray in (np.zeros(shape, np.uint8), random_frame(*shape)):
            config = ThresholdConfig(method=method, blur=0, auto_scale=True, despeckle="auto")
            mask = run_binarizer(gray, config)
            assert mask.shape == shape and set(np.unique(mask)) <= {0, 255}


def test_tracemalloc_would_see_a_frame_sized_allocation(doc_1080p):
    """Guard for the test above: the naive OpenCV call's output allocation is caught."""
    config = ThresholdConfig(method="mean")
    tracemalloc.start()
    try:
        reference(doc_1080p, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak >= FRAME_BYTES


def test_writes_into_caller_output_and_returns_it():
    gray = document_frame(120, 160)
    out = np.full(gray.shape, 7, np.uint8)
    with Binarizer(ThresholdConfig(), gray.shape) as run:
        result = run(gray, out)
        assert result is out
        assert np.array_equal(out, reference(gray, ThresholdConfig()))
        assert run(gray) is run.out


def test_other_shape_is_a_clear_error():
    with Binarizer(ThresholdConfig(), (100, 200)) as run:
        with pytest.raises(FrameShapeError, match=r"shape 100x201 .* built for 100x200"):
            run(random_frame(100, 201))
        with pytest.raises(FrameShapeError, match="2-D uint8"):
            run(np.zeros((100, 200), np.float32))
        with pytest.raises(FrameShapeError, match="2-D uint8"):
            run(np.zeros((100, 200, 3), np.uint8))
        with pytest.raises(FrameShapeError, match="out has shape"):
            run(random_frame(100, 200), np.empty((10, 10), np.uint8))
        with pytest.raises(FrameShapeError, match="C-contiguous"):
            run(random_frame(100, 200), np.empty((100, 400), np.uint8)[:, :200])


def test_empty_frame_is_refused():
    with pytest.raises(FrameShapeError, match="empty"):
        Binarizer(ThresholdConfig(), (0, 10))


def test_bands_cover_every_row_once_with_context():
    for height, bands, context in [(1080, 2, 8), (1080, 3, 55), (100, 4, 3), (1, 2, 0)]:
        spans = plan_bands(height, bands, context)
        rows = [r for _, start, stop, _ in spans for r in range(start, stop)]
        assert rows == list(range(height))
        for top, start, stop, bottom in spans:
            assert top == max(0, start - context) and bottom == min(height, stop + context)


def test_global_method_shares_only_the_blur_and_small_frames_are_not_split():
    assert Binarizer(ThresholdConfig(method="otsu"), (1080, 1920), threads=2).threads == 2
    assert Binarizer(ThresholdConfig(method="otsu", blur=0), (1080, 1920), threads=2).threads == 1
    assert Binarizer(ThresholdConfig(), (1080, 1920), threads=2).threads == 2
    assert Binarizer(ThresholdConfig(), (50, 1920), threads=2).threads == 1


def test_close_is_idempotent_and_a_closed_binarizer_refuses_frames():
    """Use after close is a lifetime bug: refused, whatever the number of bands."""
    gray = document_frame(300, 200)
    run = Binarizer(ThresholdConfig(), gray.shape, threads=3)
    assert run.threads == 3
    assert np.array_equal(run(gray), reference(gray, ThresholdConfig()))
    run.close()
    run.close()
    with pytest.raises(LivethreshError, match="closed"):
        run(gray)


def test_binarize_one_shot_returns_an_owned_copy():
    gray = document_frame(64, 64)
    first = binarize(gray)
    assert first.base is None or first.base is not gray
    assert np.array_equal(first, reference(gray, ThresholdConfig()))


@pytest.mark.parametrize("shape", [(240, 320, 3), (240,), "240x320", (240.0, 320)])
def test_a_shape_that_is_not_height_width_is_a_clear_error(shape: Any) -> None:
    with pytest.raises(FrameShapeError, match=r"must be \(height, width\) of gray frames") as err:
        Binarizer(ThresholdConfig(), shape)
    if len(shape) == 3:
        assert "image.shape[:2] (240, 320)" in str(err.value)


def test_a_closed_binarizer_says_so_and_a_new_one_gives_the_same_mask() -> None:
    """The message names the closed Binarizer; closing frees nothing a new one needs."""
    gray = document_frame(64, 80)
    binarizer = Binarizer(ThresholdConfig(), gray.shape, threads=2)
    first = binarizer(gray).copy()
    binarizer.close()
    binarizer.close()  # idempotent
    with pytest.raises(LivethreshError, match="this Binarizer is closed"):
        binarizer(gray)
    with Binarizer(ThresholdConfig(), gray.shape) as fresh:
        assert np.array_equal(fresh(gray), first)
