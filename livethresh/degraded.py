"""Degraded pages with exact ground truth: the synthetic sets that quality is measured on.

``benchmarks/evaluate.py`` scores every preset and method on them beside the real pages:
:func:`degraded_document`, printed pages under one degradation at three levels, and
:func:`papyrus_page`, papyrus-like pages, a stand-in for historical ones. Both start from the
text that :func:`livethresh.synthetic.render_text_page` renders. Live cameras also see frames
with no or little ink, which ``benchmarks/sparse_ink.py`` scores: :func:`blank_board` and
:func:`few_words`.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np

from livethresh.synthetic import illumination, render_text_page

DEGRADATIONS = ("uneven_light", "shadow", "blur", "noise", "low_contrast", "bleed_through")


def degraded_document(
    kind: str, level: int, height: int = 600, width: int = 800, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A page with one kind of degradation at one level, and its ground truth (255 = ink).

    Every page starts as rendered text photographed flat (ink 40, paper 235, sensor noise 2),
    then one degradation is applied:

    - ``uneven_light``: the diagonal falloff and soft shadow band of :func:`illumination`,
      deepened with the level;
    - ``shadow``: a hard-edged cast shadow over part of the page (light down to 60/40/25 %);
    - ``blur``: defocus, Gaussian sigma 1, 1.5, 2 pixels;
    - ``noise``: sensor noise, sigma 8, 16, 24 gray levels;
    - ``low_contrast``: ink only 90, 50, 30 gray levels darker than the paper;
    - ``bleed_through``: the mirrored, blurred text of the other side showing through, 25, 45,
      65 gray levels dark.

    Raises:
        ValueError: An unknown kind or a level outside 1..3.
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}: use one of {', '.join(DEGRADATIONS)}")
    if level not in (1, 2, 3):
        raise ValueError(f"degradation level must be 1, 2 or 3, got {level!r}")
    step = level - 1
    rng = np.random.default_rng(seed)
    page = render_text_page(height, width, seed)
    truth = np.where(page < 128, 255, 0).astype(np.uint8)
    paper, ink = 235.0, 40.0
    if kind == "low_contrast":
        ink = paper - (90.0, 50.0, 30.0)[step]
    shot: np.ndarray = ink + (paper - ink) * (page.astype(np.float32) / 255.0)
    if kind == "bleed_through":
        back = render_text_page(height, width, seed + 1000)[:, ::-1]
        ghost = cv2.GaussianBlur(255.0 - back.astype(np.float32), (0, 0), 1.5) / 255.0
        shot -= (25.0, 45.0, 65.0)[step] * ghost
    if kind == "uneven_light":
        flat = illumination(height, width, phase=0.3 + 0.2 * seed)
        shot *= 1.0 - (0.4, 0.6, 0.8)[step] * (1.0 - flat) / 0.8
    if kind == "shadow":
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        edge = (xx / width + 0.5 * yy / height) - (0.55 + 0.1 * rng.random())
        cast = cv2.GaussianBlur((edge > 0).astype(np.float32), (0, 0), 3.0)
        shot *= 1.0 - (0.4, 0.6, 0.75)[step] * cast
    if kind == "blur":
        shot = cv2.GaussianBlur(shot, (0, 0), (1.0, 1.5, 2.0)[step])
    sigma = (8.0, 16.0, 24.0)[step] if kind == "noise" else 2.0
    shot += rng.normal(0.0, sigma, shot.shape).astype(np.float32)
    return np.clip(shot, 0, 255).astype(np.uint8), truth


def papyrus_page(
    level: int, height: int = 600, width: int = 800, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A papyrus-like page and its ground truth (255 = ink): a stand-in for historical pages.

    Rendered text on a fibrous sheet (noise smoothed along the rows and, fainter, along the
    columns), with mottling, two dozen dark stains and sensor noise 4; the ink darkens the
    sheet by 65% at level 1; at level 2 it is faded unevenly across the page (to 45% of its
    strength in places); at level 3 it is faded and darkens the sheet by 45% only.

    Raises:
        ValueError: A level outside 1..3.
    """
    if level not in (1, 2, 3):
        raise ValueError(f"papyrus level must be 1, 2 or 3, got {level!r}")
    rng = np.random.default_rng(seed)
    text = render_text_page(height, width, seed) < 128

    def field(sigma_x: float, sigma_y: float, cell: int = 1) -> np.ndarray:
        """Smooth random values of mean 0 and deviation 1, drawn every ``cell`` pixels."""
        cells = rng.normal(0, 1, (height // cell, width // cell)).astype(np.float32)
        noise = cv2.resize(
            cv2.GaussianBlur(cells, (0, 0), sigma_x, sigmaY=sigma_y), (width, height)
        )
        return cast(np.ndarray, (noise - noise.mean()) / noise.std())

    sheet = 150 + 14 * field(25, 1.2) + 10 * field(1.2, 25) + 18 * field(2, 2, cell=20)
    stains = np.zeros((height, width), np.float32)
    for _ in range(25):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(stains, centre, int(rng.integers(3, 25)), 1.0, -1)
    sheet -= 45 * cv2.GaussianBlur(stains, (0, 0), 3.0)
    strength = np.ones((height, width), np.float32)
    if level > 1:
        fade = field(1, 1, cell=40)
        strength = 0.45 + 0.55 * (fade - fade.min()) / (fade.max() - fade.min())
    darkening = 0.45 if level == 3 else 0.65
    ink = cv2.GaussianBlur(text.astype(np.float32), (0, 0), 0.8) * strength
    shot = sheet * (1 - darkening * ink) + rng.normal(0, 4, (height, width))
    return np.clip(shot, 0, 255).astype(np.uint8), np.where(text, 255, 0).astype(np.uint8)


def camera_noise(
    shape: tuple[int, int], sigma: float, rng: np.random.Generator, correlated: bool = False
) -> np.ndarray:
    """Sensor noise of deviation ``sigma``: white, or spread over neighbours as a camera's
    demosaicing and denoising spread it (twice as strong, blurred with sigma 1)."""
    if not correlated:
        return rng.normal(0.0, sigma, shape)
    return cast(np.ndarray, cv2.GaussianBlur(rng.normal(0.0, 2 * sigma, shape), (0, 0), 1.0))


def blank_board(
    sigma: float, correlated: bool = False, height: int = 480, width: int = 640, seed: int = 0
) -> np.ndarray:
    """A frame without ink: a board lit from one side (200 falling to 120) under noise."""
    light = np.linspace(200.0, 120.0, width)[None, :]
    noise = camera_noise((height, width), sigma, np.random.default_rng(seed), correlated)
    board: np.ndarray = np.clip(light + noise, 0, 255).astype(np.uint8)
    return board


def few_words(
    sigma: float, ink: int = 40, height: int = 480, width: int = 640, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two words (0.3% of the frame, gray ``ink`` on paper 200) under noise, and their truth."""
    clean = np.full((height, width), 200, np.uint8)
    origin = (width * 5 // 16, height // 2)
    cv2.putText(clean, "hi there", origin, cv2.FONT_HERSHEY_SIMPLEX, 1, ink, 2)
    truth = np.where(clean < (200 + ink) // 2, 255, 0).astype(np.uint8)
    noise = camera_noise((height, width), sigma, np.random.default_rng(seed))
    return np.clip(clean + noise, 0, 255).astype(np.uint8), truth
