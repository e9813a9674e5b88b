"""Draw the README's picture of temporal stabilization: docs/temporal-stability.png.

Top: a crop (3x zoom) of the article's mask of a still, noisy page (sensor noise sigma 8),
frame by frame and with ``--stabilize``, the pixels that changed since the previous frame in red.
Bottom:
the share of pixels that change, frame after frame, for both, while the page stays still for
two seconds and then pans by 3 px per frame. Drawn with OpenCV only. Run::

    python benchmarks/plot_stability.py [--out docs/temporal-stability.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from livethresh import Binarizer, resolve
from livethresh.metrics import flicker
from livethresh.synthetic import page_clip

SHAPE = (360, 640)
NOISE = 8.0
CROP = (slice(100, 170), slice(60, 260))
ZOOM = 3
RED, GREEN, GRAY, BLACK = (40, 40, 220), (60, 160, 40), (150, 150, 150), (0, 0, 0)


def frames() -> list[np.ndarray]:
    """Two seconds of the still page, then two seconds of it panning."""
    still = [gray for gray, _ in page_clip("still", 60, *SHAPE, noise=NOISE)]
    pan = [gray for gray, _ in page_clip("pan", 60, *SHAPE, noise=NOISE, seed=0)]
    return still + pan


def run(stabilize: bool, clip: list[np.ndarray]) -> tuple[list[float], np.ndarray]:
    """Flicker per frame (%), and the crop of frame 40 with its changed pixels in red."""
    config = resolve("article").replace(stabilize=stabilize)
    series, previous, picture = [], None, None
    with Binarizer(config, SHAPE) as binarize:
        for index, gray in enumerate(clip):
            mask = binarize(gray, timestamp=index / 30).copy()
            if previous is not None:
                series.append(100 * flicker(previous, mask))
                if index == 40:
                    picture = cv2.cvtColor(mask[CROP], cv2.COLOR_GRAY2BGR)
                    picture[(mask != previous)[CROP]] = RED
                    picture = cv2.resize(
                        picture, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST
                    )
            previous = mask
    assert picture is not None
    return series, picture


def caption(image: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((30, image.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, BLACK, 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def chart(plain: list[float], steady: list[float], width: int) -> np.ndarray:
    height, left, bottom, top = 260, 50, 40, 20
    canvas = np.full((height, width, 3), 255, np.uint8)
    peak = max(max(plain), max(steady)) * 1.1
    x_of = lambda i: int(left + i * (width - left - 20) / (len(plain) - 1))  # noqa: E731
    y_of = lambda v: int(height - bottom - v * (height - bottom - top) / peak)  # noqa: E731
    cv2.line(canvas, (left, height - bottom), (width - 20, height - bottom), GRAY, 1)
    cv2.line(canvas, (left, top), (left, height - bottom), GRAY, 1)
    for value in range(0, int(peak) + 1, 5):
        y = y_of(value)
        cv2.line(canvas, (left - 4, y), (left, y), GRAY, 1)
        cv2.putText(canvas, f"{value}%", (4, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, BLACK, 1)
    pan_x = x_of(59)
    cv2.line(canvas, (pan_x, top), (pan_x, height - bottom), GRAY, 1)
    for text, x in (("still page, noise sigma 8", left + 10), ("panning 3 px/frame", pan_x + 10)):
        cv2.putText(canvas, text, (x, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, BLACK, 1)
    for series, color in ((plain, RED), (steady, GREEN)):
        points = np.array([(x_of(i), y_of(v)) for i, v in enumerate(series)], np.int32)
        cv2.polylines(canvas, [points], False, color, 2, cv2.LINE_AA)
    legend = "share of mask pixels that change per frame:  red frame by frame,  green --stabilize"
    cv2.putText(
        canvas, legend, (left, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, BLACK, 1, cv2.LINE_AA
    )
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/temporal-stability.png"))
    args = parser.parse_args()
    clip = frames()
    plain, plain_crop = run(False, clip)
    steady, steady_crop = run(True, clip)
    still = slice(0, 59)
    crops = [
        caption(plain_crop, f"frame by frame: {np.mean(plain[still]):.1f}% change per frame"),
        caption(steady_crop, f"--stabilize: {np.mean(steady[still]):.2f}% change per frame"),
    ]
    gap = np.full((crops[0].shape[0], 12, 3), 200, np.uint8)
    top = np.hstack([crops[0], gap, crops[1]])
    picture = np.vstack([top, chart(plain, steady, top.shape[1])])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), picture)
    print(f"wrote {args.out} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
