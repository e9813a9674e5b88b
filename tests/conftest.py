"""Shared fixtures: synthetic frames so no test needs a committed media file."""

from __future__ import annotations

import numpy as np
import pytest

from livethresh.synthetic import document_photo


def random_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), np.uint8)


def document_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Document-like content at any size, down to 1x1 (cropped from a rendered page)."""
    page, _ = document_photo(max(height, 64), max(width, 64), seed=seed)
    return np.ascontiguousarray(page[:height, :width])


@pytest.fixture
def doc_1080p() -> np.ndarray:
    return document_frame(1080, 1920)
