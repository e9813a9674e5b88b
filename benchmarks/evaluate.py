"""Quality of livethresh's presets and methods on real and synthetic pages, beside DoxaPy's.

By default, one table puts every preset and method side by side with Otsu and DoxaPy's
Sauvola, Wolf, NICK, ISauvola, Gatos and Su (``benchmarks/quality.py``), on real pages with
ground truth (the shared DIBCO 2011 printed tuning pages when present, and any ``--real DIR``)
and on the synthetic pages below: F-measure per real page, then mean F, worst F, pseudo-F,
PSNR and DRD on each set, and the mean F on papyrus-like synthetic pages
(:func:`livethresh.degraded.papyrus_page`), a stand-in for historical pages. ``--grid``
runs the grid search instead.

The synthetic data are :func:`livethresh.degraded.degraded_document` pages: six degradations
(uneven light, cast shadow, blur, noise, low contrast, bleed-through), three levels each, two
pages per level, 600x800, all with exact ground truth. Each method is scored with the DIBCO
measures (F-measure, pseudo-F, PSNR, DRD; :mod:`livethresh.metrics`).

The grid search has two parts. The window (``block_size``) and the pre-blur are settings of the
scene, shared by all local methods, so each is searched for every method. A method's own
parameters (k, R, p, q, t; C for mean and gaussian; the threshold of fixed) are then searched
as well, and the report says how far the method's defaults land from its best. Run::

    python benchmarks/evaluate.py [--real DIR]... [--per-page] [--pages 2] [--json]
    python benchmarks/evaluate.py --grid [--pages 2] [--json] [--page-example docs/page.png]

Everything is deterministic: rerunning gives the same numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality

from livethresh import Binarizer, ThresholdConfig, available_methods
from livethresh.binarize import method_class
from livethresh.degraded import DEGRADATIONS, degraded_document, papyrus_page
from livethresh.metrics import (
    Scores,
    TruthPage,
    ink_of,
    mean_scores,
    score,
    truth_pages,
    tuning_pages_folder,
)

WINDOWS = [11, 15, 25, 35, 51]
BLURS = [0, 3, 7]
#: Each method's own parameters and the values searched (the default is always included). A
#: method without a line here is searched over the windows and blurs only.
OWN_GRID: dict[str, dict[str, list[Any]]] = {
    "fixed": {"threshold": [64, 96, 127, 160, 192]},
    "otsu": {},
    "mean": {"c": [0.0, 2.0, 5.0, 10.0, 15.0]},
    "gaussian": {"c": [0.0, 2.0, 5.0, 10.0, 15.0]},
    "sauvola": {"k": [0.05, 0.1, 0.2, 0.3, 0.4, 0.5], "r": [64.0, 128.0]},
    "niblack": {"k": [-0.1, -0.2, -0.3, -0.5, -0.8]},
    "wolf": {"k": [0.1, 0.2, 0.3, 0.5, 0.7]},
    "nick": {"k": [-0.05, -0.1, -0.15, -0.2, -0.3]},
    "bradley": {"t": [5.0, 10.0, 15.0, 20.0, 30.0]},
    "phansalkar": {"k": [0.1, 0.25, 0.4], "p": [1.0, 2.0, 3.0], "q": [5.0, 10.0]},
}
Page = tuple[str, np.ndarray, np.ndarray]


def dataset(pages: int) -> list[Page]:
    """``(degradation, gray, true ink)`` for every degradation, level and page."""
    out = []
    for kind, level, seed in itertools.product(DEGRADATIONS, (1, 2, 3), range(pages)):
        gray, truth = degraded_document(kind, level, seed=seed)
        out.append((kind, gray, truth == 255))
    return out


def evaluate(config: ThresholdConfig, data: list[Page], full: bool = False) -> dict[str, Any]:
    """Mean F-measure over all pages (and per degradation, PSNR and DRD when ``full``)."""
    per_kind: dict[str, list[Scores | float]] = {kind: [] for kind in DEGRADATIONS}
    with Binarizer(config, data[0][1].shape) as run:
        for kind, gray, truth in data:
            ink = ink_of(run(gray), config)
            per_kind[kind].append(score(ink, truth) if full else _f(ink, truth))
    if not full:
        values = [v for vs in per_kind.values() for v in vs]
        return {"f": float(np.mean(values))}
    overall = mean_scores([s for vs in per_kind.values() for s in vs])  # type: ignore[misc]
    return {
        "f": overall.f_measure,
        "psnr": overall.psnr,
        "drd": overall.drd,
        "f_by_kind": {k: mean_scores(v).f_measure for k, v in per_kind.items()},  # type: ignore[arg-type]
    }


def _f(ink: np.ndarray, truth: np.ndarray) -> float:
    from livethresh.metrics import f_measure

    return f_measure(ink, truth)


def search(method: str, data: list[Page]) -> dict[str, Any]:
    """Grid search of one method; returns its defaults' and its best settings' scores."""
    base = ThresholdConfig(method=method)
    own = OWN_GRID.get(method, {})
    local = "block_size" in method_class(method).settings
    scene = list(itertools.product(WINDOWS if local else [base.block_size], BLURS))
    results: dict[tuple, float] = {}
    for (window, blur), values in itertools.product(scene, itertools.product(*own.values())):
        config = base.replace(block_size=window, blur=blur, **dict(zip(own, values, strict=True)))
        results[(window, blur, values)] = evaluate(config, data)["f"]
    best_key = max(results, key=results.__getitem__)
    # The method's own defaults, at the best window and blur for them.
    defaults = tuple(getattr(base, name) for name in own)
    at_defaults = {
        (window, blur): evaluate(base.replace(block_size=window, blur=blur), data)["f"]
        for window, blur in scene
    }
    default_scene = max(at_defaults, key=at_defaults.__getitem__)
    window, blur, values = best_key
    best_config = base.replace(block_size=window, blur=blur, **dict(zip(own, values, strict=True)))
    default_config = base.replace(block_size=default_scene[0], blur=default_scene[1])
    return {
        "cli_defaults": evaluate(base, data)["f"],
        "defaults": {
            "window": default_scene[0],
            "blur": default_scene[1],
            **dict(
                zip(
                    own,
                    (_shown(method, n, v) for n, v in zip(own, defaults, strict=True)),
                    strict=True,
                )
            ),
            **evaluate(default_config, data, full=True),
        },
        "best": {
            "window": window,
            "blur": blur,
            **dict(zip(own, values, strict=True)),
            **evaluate(best_config, data, full=True),
        },
    }


def _shown(method: str, name: str, value: Any) -> Any:
    """A default as the user sees it: an unset k or r shows the method's own value."""
    if value is not None:
        return value
    from livethresh.binarize.registry import method_defaults

    return method_defaults(name).get(method, "frame")


def page_example(path: Path) -> None:
    """scikit-image's ``data.page()`` scan binarized by Otsu, gaussian, Sauvola and others."""
    from skimage import data

    from livethresh.binarize import binarize
    from livethresh.demo import label

    gray = data.page()
    panels = [label(gray, "data.page()")]
    for name, config in [
        ("otsu", ThresholdConfig(method="otsu", blur=0)),
        ("gaussian 25, C 10", ThresholdConfig(method="gaussian", block_size=25, c=10, blur=0)),
        ("sauvola 25", ThresholdConfig(method="sauvola", block_size=25, blur=0)),
        ("wolf 25", ThresholdConfig(method="wolf", block_size=25, blur=0)),
        ("nick 25", ThresholdConfig(method="nick", block_size=25, blur=0)),
        ("phansalkar 25", ThresholdConfig(method="phansalkar", block_size=25, blur=0)),
        ("bradley 25", ThresholdConfig(method="bradley", block_size=25, blur=0)),
    ]:
        panels.append(label(binarize(gray, config), name))
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    rows = [np.hstack([a, gap, b]) for a, b in zip(panels[::2], panels[1::2], strict=True)]
    sheet = np.vstack([np.vstack([r, np.full((6, r.shape[1], 3), 255, np.uint8)]) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(path), cv2.cvtColor(sheet, cv2.COLOR_BGR2GRAY), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )


def print_tables(results: dict[str, dict[str, Any]]) -> None:
    short = {
        "uneven_light": "uneven light",
        "shadow": "shadow",
        "blur": "blur",
        "noise": "noise",
        "low_contrast": "low contrast",
        "bleed_through": "bleed-through",
    }
    print(
        "Quality at each method's default parameters (window and blur searched), mean over "
        "all pages; F per degradation:"
    )
    print("| method | window | blur | " + " | ".join(short.values()) + " | F | PSNR | DRD |")
    print("|---|--:|--:|" + "--:|" * (len(short) + 3))
    for method, r in results.items():
        d = r["defaults"]
        per = " | ".join(f"{d['f_by_kind'][k]:.1f}" for k in short)
        print(
            f"| {method} | {d['window'] if method not in ('fixed', 'otsu') else '-'} | "
            f"{d['blur']} | {per} | {d['f']:.1f} | {d['psnr']:.2f} | {d['drd']:.2f} |"
        )
    print()
    print(
        "Grid search: F at the CLI defaults (block 11, blur 7), at the method's default "
        "parameters (best window and blur), and at the best parameters found:"
    )
    print("| method | F, CLI defaults | F, default parameters | F, best | best parameters | gap |")
    print("|---|--:|--:|--:|---|--:|")
    for method, r in results.items():
        d, b = r["defaults"], r["best"]
        params = ", ".join(
            f"{k} {v:g}" for k, v in b.items() if k not in ("f", "psnr", "drd", "f_by_kind")
        )
        print(
            f"| {method} | {r['cli_defaults']:.1f} | {d['f']:.1f} | {b['f']:.1f} | {params} | "
            f"{b['f'] - d['f']:.1f} |"
        )
    uneven = {m: r["best"]["f_by_kind"]["uneven_light"] for m, r in results.items()}
    winner = max(uneven, key=uneven.__getitem__)
    print()
    print(
        f"Uneven light: best method {winner} F {uneven[winner]:.1f} vs global Otsu "
        f"{uneven['otsu']:.1f}: {uneven[winner] - uneven['otsu']:+.1f} points."
    )


def compare(args: argparse.Namespace) -> None:
    """The side-by-side table on the real pages and the synthetic ones (``quality.py``)."""
    folders = args.real if args.real is not None else [tuning_pages_folder()]
    real = [page for folder in folders if folder for page in truth_pages(folder)]
    synthetic = [TruthPage(kind, gray, truth) for kind, gray, truth in dataset(args.pages)]
    papyri = [
        TruthPage(f"papyrus {level}", gray, truth == 255)
        for level, seed in itertools.product((1, 2, 3), range(args.pages))
        for gray, truth in [papyrus_page(level, seed=seed)]
    ]
    table = quality.evaluate(quality.contenders(), real, synthetic, papyri)
    if args.json:
        rows = {
            name: {
                "real": {p.name: vars(s) for p, s in zip(real, row.real, strict=True)},
                "real_mean": vars(row.real_mean) if real else None,
                "synthetic": vars(row.synthetic) if row.synthetic else None,
                "papyri": vars(row.papyri) if row.papyri else None,
            }
            for name, row in table.items()
        }
        print(json.dumps(rows, indent=2, default=float))
        return
    where = ", ".join(str(f) for f in folders if f) or "none found"
    print(
        f"Real pages: {len(real)} from {where}; synthetic pages: {len(synthetic)} "
        "(6 degradations x 3 levels). F-measure in %, text = foreground; p-F: pseudo-F (recall "
        "on the truth's skeleton, DIBCO 2010); PSNR in dB; DRD (lower is better); papyri F: "
        f"{len(papyri)} papyrus-like synthetic pages (fibres, stains, faded ink; 3 levels)."
        " Each page binarized on its own, as a still image."
    )
    quality.print_table(table, real)
    if args.per_page and real:
        print()
        quality.print_per_page(table, real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="pages per degradation and level")
    parser.add_argument(
        "--real",
        type=Path,
        action="append",
        help="folder of real pages with ground truth (NAME.png + NAME_gt.png, "
        "NAME-GroundTruth.png, or a gt/ folder beside the pages); repeatable. "
        "Default: the shared DIBCO 2011 tuning pages, when present",
    )
    parser.add_argument(
        "--per-page", action="store_true", help="also F, pseudo-F, PSNR, DRD per page"
    )
    parser.add_argument(
        "--grid", action="store_true", help="the grid search on synthetic pages instead"
    )
    parser.add_argument("--methods", nargs="*", default=available_methods())
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--page-example", type=Path, help="also write the data.page() comparison PNG here"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.page_example:
        page_example(args.page_example)
    if not args.grid:
        compare(args)
        return
    data = dataset(args.pages)
    results = {method: search(method, data) for method in args.methods}
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        print_tables(results)


if __name__ == "__main__":
    main()
