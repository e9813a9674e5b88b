"""Per-frame time of livethresh's document methods vs. DoxaPy and scikit-image, side by side.

Every variant binarizes the same four 1080p document frames with window 25 and no pre-blur
(the reference libraries do not blur). Variants run in short blocks whose order rotates round
by round, so machine noise hits them alike; the report gives median ms per frame and the ratio
to DoxaPy's time for the same method. DoxaPy is timed as ``initialize`` + ``to_binary``, which
is what a new frame costs it; scikit-image as ``image > threshold_*(image)``. livethresh runs
with OpenCV's own thread pool off (as the CLI does), in 1 band and in 2 parallel bands. Run::

    python benchmarks/bench_document.py [--rounds 15] [--skimage-rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livethresh import Binarizer, ThresholdConfig
from livethresh.binarize.registry import method_defaults
from livethresh.synthetic import document_photo

WINDOW = 25
METHODS = ["sauvola", "niblack", "wolf", "nick", "bradley", "phansalkar"]
DOXA = {"sauvola": "SAUVOLA", "niblack": "NIBLACK", "wolf": "WOLF", "nick": "NICK"}
SKIMAGE = {"sauvola", "niblack"}

Variant = Callable[[np.ndarray], object]


def frames(count: int = 4) -> list[np.ndarray]:
    return [document_photo(1080, 1920, seed=i, phase=i / count)[0] for i in range(count)]


def doxa_variant(method: str, k: float) -> Variant | None:
    try:
        import doxapy
    except ImportError:
        return None
    algorithm = getattr(doxapy.Binarization.Algorithms, DOXA[method])
    out = np.empty((1080, 1920), np.uint8)

    def run(frame: np.ndarray) -> object:
        binarizer = doxapy.Binarization(algorithm)
        binarizer.initialize(frame)
        binarizer.to_binary(out, {"window": WINDOW, "k": k})
        return out

    return run


def skimage_variant(method: str, k: float) -> Variant | None:
    try:
        from skimage.filters import threshold_niblack, threshold_sauvola
    except ImportError:
        return None
    if method == "sauvola":
        return lambda frame: frame > threshold_sauvola(frame, window_size=WINDOW, k=k, r=128)
    return lambda frame: frame > threshold_niblack(frame, window_size=WINDOW, k=-k)


def measure(variants: dict[str, Variant], inputs: list[np.ndarray], rounds: int) -> dict:
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            fn = variants[name]
            fn(inputs[0])  # warm-up, untimed: caches and the band threads
            for frame in inputs:
                start = time.perf_counter()
                fn(frame)
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_method(method: str, inputs: list[np.ndarray], rounds: int, sk_rounds: int) -> dict:
    k = method_defaults("k").get(method, 0.0)
    config = ThresholdConfig(method=method, block_size=WINDOW, blur=0)
    ours = {n: Binarizer(config, inputs[0].shape, threads=n) for n in (1, 2)}
    out = np.empty_like(inputs[0])
    variants: dict[str, Variant] = {
        "livethresh 1 band": lambda f: ours[1](f, out),
        "livethresh 2 bands": lambda f: ours[2](f, out),
    }
    doxa = doxa_variant(method, k) if method in DOXA else None
    if doxa is not None:
        variants["doxapy"] = doxa
        r = WINDOW // 2
        got, want = ours[1](inputs[0]).copy(), np.asarray(doxa(inputs[0]))
        agreement = float(np.mean(got[r:-r, r:-r] == want[r:-r, r:-r]))
        assert agreement >= 0.999, f"{method}: only {agreement:.4%} agree with DoxaPy"
    medians = measure(variants, inputs, rounds)
    sk = skimage_variant(method, k) if method in SKIMAGE else None
    if sk is not None and sk_rounds:
        medians.update(measure({"scikit-image": sk}, inputs[:2], sk_rounds))
    for run in ours.values():
        run.close()
    result: dict = {"median_ms": medians}
    if "doxapy" in medians:
        result["ratio_1_band"] = medians["livethresh 1 band"] / medians["doxapy"]
        result["ratio_2_bands"] = medians["livethresh 2 bands"] / medians["doxapy"]
    return result


def fmt(value: float | None, spec: str = "9.2f") -> str:
    return format(value, spec) if value is not None else format("-", ">" + spec.split(".")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--skimage-rounds",
        type=int,
        default=3,
        help="rounds of 2 frames for scikit-image (slow); 0 to skip it",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    inputs = frames()
    results = {m: bench_method(m, inputs, args.rounds, args.skimage_rounds) for m in METHODS}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    load = os.getloadavg()[0]  # other jobs on the machine take the second band's core
    print(
        f"1080p, window {WINDOW}, no blur, {args.rounds} rounds x 4 frames, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} after the run, "
        f"OpenCV {cv2.__version__}; median ms per frame; ratio = livethresh / DoxaPy"
    )
    print(
        f"| {'method':10} | {'livethresh 1 band':>17} | {'livethresh 2 bands':>18} | "
        f"{'DoxaPy':>9} | {'scikit-image':>12} | {'ratio 1 band':>12} | {'ratio 2 bands':>13} |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|")
    for method, r in results.items():
        m = r["median_ms"]
        print(
            f"| {method:10} | {m['livethresh 1 band']:17.2f} | {m['livethresh 2 bands']:18.2f} | "
            f"{fmt(m.get('doxapy'))} | {fmt(m.get('scikit-image'), '12.1f')} | "
            f"{fmt(r.get('ratio_1_band'), '12.2f')} | {fmt(r.get('ratio_2_bands'), '13.2f')} |"
        )


if __name__ == "__main__":
    main()
