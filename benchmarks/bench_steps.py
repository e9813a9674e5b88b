"""Per-frame time at 1080p of the document steps of issue 15, side by side with their baselines.

Steps: Su's method (livethresh ``su`` in 1 and 2 bands, DoxaPy's ``SU`` at the same window),
despeckling a document mask (``Despeckler``, both polarities), one stroke-width estimate
(``StrokeWidth``, what ``auto_scale`` runs on the first frame and then every ``PERIOD``-th), the
``background`` method's hysteresis (the whole-frame pass after its bands), and the ``document``
preset as a whole (background division; 1 band, and 2 as the pipeline runs it) beside the
presets it replaced (Wolf with the automatic window; gaussian, block 31, C 10, blur 3) and a
plain Otsu. Frames are the four 1080p document
photos of ``bench_document.py``; variants run in rotating blocks and the report gives the median
ms per frame. Run::

    python benchmarks/bench_steps.py [--rounds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_document import Variant, frames, measure
from quality import FORMER

from livethresh import Binarizer, ThresholdConfig, resolve
from livethresh.binarize.despeckle import Despeckler
from livethresh.binarize.scale import StrokeWidth, speck_area

SU_WINDOW = 17


def su_variants(inputs: list[np.ndarray]) -> dict[str, Variant]:
    config = ThresholdConfig(method="su", block_size=SU_WINDOW, blur=0)
    ours = {n: Binarizer(config, inputs[0].shape, threads=n) for n in (1, 2)}
    out = np.empty_like(inputs[0])
    variants: dict[str, Variant] = {
        f"su window {SU_WINDOW}, 1 band": lambda f: ours[1](f, out),
        f"su window {SU_WINDOW}, 2 bands": lambda f: ours[2](f, out),
    }
    try:
        import doxapy
    except ImportError:
        return variants
    doxa_out = np.empty_like(inputs[0])

    def doxa(frame: np.ndarray) -> object:
        binarizer = doxapy.Binarization(doxapy.Binarization.Algorithms.SU)
        binarizer.initialize(frame)
        binarizer.to_binary(doxa_out, {"window": SU_WINDOW, "minN": SU_WINDOW})
        return doxa_out

    variants[f"DoxaPy SU window {SU_WINDOW}"] = doxa
    return variants


def step_variants(inputs: list[np.ndarray]) -> tuple[dict[str, Variant], dict[str, float]]:
    """The despeckle and stroke-width steps on the document preset's own masks."""
    document = resolve(preset="document")
    with Binarizer(document, inputs[0].shape) as run:
        masks = [run(frame).copy() for frame in inputs]
        stroke = run._scale.stroke if run._scale else 0.0
        window = run.block_size
    by_frame = {id(frame): mask for frame, mask in zip(inputs, masks, strict=True)}
    despeckler = Despeckler(inputs[0].shape)
    measure_stroke = StrokeWidth(inputs[0].shape)
    scratch = np.empty_like(inputs[0])
    ink = 255 if document.invert else 0
    area = speck_area(stroke)

    def despeckle(frame: np.ndarray) -> object:
        np.copyto(scratch, by_frame[id(frame)])
        return despeckler(scratch, area, ink)

    def estimate(frame: np.ndarray) -> object:
        return measure_stroke(by_frame[id(frame)])

    # The hysteresis alone, in one band, on the marks the bands leave (the pass taken out of a
    # binarizer).
    fixed = document.replace(auto_scale=False, block_size=window)  # the measured window
    with Binarizer(fixed, inputs[0].shape) as run:
        hysteresis, run._frame_pass = run._frame_pass, None
        marks = {id(frame): run(frame).copy() for frame in inputs}
    assert hysteresis is not None

    def keep_cored(frame: np.ndarray) -> object:
        np.copyto(scratch, marks[id(frame)])
        hysteresis(scratch, lambda work: [work(0, len(scratch))])  # one band: its CPU time
        return scratch

    info = {"stroke": stroke, "window": float(window), "speck_area": area}
    steps = {
        "despeckle (copy + both polarities)": despeckle,
        "stroke width": estimate,
        "background's hysteresis (copy + pass)": keep_cored,
    }
    return steps, info


def preset_variants(inputs: list[np.ndarray]) -> dict[str, Variant]:
    out = np.empty_like(inputs[0])
    configs = {
        "document preset, 1 band": (resolve(preset="document"), 1),
        "document preset, 2 bands": (resolve(preset="document"), 2),
        **{f"{name}, 2 bands": (config, 2) for name, config in FORMER.items()},
        "otsu": (ThresholdConfig(method="otsu", blur=0), 1),
    }
    runs = {
        name: Binarizer(config, inputs[0].shape, threads=threads)
        for name, (config, threads) in configs.items()
    }
    return {name: (lambda f, run=run: run(f, out)) for name, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    inputs = frames()
    steps, info = step_variants(inputs)
    medians: dict[str, float] = {}
    for variants in (su_variants(inputs), steps, preset_variants(inputs)):
        medians.update(measure(variants, inputs, args.rounds))
    if args.json:
        print(json.dumps({"median_ms": medians, "document": info}, indent=2))
        return
    print(
        f"1080p document photos, {args.rounds} rounds x 4 frames, {os.cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.2f} after the run; document preset measured stroke "
        f"{info['stroke']:.1f} px -> window {info['window']:.0f}, speck area "
        f"{info['speck_area']:.1f} px; median ms per frame"
    )
    print("| step | ms per frame |")
    print("|---|--:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
