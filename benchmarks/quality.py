"""The side-by-side quality table: livethresh's presets and methods, Otsu, and DoxaPy's methods.

Every contender turns a gray page into an ink mask. Each page is binarized on its own, as a
still image (:func:`livethresh.binarize`), so an automatic window starts afresh on every page.
DoxaPy contenders run at DoxaPy's own defaults (they are skipped when doxapy is not installed);
DoxaPy writes ink as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from livethresh import ThresholdConfig, available_methods, resolve
from livethresh.binarize import binarize
from livethresh.metrics import Scores, TruthPage, ink_of, mean_scores, score

Contender = Callable[[np.ndarray], np.ndarray]
#: livethresh presets in the table, then livethresh methods (window 25, no blur, own defaults).
PRESETS = ("document", "scan", "receipt", "whiteboard", "lowlight-webcam", "article")
#: The document presets of earlier releases, measured with the same code.
FORMER = {
    "former document (background k 0.5)": ThresholdConfig(
        method="background", k=0.5, blur=0, block_size=11, auto_scale=True, invert=True
    ),
    "former document (Wolf, automatic window)": ThresholdConfig(
        method="wolf", k=0.6, blur=0, block_size=35, auto_scale=True, invert=True
    ),
    "first document (gaussian 31, C 10, blur 3)": ThresholdConfig(
        method="gaussian", block_size=31, c=10.0, blur=3, invert=True
    ),
}
METHODS: dict[str, ThresholdConfig] = {
    "otsu": ThresholdConfig(method="otsu", blur=0),
    "gaussian 25, C 10": ThresholdConfig(method="gaussian", block_size=25, c=10.0, blur=0),
    "su 9, k 0 (DoxaPy's Su)": ThresholdConfig(method="su", block_size=9, k=0.0, blur=0),
    **{
        f"{name} 25": ThresholdConfig(method=name, block_size=25, blur=0)
        for name in available_methods()
        if name not in ("fixed", "otsu", "mean", "gaussian")  # the article's, shown above
    },
}
#: DoxaPy's algorithms compared, by the name shown.
DOXAPY = {
    "Sauvola": "SAUVOLA",
    "Wolf": "WOLF",
    "NICK": "NICK",
    "ISauvola": "ISAUVOLA",
    "Gatos": "GATOS",
    "Su": "SU",
}


def livethresh_contender(config: ThresholdConfig) -> Contender:
    return lambda gray: ink_of(binarize(gray, config), config)


def doxapy_contender(algorithm: str) -> Contender:
    import doxapy

    kind = getattr(doxapy.Binarization.Algorithms, algorithm)

    def run(gray: np.ndarray) -> np.ndarray:
        out = np.empty_like(gray)
        binarizer = doxapy.Binarization(kind)
        binarizer.initialize(np.ascontiguousarray(gray))
        binarizer.to_binary(out, {})
        return out == 0

    return run


def contenders(presets: bool = True, methods: bool = True) -> dict[str, Contender]:
    """Everything the table compares, by row name."""
    rows: dict[str, Contender] = {}
    if presets:
        rows.update({f"preset {p}": livethresh_contender(resolve(preset=p)) for p in PRESETS})
        rows.update({name: livethresh_contender(c) for name, c in FORMER.items()})
    if methods:
        rows.update({name: livethresh_contender(c) for name, c in METHODS.items()})
        try:
            import doxapy  # noqa: F401
        except ImportError:
            return rows
        rows.update({f"DoxaPy {n}": doxapy_contender(a) for n, a in DOXAPY.items()})
    return rows


@dataclass
class Row:
    """One contender's scores: per real page, and its means over the real and synthetic sets
    and the papyrus-like pages."""

    real: list[Scores]
    synthetic: Scores | None
    papyri: Scores | None = None

    @property
    def real_mean(self) -> Scores:
        return mean_scores(self.real)

    @property
    def worst(self) -> float:
        return min(s.f_measure for s in self.real)


def evaluate(
    rows: dict[str, Contender],
    real: list[TruthPage],
    synthetic: list[TruthPage],
    papyri: list[TruthPage] = [],  # noqa: B006 - read only
) -> dict[str, Row]:
    """Score every contender on every page."""

    def mean_over(run: Contender, pages: list[TruthPage]) -> Scores | None:
        return mean_scores([score(run(p.gray), p.truth) for p in pages]) if pages else None

    return {
        name: Row(
            [score(run(page.gray), page.truth) for page in real],
            mean_over(run, synthetic),
            mean_over(run, papyri),
        )
        for name, run in rows.items()
    }


def print_table(table: dict[str, Row], real: list[TruthPage]) -> None:
    """One markdown table: F per real page, real means and worst, synthetic means, papyri F."""
    heads = [p.name for p in real] + ["real F", "worst", "p-F", "PSNR", "DRD"] if real else []
    heads += ["synthetic F", "p-F", "PSNR", "DRD", "papyri F"]
    print("| contender | " + " | ".join(heads) + " |")
    print("|---|" + "--:|" * len(heads))
    for name, row in table.items():
        cells = []
        if real:
            mean = row.real_mean
            cells += [f"{s.f_measure:.1f}" for s in row.real]
            cells += [f"{mean.f_measure:.1f}", f"{row.worst:.1f}", f"{mean.pseudo_f:.1f}"]
            cells += [f"{mean.psnr:.2f}", f"{mean.drd:.2f}"]
        s = row.synthetic
        cells += (
            [f"{s.f_measure:.1f}", f"{s.pseudo_f:.1f}", f"{s.psnr:.2f}", f"{s.drd:.2f}"]
            if s
            else ["-"] * 4
        )
        cells.append(f"{row.papyri.f_measure:.1f}" if row.papyri else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_per_page(table: dict[str, Row], real: list[TruthPage]) -> None:
    """F, pseudo-F, PSNR and DRD of every contender on every real page."""
    print("| contender | page | F | p-F | PSNR | DRD |")
    print("|---|---|--:|--:|--:|--:|")
    for name, row in table.items():
        for page, s in zip(real, row.real, strict=True):
            print(
                f"| {name} | {page.name} | {s.f_measure:.2f} | {s.pseudo_f:.2f} | "
                f"{s.psnr:.2f} | {s.drd:.2f} |"
            )
