"""Every method is byte-identical to the seed article's direct OpenCV calls.

The reference is :func:`livethresh.binarize.opencv.article_reference`: ``cv2.GaussianBlur`` then
``cv2.threshold`` or ``cv2.adaptiveThreshold``, with the article's arguments.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from livethresh import Binarizer, ThresholdConfig
from livethresh.binarize.opencv import article_reference as reference
from tests.helpers import document_frame, random_frame

SMALL_SIZES = [(1, 1), (3, 5), (641, 479)]
BLOCKS = [3, 5, 11, 31, 101]  # 101 is larger than the 1x1, 3x5 frames
OFFSETS = [-7.0, -2.5, 0.0, 0.4, 2.0, 7.9]
BLURS = [0, 3, 7]
CONTENT = {"random": random_frame, "document": document_frame}


def configs(methods: list[str], blocks: list[int], offsets: list[float], blurs: list[int]):
    for method, blur, invert in itertools.product(methods, blurs, (False, True)):
        if method in ("fixed", "otsu"):
            for threshold in (0, 100, 127.5, 255) if method == "fixed" else (127,):
                yield ThresholdConfig(method=method, blur=blur, invert=invert, threshold=threshold)
        else:
            for block, c in itertools.product(blocks, offsets):
                yield ThresholdConfig(
                    method=method, block_size=block, c=c, blur=blur, invert=invert
                )


def assert_exact(gray: np.ndarray, config: ThresholdConfig, *threads: int) -> None:
    """The Binarizer with each thread count against one reference mask."""
    want = reference(gray, config)
    for count in threads:
        with Binarizer(config, gray.shape, threads=count) as run:
            got = run(gray)
        if not np.array_equal(got, want):
            diff = np.argwhere(got != want)
            pytest.fail(f"{config} threads={count}: {len(diff)} pixels differ, first at {diff[0]}")


@pytest.mark.parametrize("content", CONTENT)
@pytest.mark.parametrize("size", SMALL_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_small_and_odd_frames_full_grid(size, content):
    gray = CONTENT[content](*size, seed=size[0])
    for config in configs(["fixed", "otsu", "mean", "gaussian"], BLOCKS, OFFSETS, BLURS):
        assert_exact(gray, config, 1, 2)


@pytest.mark.parametrize("content", CONTENT)
@pytest.mark.parametrize("method", ["fixed", "otsu", "mean", "gaussian"])
def test_1080p_grid(method, content):
    gray = CONTENT[content](1080, 1920, seed=7)
    for config in configs([method], [3, 11, 51, 101], [-3.5, 0.0, 2.0, 5.5], [0, 3, 7]):
        assert_exact(gray, config, 1, 2, 3)


@pytest.mark.parametrize("block", list(range(3, 102, 2)))
def test_every_block_size_3_to_101(block):
    gray = document_frame(240, 320, seed=block)
    for method, invert in itertools.product(("mean", "gaussian"), (False, True)):
        assert_exact(
            gray,
            ThresholdConfig(method=method, block_size=block, c=1.5, invert=invert, blur=3),
            2,
        )


def test_strided_luma_plane_is_read_in_place():
    """A view with padded rows (like a decoder's luma plane) gives the same mask as a copy."""
    padded = random_frame(480, 704, seed=3)
    view = padded[:, :640]
    assert not view.flags.c_contiguous
    config = ThresholdConfig(method="mean", block_size=15, c=3)
    with Binarizer(config, view.shape, threads=2) as run:
        got = run(view).copy()
    assert np.array_equal(got, reference(np.ascontiguousarray(view), config))


def test_matches_article_code_on_color_input():
    """The article: cvtColor(BGR2GRAY), GaussianBlur 7x7, adaptiveThreshold gaussian."""
    rng = np.random.default_rng(5)
    bgr = rng.integers(0, 256, (200, 300, 3), np.uint8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    article = cv2.adaptiveThreshold(
        cv2.GaussianBlur(gray, (7, 7), 0),
        255,
        cv2.ADAPTIVE_THRESH_GAUSSIAN_C,
        cv2.THRESH_BINARY,
        11,
        2,
    )
    with Binarizer(ThresholdConfig(), gray.shape) as run:
        assert np.array_equal(run(gray), article)
