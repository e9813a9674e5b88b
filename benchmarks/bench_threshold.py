"""Per-frame time of livethresh's kernel vs. the direct OpenCV calls, side by side, at 1080p.

Both sides binarize the same four distinct document-like frames, in short blocks whose order
rotates round by round, so that machine noise hits them alike. The baseline is the seed
article's code (``GaussianBlur`` then ``adaptiveThreshold``), timed with OpenCV's default
thread pool and with one thread; the faster of the two is the one compared against. Run::

    python benchmarks/bench_threshold.py [--rounds 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import cv2
import numpy as np

from livethresh import Binarizer, ThresholdConfig
from livethresh.binarize.opencv import article_reference as reference
from livethresh.synthetic import document_photo

CASES = {
    "article: blur 7 + gaussian 11": ThresholdConfig(method="gaussian", block_size=11, blur=7),
    "blur 7 + mean 11": ThresholdConfig(method="mean", block_size=11, blur=7),
    "mean 11, no blur": ThresholdConfig(method="mean", block_size=11, blur=0),
    "gaussian 11, no blur": ThresholdConfig(method="gaussian", block_size=11, blur=0),
    "blur 7 + otsu": ThresholdConfig(method="otsu", blur=7),
}


def frames(count: int = 4) -> list[np.ndarray]:
    return [document_photo(1080, 1920, seed=i, phase=i / count)[0] for i in range(count)]


def timed(fn, frame) -> float:
    start = time.perf_counter()
    fn(frame)
    return (time.perf_counter() - start) * 1e3


def bench_case(config: ThresholdConfig, inputs: list[np.ndarray], rounds: int) -> dict:
    default_threads = cv2.getNumThreads()
    out = np.empty_like(inputs[0])
    ours = {n: Binarizer(config, inputs[0].shape, threads=n) for n in (1, 2)}
    for frame in inputs:
        for run in ours.values():
            assert np.array_equal(run(frame, out), reference(frame, config)), "not bit-exact"
    variants = {
        "cv2 (default threads)": (default_threads, lambda f: reference(f, config)),
        "cv2 (1 thread)": (1, lambda f: reference(f, config)),
        "livethresh 1 band": (1, lambda f: ours[1](f, out)),
        "livethresh 2 bands": (1, lambda f: ours[2](f, out)),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    # Variants run in short blocks, in rotating order, so that drift on a noisy machine hits all
    # of them; after OpenCV's own pool has run, its workers spin for a while, so every block
    # starts with a warm-up call that is not timed.
    names = list(variants)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            threads, fn = variants[name]
            cv2.setNumThreads(threads)
            fn(inputs[0])
            time.sleep(0.005)
            samples[name] += [timed(fn, frame) for frame in inputs]
    cv2.setNumThreads(default_threads)
    for run in ours.values():
        run.close()
    medians = {k: statistics.median(v) for k, v in samples.items()}
    baseline = min(medians["cv2 (default threads)"], medians["cv2 (1 thread)"])
    return {
        "median_ms": medians,
        "ratio_1_band": medians["livethresh 1 band"] / baseline,
        "ratio_2_bands": medians["livethresh 2 bands"] / baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    inputs = frames()
    results = {name: bench_case(config, inputs, args.rounds) for name, config in CASES.items()}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"1080p, {args.rounds} rounds x 4 frames, {os.cpu_count()} CPUs, "
        f"OpenCV {cv2.__version__}; median ms per frame; ratio = livethresh / best cv2"
    )
    print(
        f"{'case':32} {'cv2 dflt':>9} {'cv2 1thr':>9} {'lt 1band':>9} {'lt 2band':>9}"
        f" {'ratio 1':>8} {'ratio 2':>8}"
    )
    for name, r in results.items():
        m = r["median_ms"]
        print(
            f"{name:32} {m['cv2 (default threads)']:9.2f} {m['cv2 (1 thread)']:9.2f} "
            f"{m['livethresh 1 band']:9.2f} {m['livethresh 2 bands']:9.2f} "
            f"{r['ratio_1_band']:8.2f} {r['ratio_2_bands']:8.2f}"
        )


if __name__ == "__main__":
    main()
