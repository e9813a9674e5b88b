"""Per-frame time of the learned method beside ``--preset document`` (also with automatic
despeckling, which its leave-one-year-out folds chose) and gaussian, in one run.

Each variant binarizes the same document photos (:func:`livethresh.synthetic.document_photo`)
at 720p and 1080p, in 1 band and in 2 parallel bands, with OpenCV's own thread pool off as the
CLI runs it. Variants run in rotating rounds (``harness.py``) so that the machine's noise hits
them alike; the report gives the median ms per frame and the ratio to ``--preset document`` of
the same size and bands. Run::

    python benchmarks/bench_learned.py [--rounds 9] [--frames 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, rotating_rounds

from livethresh import Binarizer, ThresholdConfig, resolve
from livethresh.synthetic import document_photo

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
CONFIGS = {
    "learned": ThresholdConfig(method="learned", blur=0, invert=True),
    "preset document": resolve(preset="document"),
    "preset document --despeckle auto": resolve(preset="document").replace(despeckle="auto"),
    "gaussian (defaults)": ThresholdConfig(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--frames", type=int, default=4, help="frames per round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    variants, binarizers = {}, []
    for size, shape in SIZES.items():
        frames = [document_photo(*shape, seed=i, phase=i / 4)[0] for i in range(args.frames)]
        for name, config in CONFIGS.items():
            for threads in (1, 2):
                binarize = Binarizer(config, shape, threads=threads)
                binarizers.append(binarize)
                for frame in frames:  # warm up: threads, caches, the network's first run
                    binarize(frame)

                def run(binarize: Binarizer = binarize, frames: list = frames) -> dict:
                    started = time.perf_counter()
                    for frame in frames:
                        binarize(frame)
                    return {"ms": 1000 * (time.perf_counter() - started) / len(frames)}

                variants[f"{size} {threads} band{'s' if threads > 1 else ''} {name}"] = run
    samples = rotating_rounds(variants, args.rounds)
    for binarize in binarizers:
        binarize.close()
    medians = {name: statistics.median(s["ms"] for s in runs) for name, runs in samples.items()}
    if args.json:
        print(json.dumps({"machine": machine(), "ms": medians}))
        return
    print(machine())
    print("\n| size | bands | " + " | ".join(CONFIGS) + " | learned / document |")
    print("|---|--:|" + "--:|" * (len(CONFIGS) + 1))
    for size in SIZES:
        for threads in (1, 2):
            key = f"{size} {threads} band{'s' if threads > 1 else ''}"
            cells = [medians[f"{key} {name}"] for name in CONFIGS]
            ratio = cells[0] / cells[1]
            shown = " | ".join(f"{ms:.1f} ms" for ms in cells)
            print(f"| {size} | {threads} | {shown} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
