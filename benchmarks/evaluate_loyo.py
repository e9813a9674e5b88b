"""Leave-one-year-out scores of the learned method, beside the classical contenders.

For every DIBCO year (2009-2014) the learned method runs the network trained without that year
(``benchmarks/results/learned-YEAR.onnx``, written by ``train_learned.py --holdout YEAR``), so
its figures are held-out ones; the classical rows (``--preset document``, Otsu, the other
contenders of ``quality.py`` with ``--all``) are the same code on the same pages. Per year: mean
F-measure, pseudo-F, PSNR and DRD; then the mean over the six years and the worst year::

    python benchmarks/evaluate_loyo.py [--data ../shared/data/dibco] [--folds DIR] [--all]
        [--k 0.5] [--no-core] [--shipped] [--years 2009 ...] [--json OUT] [--worst-picture PNG]

``--shipped`` also scores the shipped network (trained on every year: in-sample figures).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality

from livethresh import ThresholdConfig, resolve
from livethresh.binarize import binarize, learned
from livethresh.metrics import Scores, TruthPage, ink_of, mean_scores, score, truth_pages

ROOT = Path(__file__).resolve().parents[1]
YEARS = ("2009", "2010", "2011", "2012", "2013", "2014")
Contender = Callable[[np.ndarray], np.ndarray]


def learned_contender(weights: Path, k: float | None) -> Contender:
    """The learned method with the network at ``weights``: ink of a still page."""
    config = ThresholdConfig(method="learned", blur=0, k=k)  # k None: the method's default

    def run(gray: np.ndarray) -> np.ndarray:
        saved, learned.WEIGHTS = learned.WEIGHTS, weights
        try:
            return ink_of(binarize(gray, config), config)
        finally:
            learned.WEIGHTS = saved

    return run


def classical(every: bool) -> dict[str, Contender]:
    former = "former document (background k 0.5)"
    rows = {
        "preset document": quality.livethresh_contender(resolve(preset="document")),
        former: quality.livethresh_contender(quality.FORMER[former]),
        "otsu": quality.livethresh_contender(ThresholdConfig(method="otsu", blur=0)),
    }
    if every:
        # The network's rows of quality.py (preset scan, learned 25) are the shipped network:
        # in sample here, and scored by --shipped under that name.
        in_sample = {"preset scan", "learned 25"}
        rows.update(
            (name, run)
            for name, run in quality.contenders().items()
            if name not in rows and name not in in_sample
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/dibco")
    parser.add_argument("--folds", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument("--years", nargs="+", default=YEARS, help="only these years")
    parser.add_argument("--classical", action="store_true", help="only the classical rows")
    parser.add_argument("--learned-only", action="store_true", help="no classical rows")
    parser.add_argument("--k", type=float, help="the learned method's k (default: its own)")
    parser.add_argument("--no-core", action="store_true", help="learned without its dark core")
    parser.add_argument("--core", type=float, help="learned's CORE (default: the module's)")
    parser.add_argument("--all", action="store_true", help="every contender of quality.py")
    parser.add_argument("--shipped", action="store_true", help="also the shipped network")
    parser.add_argument("--json", type=Path, help="write every page's scores here")
    parser.add_argument("--worst-picture", type=Path, help="the learned rows' worst page")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.core is not None:
        learned.CORE = args.core
    if args.no_core:
        learned.CORE = None
    years = [y for y in args.years if (args.data / y).is_dir()]
    pages = {year: truth_pages(args.data / year) for year in years}
    if not pages:
        raise SystemExit(f"no DIBCO years under {args.data}")
    rows: dict[str, dict[str, Contender]] = {}
    folds = {y: args.folds / f"learned-{y}.onnx" for y in pages}
    if args.classical:
        pass
    elif all(path.is_file() for path in folds.values()):
        rows["learned (held out)"] = {y: learned_contender(p, args.k) for y, p in folds.items()}
    else:
        print(f"no fold networks in {args.folds}: run train_learned.py --holdout YEAR first")
    if args.shipped:
        rows["learned (shipped, in-sample)"] = dict.fromkeys(
            pages, learned_contender(learned.WEIGHTS, args.k)
        )
    if not args.learned_only:
        rows.update({n: dict.fromkeys(pages, run) for n, run in classical(args.all).items()})
    table = {
        name: {y: [score(runs[y](p.gray), p.truth) for p in pages[y]] for y in pages}
        for name, runs in rows.items()
    }
    print_table(table)
    if args.json:
        args.json.write_text(json.dumps(as_json(table, pages), indent=1))
    if args.worst_picture and "learned (held out)" in rows:
        worst_picture(table, pages, rows, args.worst_picture)


def print_table(table: dict[str, dict[str, list[Scores]]]) -> None:
    years = list(next(iter(table.values())))
    for measure, label in [("f_measure", "F"), ("pseudo_f", "pseudo-F"), ("psnr", "PSNR"),
                           ("drd", "DRD")]:  # fmt: skip
        print(f"\n{label} per year (mean of its pages)\n")
        print("| contender | " + " | ".join(years) + " | mean | worst year |")
        print("|---|" + "--:|" * (len(years) + 2))
        for name, per_year in table.items():
            values = [getattr(mean_scores(per_year[y]), measure) for y in years]
            worst = max(values) if measure == "drd" else min(values)
            cells = " | ".join(f"{v:.1f}" if measure != "drd" else f"{v:.2f}" for v in values)
            mean = np.mean(values)
            print(f"| {name} | {cells} | {mean:.2f} | {worst:.1f} |")


def as_json(table: dict[str, dict[str, list[Scores]]], pages: dict[str, list[TruthPage]]) -> dict:
    return {
        name: {
            y: {p.name: vars(s) for p, s in zip(pages[y], scores, strict=True)}
            for y, scores in per_year.items()
        }
        for name, per_year in table.items()
    }


def worst_picture(
    table: dict[str, dict[str, list[Scores]]],
    pages: dict[str, list[TruthPage]],
    rows: dict[str, dict[str, Contender]],
    path: Path,
) -> None:
    """The page the held-out learned method scores worst on: original, preset, learned."""
    held = table["learned (held out)"]
    year, index = min(
        ((y, i) for y in held for i in range(len(held[y]))),
        key=lambda t: held[t[0]][t[1]].f_measure,
    )
    page = pages[year][index]
    preset = rows["preset document"][year](page.gray)
    mine = rows["learned (held out)"][year](page.gray)
    width = 600
    height = max(1, round(page.gray.shape[0] * width / page.gray.shape[1]))
    panels = [page.gray, np.where(preset, 0, 255), np.where(mine, 0, 255)]
    small = [cv2.resize(p.astype(np.uint8), (width, height), interpolation=cv2.INTER_AREA)
             for p in panels]  # fmt: skip
    cv2.imwrite(str(path), np.vstack(small), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    f_preset = score(preset, page.truth).f_measure
    print(
        f"\nworst held-out page: {page.name} (learned F {held[year][index].f_measure:.1f}, "
        f"preset document F {f_preset:.1f}) -> {path}: original, preset document, learned"
    )


if __name__ == "__main__":
    main()
