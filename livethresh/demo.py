"""The zero-setup demo: a synthetic page under uneven, moving light, binarized as video.

It reproduces the seed article's point with no camera and no file: one global Otsu threshold
loses the text in the shadow, while adaptive thresholding keeps it everywhere. It also runs the
main job end to end: a clip of the page with a shadow sweeping across it, and a webcam's sensor
noise, stands in for camera footage and is transcoded into a binarized video twice: frame by
frame, and with temporal stabilization (``--stabilize``), whose mask flickers less and
compresses smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from livethresh.binarize.binarizer import binarize
from livethresh.config import ThresholdConfig, load_preset
from livethresh.metrics import mean_flicker
from livethresh.synthetic import document_photo, write_document_clip
from livethresh.transcode import TranscodeResult, transcode

#: Sensor noise of the demo's clip, in gray levels: an ordinary webcam indoors.
DEMO_NOISE = 6.0


@dataclass(frozen=True)
class DemoOutputs:
    """Files written by :func:`run_demo`, and how the two binarized clips compare.

    Attributes:
        flicker: Mean share of mask pixels that change from frame to frame, in
            ``binarized`` and in ``stabilized``.
    """

    page: Path
    comparison: Path
    mask: Path
    clip: Path
    binarized: Path
    result: TranscodeResult
    stabilized: Path
    stabilized_result: TranscodeResult
    flicker: tuple[float, float]

    def report(self) -> list[str]:
        """What was written and what to try next, one line each, for the console."""
        return [
            f"comparison:  {self.comparison}  "
            "(input | global Otsu | adaptive: the article's point)",
            f"page, mask:  {self.page}, {self.mask}",
            f"input clip:  {self.clip}  (a shadow sweeps across the page)",
            f"transcoded frame by frame:  {self.result.summary()}",
            f"transcoded with --stabilize: {self.stabilized_result.summary()}",
            *(
                f"flicker {name:<17} {100 * flicker:.2f}% of pixels change per frame in "
                f"{path} ({path.stat().st_size / 1024:.0f} KiB)"
                for name, flicker, path in (
                    ("frame by frame:", self.flicker[0], self.binarized),
                    ("with --stabilize:", self.flicker[1], self.stabilized),
                )
            ),
            "",
            "Try next:",
            f"  livethresh preview {self.clip} --side-by-side      tune it live (press h for keys)",
            f"  livethresh image {self.page} mask.png --method sauvola",
            f"  livethresh transcode {self.clip} out.mp4 --preset document --side-by-side",
            "  livethresh presets                         scenes with ready-made settings",
        ]


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Return a gray copy of a gray image with a caption bar on top."""
    bar = np.full((40, image.shape[1]), 32, np.uint8)
    cv2.putText(bar, text, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2, cv2.LINE_AA)
    return np.vstack([bar, image])


def comparison_image(gray: np.ndarray, adaptive: ThresholdConfig) -> np.ndarray:
    """Input, global Otsu and adaptive mask side by side, each captioned (one gray image)."""
    otsu = binarize(gray, adaptive.replace(method="otsu"))
    mask = binarize(gray, adaptive)
    panels = [
        label(gray, "input: uneven light"),
        label(otsu, "global Otsu"),
        label(mask, f"adaptive {adaptive.method}, block {adaptive.block_size}, C {adaptive.c:g}"),
    ]
    gap = np.full((panels[0].shape[0], 8), 255, np.uint8)
    return np.hstack([panels[0], gap, panels[1], gap, panels[2]])


def run_demo(outdir: Path, seed: int = 0, frames: int = 90) -> DemoOutputs:
    """Write the demo's files into ``outdir`` (created if missing; its files are replaced).

    Args:
        outdir: Folder for the page, mask and comparison PNGs and the two clips.
        seed: Which page of text to render.
        frames: Length of the synthetic clip (30 frames per second).
    """
    outdir.mkdir(parents=True, exist_ok=True)
    gray, _ = document_photo(540, 720, seed=seed)
    config = load_preset("article")
    page, mask, comparison = outdir / "page.png", outdir / "mask.png", outdir / "comparison.png"
    cv2.imwrite(str(page), gray)
    cv2.imwrite(str(mask), binarize(gray, config))
    cv2.imwrite(str(comparison), comparison_image(gray, config))
    clip = write_document_clip(outdir / "clip.mp4", frames=frames, noise=DEMO_NOISE)
    binarized, stabilized = outdir / "clip-binarized.mp4", outdir / "clip-stabilized.mp4"
    result = transcode(str(clip), str(binarized), config, overwrite=True)
    steady = transcode(str(clip), str(stabilized), config.replace(stabilize=True), overwrite=True)
    flicker = (clip_flicker(binarized), clip_flicker(stabilized))
    return DemoOutputs(page, comparison, mask, clip, binarized, result, stabilized, steady, flicker)


def clip_flicker(path: Path) -> float:
    """The mean flicker of the masks in a video file (decoded, then split at mid-gray)."""
    with av.open(str(path)) as container:
        return mean_flicker(f.to_ndarray(format="gray") > 127 for f in container.decode(video=0))
