"""Frames with no or little ink, as a live camera sees them, side by side with the baselines.

A camera pointed at an empty board, or at a card with a few words, under sensor noise. Otsu
splits any histogram, also one of noise alone, so a threshold taken from the frame's histogram
can fill a blank frame with specks. For each contender (the scene presets, the former Wolf
document preset, Otsu):

- **blank boards** (:func:`livethresh.degraded.blank_board`, 640x480, light falling from 200 to
  120): the share of pixels marked ink, in %, mean over 3 frames; 0 is right. White noise and
  camera-like correlated noise, sigma 1 to 24;
- **a few words** (:func:`livethresh.degraded.few_words`, 0.3% of the frame): F-measure, mean
  over 3 frames, ink 40 and 120 on paper 200, noise sigma 4 to 24.

Each frame is binarized on its own, as a still image. Run::

    python benchmarks/sparse_ink.py [--frames 3] [--json]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
from quality import FORMER, METHODS, PRESETS

from livethresh import resolve
from livethresh.binarize import binarize
from livethresh.degraded import blank_board, few_words
from livethresh.metrics import f_measure, ink_of

WOLF = "former document (Wolf, automatic window)"
CONTENDERS = {
    **{f"preset {name}": resolve(preset=name) for name in PRESETS if name != "article"},
    WOLF: FORMER[WOLF],
    "otsu": METHODS["otsu"],
}
BLANK_SIGMAS = (1, 2, 4, 8, 12, 16, 24)
WORDS = tuple((ink, sigma) for ink in (40, 120) for sigma in (4, 8, 16, 24))


def measure(frames: int) -> dict[str, dict[str, float]]:
    """Per contender: ``blank <kind> <sigma>`` -> % marked ink, ``words <ink> <sigma>`` -> F."""
    table: dict[str, dict[str, float]] = {}
    for name, config in CONTENDERS.items():
        row = table[name] = {}
        for correlated in (False, True):
            kind = "correlated" if correlated else "white"
            for sigma in BLANK_SIGMAS:
                shares = [
                    100 * float(ink_of(binarize(gray, config), config).mean())
                    for seed in range(frames)
                    for gray in [blank_board(sigma, correlated, seed=seed)]
                ]
                row[f"blank {kind} {sigma}"] = float(np.mean(shares))
        for ink, sigma in WORDS:
            scores = [
                f_measure(ink_of(binarize(gray, config), config), truth == 255)
                for seed in range(frames)
                for gray, truth in [few_words(sigma, ink, seed=seed)]
            ]
            row[f"words {ink} {sigma}"] = float(np.mean(scores))
    return table


def print_tables(table: dict[str, dict[str, float]]) -> None:
    for title, prefix in (
        ("Blank boards: % of pixels marked ink (0 is right)", "blank"),
        ("A few words: F-measure", "words"),
    ):
        keys = [key for key in next(iter(table.values())) if key.startswith(prefix)]
        heads = [key.removeprefix(prefix + " ").replace(" ", " sigma ") for key in keys]
        print(f"\n{title}\n\n| contender | " + " | ".join(heads) + " |")
        print("|---|" + "--:|" * len(heads))
        for name, row in table.items():
            print(f"| {name} | " + " | ".join(f"{row[key]:.1f}" for key in keys) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3, help="frames per case")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    table = measure(args.frames)
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print_tables(table)


if __name__ == "__main__":
    main()
