"""Choose the classical document settings by leave-one-year-out on the real DIBCO pages.

Every candidate setting is scored on every page of ``../shared/data/dibco`` (DIBCO 2009 to
2014, 71 pages). For each year, the candidate with the best mean F-measure on the other five
years is chosen and scored on the held-out year: that held-out figure is what the choice is
worth on pages it was not fitted to. The candidate that the shipped preset takes is the one
with the best mean over all six years' held-out rows of the procedure, i.e. the one chosen
with every year (reported with its in-sample score beside, never instead).

    python benchmarks/tune_classical.py [--data ../shared/data/dibco] [--json]

Deterministic: the pages, the grid and the code fix every number.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livethresh import ThresholdConfig, resolve
from livethresh.binarize import binarize
from livethresh.metrics import TruthPage, ink_of, score, truth_pages

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dibco"


def grid() -> dict[str, ThresholdConfig]:
    """The candidates, by a name that says their settings. All write ink as 255 internally
    (``invert``) and are scored with text as foreground."""
    base = resolve(preset="document")
    rows = {"preset document (as shipped)": base}
    # An earlier, wider grid (k 0.3-0.6, blur 0/3/5; Wolf k 0.4-0.6 and Sauvola k 0.1-0.3 with
    # the automatic window, blur 0/3) put every held-out year's choice at background k 0.6, the
    # grid's edge, and every Wolf and Sauvola row at least 6 points lower: this grid goes on
    # from there and keeps the best row of each of the other two methods.
    for k, blur, despeckle in itertools.product((0.5, 0.6, 0.7, 0.8), (0, 3), (0, "auto")):
        name = f"background k {k} blur {blur} despeckle {despeckle}"
        rows[name] = base.replace(k=k, blur=blur, despeckle=despeckle)
    for method, k in (("wolf", 0.4), ("sauvola", 0.1)):
        rows[f"{method} auto k {k} blur 3"] = ThresholdConfig(
            method=method, k=k, blur=3, block_size=25, auto_scale=True, invert=True
        )
    rows["otsu"] = ThresholdConfig(method="otsu", blur=0, invert=True)
    return rows


def years(data: Path) -> dict[str, list[TruthPage]]:
    """The pages of each year folder."""
    return {y.name: truth_pages(y) for y in sorted(data.iterdir()) if y.is_dir()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    pages = years(args.data)
    candidates = grid()
    started = time.perf_counter()
    # f[candidate][year] = the F-measure of each page of that year.
    f = {
        name: {
            year: [score(ink_of(binarize(p.gray, config), config), p.truth).f_measure for p in ps]
            for year, ps in pages.items()
        }
        for name, config in candidates.items()
    }
    elapsed = time.perf_counter() - started

    def mean_f(name: str, chosen_years: list[str]) -> float:
        return float(np.mean([v for y in chosen_years for v in f[name][y]]))

    held_out = {}
    for year in pages:
        others = [y for y in pages if y != year]
        best = max(candidates, key=lambda n: mean_f(n, others))
        held_out[year] = {"chosen": best, "held_out_f": mean_f(best, [year])}
    overall = max(candidates, key=lambda n: mean_f(n, list(pages)))
    report = {
        "held_out": held_out,
        "loyo_mean_f": float(np.mean([r["held_out_f"] for r in held_out.values()])),
        "chosen_on_all": overall,
        "per_year_mean_f": {n: {y: float(np.mean(v)) for y, v in f[n].items()} for n in f},
        "seconds": elapsed,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(candidates)} candidates x {sum(map(len, pages.values()))} pages, {elapsed:.0f} s")
    print("| held-out year | chosen on the other five | held-out F |")
    print("|---|---|--:|")
    for year, r in held_out.items():
        print(f"| {year} | {r['chosen']} | {r['held_out_f']:.1f} |")
    print(f"| mean | | {report['loyo_mean_f']:.1f} |")
    print(f"\nChosen on all six years: {overall}")
    print("\nIn-sample F per year (mean of the year's pages):")
    print("| candidate | " + " | ".join(pages) + " | mean |")
    print("|---|" + "--:|" * (len(pages) + 1))
    ranked = sorted(f, key=lambda n: -mean_f(n, list(pages)))
    for name in ranked:
        cells = [f"{np.mean(f[name][y]):.1f}" for y in pages]
        print(f"| {name} | " + " | ".join(cells) + f" | {mean_f(name, list(pages)):.1f} |")


if __name__ == "__main__":
    main()
