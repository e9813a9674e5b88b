"""Validated threshold settings, and the one place where they are layered with presets.

Every command and the library share :class:`ThresholdConfig`. Its defaults are the seed
article's pipeline and are defined here only; presets and command-line options override them
through :func:`resolve` (defaults < preset < command line).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NoReturn, TypeVar

from livethresh.errors import ConfigError
from livethresh.presets import find_preset, load_toml, render_toml

#: The thresholding methods, in the order help texts and tuning cycle through them. Each is a
#: class in :mod:`livethresh.binarize` registered under this name; the names live here so that
#: settings are validated without importing the kernels.
METHODS = (
    "fixed",
    "otsu",
    "mean",
    "gaussian",
    "sauvola",
    "niblack",
    "wolf",
    "nick",
    "bradley",
    "phansalkar",
    "su",
    "background",
    "learned",
)

T = TypeVar("T")

#: Bounds on settings whose cost grows with them (``--blur 10001`` took 11 s per 640x480 frame):
#: pre-blur, local window, and the window of ``gaussian``, whose cost grows with it. Measured in
#: the table of docs/what-happens-when.md ("Settings whose cost explodes").
MAX_BLUR, MAX_BLOCK_SIZE, MAX_GAUSSIAN_BLOCK_SIZE = 63, 1001, 255

#: Keys a preset file may hold besides the threshold settings.
PRESET_META_KEYS = frozenset({"description"})


def setting(default: T, *flags: str, help: str) -> T:
    """A config field with its command-line flags and help line beside it.

    This is the one table the CLI builds every threshold option from (``cli.options``), so a
    new setting is declared once, here, with its default, its flags and its help.
    """
    described: T = field(default=default, metadata={"flags": flags, "help": help})
    return described


@dataclass(frozen=True)
class ThresholdConfig:
    """How a gray frame becomes a mask.

    Attributes:
        method: A name from :data:`METHODS`.
        block_size: Odd side of the square neighbourhood of the local methods, >= 3.
        c: Constant subtracted from the local (weighted) mean; may be fractional or negative.
        invert: Write 255 where the pixel is dark instead of bright (THRESH_BINARY_INV).
        threshold: Global threshold for the ``fixed`` method, 0 to 255.
        blur: Odd Gaussian pre-blur kernel size, or 0 for no blur.
        k: Weight of the local deviation in the document methods (sauvola, niblack, wolf,
            nick, phansalkar) and su; for background, how far from the ink's level towards the
            paper's a pixel is still ink (0 to 1 are useful; below 0 ink must be darker than
            its mean). None means each method's own default. The window of those methods is
            ``block_size``.
        r: Dynamic range of the deviation, in gray levels (sauvola, phansalkar; wolf, where
            None means the frame's largest local deviation); None means the method's default.
        p: Phansalkar's p, weight of the exponential term for dark regions (the paper's 2
            scored more than 2 F-measure points below 1 in ``benchmarks/evaluate.py``).
        q: Phansalkar's q, decay of that term (gray normalised to 0..1).
        t: Bradley-Roth's t: how many percent darker than the local mean ink must be (the
            paper's 15 scored more than 2 points below 10).
        stabilize: Video only: threshold a temporal average of the pre-blurred frames where
            the scene is still, so that noise does not make the mask flicker
            (:mod:`livethresh.binarize.temporal`). Off by default: the seed article's pipeline
            is frame by frame.
        stabilize_gate: Mean change over an 8x8 block, in gray levels after the pre-blur,
            above which the block counts as moving and is thresholded as it is. Raise it when a
            noisy camera still flickers (noise then reads as motion); lower it to let fainter
            motion through at once. 6 suits blur 3 to 9 up to noise sigma 8 (sigma 12 with
            blur 7 and more); ``benchmarks/bench_stability.py`` measured it.
        min_edges: Su's N_min, edge pixels a window must hold for text; None: the window's side.
        despeckle: Remove components (ink or holes) under this many pixels; 0: none; ``"auto"``:
            a quarter of the squared stroke width (:mod:`livethresh.binarize.scale`).
        auto_scale: Derive the window from the stroke width measured on the frame, smoothed on
            video; ``block_size`` is then only the fallback while no text has been seen.
    """

    method: str = setting("gaussian", "--method", "-m", help="Thresholding method:")
    block_size: int = setting(
        11,
        "--block-size",
        "--window",
        "-b",
        help=f"Odd neighbourhood (window) size of the local methods, 3 to {MAX_BLOCK_SIZE} "
        f"(gaussian: to {MAX_GAUSSIAN_BLOCK_SIZE}).",
    )
    c: float = setting(
        2.0, "--offset", "-C", help="C: constant subtracted from the local mean (may be < 0)."
    )
    invert: bool = setting(
        False, "--invert/--no-invert", help="Mark dark pixels (ink) as 255 instead of bright ones."
    )
    threshold: float = setting(
        127.0, "--threshold", "-t", help="Global threshold of the fixed method, 0-255."
    )
    blur: int = setting(
        7, "--blur", help=f"Odd Gaussian pre-blur kernel size, 1 to {MAX_BLUR}; 0 = no blur."
    )
    k: float | None = setting(
        None,
        "--k",
        "-k",
        help="k of the document methods, su and background, -1 to 1; unset, each method's own",
    )
    r: float | None = setting(
        None,
        "--r",
        help="R: range of the local deviation in gray levels, > 0; unset, each "
        "method's own (wolf: the frame's largest deviation)",
    )
    p: float = setting(1.0, "--p", help="Phansalkar's p, >= 0.")
    q: float = setting(10.0, "--q", help="Phansalkar's q, >= 0.")
    t: float = setting(
        10.0, "--t-percent", help="Bradley-Roth's t: percent below the local mean, 0 to < 100."
    )
    stabilize: bool = setting(
        False,
        "--stabilize/--no-stabilize",
        help="Video: average still parts of the scene over time so noise does not flicker "
        "in the mask; moving parts pass at once.",
    )
    stabilize_gate: float = setting(
        6.0,
        "--stabilize-gate",
        help="With --stabilize: mean change of an 8x8 block (gray levels, after the blur) that "
        "counts as motion, 1 to 64; raise it if a noisy camera still flickers.",
    )
    min_edges: int | None = setting(
        None, "--min-edges", help="Su: edge pixels the window must hold, >= 1; unset, its side."
    )
    despeckle: int | str = setting(
        0, "--despeckle", help="Remove specks (ink or holes) under AREA px; auto; 0 or off: none."
    )
    auto_scale: bool = setting(
        False, "--auto-scale/--fixed-scale", help="Window from the measured stroke width."
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            _reject("method", self.method, f"one of {', '.join(METHODS)}")
        gaussian = self.method == "gaussian"
        limit = MAX_GAUSSIAN_BLOCK_SIZE if gaussian else MAX_BLOCK_SIZE
        size = self.block_size
        if not _is_int(size) or not 3 <= size <= limit or size % 2 == 0:
            why = f" with gaussian, whose cost grows with it (the others: {MAX_BLOCK_SIZE})"
            _reject(
                "block_size", size, f"an odd integer from 3 to {limit}{why if gaussian else ''}"
            )
        if not _is_real(self.c):
            _reject("c", self.c, "a finite number")
        if not isinstance(self.invert, bool):
            _reject("invert", self.invert, "true or false")
        if not _is_real(self.threshold) or not 0 <= self.threshold <= 255:
            _reject("threshold", self.threshold, "a number from 0 to 255")
        blur = self.blur
        if not _is_int(blur) or not 0 <= blur <= MAX_BLUR or (blur and blur % 2 == 0):
            _reject("blur", blur, f"0 (no blur) or an odd integer from 1 to {MAX_BLUR}")
        if self.k is not None and (not _is_real(self.k) or not -1 <= self.k <= 1):
            _reject("k", self.k, "a number from -1 to 1, or unset for the method's default")
        if self.r is not None and (not _is_real(self.r) or self.r <= 0):
            _reject("r", self.r, "a number > 0 (gray levels), or unset for the method's default")
        for name in ("p", "q"):
            if not _is_real(getattr(self, name)) or getattr(self, name) < 0:
                _reject(name, getattr(self, name), "a finite number >= 0")
        if not _is_real(self.t) or not 0 <= self.t < 100:
            _reject("t", self.t, "a number of percent from 0 to below 100")
        if not isinstance(self.stabilize, bool):
            _reject("stabilize", self.stabilize, "true or false")
        if not _is_real(self.stabilize_gate) or not 1 <= self.stabilize_gate <= 64:
            _reject("stabilize_gate", self.stabilize_gate, "a number of gray levels from 1 to 64")
        if self.min_edges is not None and (not _is_int(self.min_edges) or self.min_edges < 1):
            _reject("min_edges", self.min_edges, "an integer >= 1, or unset for the window's side")
        object.__setattr__(self, "despeckle", _despeckle_area(self.despeckle))
        if not isinstance(self.auto_scale, bool):
            _reject("auto_scale", self.auto_scale, "true or false")
        # Normalise numbers that TOML or a caller may give as int, so equal configs compare equal.
        for name in ("c", "threshold", "k", "r", "p", "q", "t", "stabilize_gate"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    def replace(self, **changes: Any) -> ThresholdConfig:
        """Return a validated copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values, in field order (for TOML, JSON and display)."""
        return dataclasses.asdict(self)


def setting_names() -> list[str]:
    """Names of every threshold setting, in field order."""
    return [f.name for f in fields(ThresholdConfig)]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _reject(name: str, value: object, allowed: str) -> NoReturn:
    raise ConfigError(f"invalid {name} {value!r}: must be {allowed}")


def _despeckle_area(value: object) -> int | str:
    """``despeckle`` as an int area (0 = off) or ``"auto"``; the command line gives text."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("off", "auto"):
            return 0 if text == "off" else "auto"
        if text.isdigit():
            return int(text)
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    _reject("despeckle", value, "0 or off, an area in pixels >= 1, or auto")


def read_preset(name_or_path: str) -> tuple[dict[str, Any], str]:
    """Read a preset's settings and description, checking its keys but not yet its values.

    Returns:
        The settings it sets, and its one-line description (empty if it has none).

    Raises:
        ConfigError: The preset is missing, is not valid TOML, or has unknown keys.
    """
    path = find_preset(name_or_path)
    data = load_toml(path)
    unknown = sorted(set(data) - set(setting_names()) - PRESET_META_KEYS)
    if unknown:
        raise ConfigError(
            f"preset {str(path)!r} has unknown setting {unknown[0]!r}: "
            f"allowed are {', '.join(setting_names())} and description"
        )
    description = str(data.pop("description", ""))
    return data, description


def load_preset(name_or_path: str) -> ThresholdConfig:
    """Load a preset on top of the defaults.

    Raises:
        ConfigError: The preset cannot be found or read, or holds an invalid value.
    """
    return resolve(preset=name_or_path)


def resolve(
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: ThresholdConfig | None = None,
) -> ThresholdConfig:
    """Layer the settings: ``base`` (the defaults) < preset < explicit overrides.

    Args:
        preset: A preset name or TOML path, or None.
        overrides: Settings given on the command line; None values mean "not given".
        base: Where to start from; the defaults when None.

    Raises:
        ConfigError: An unknown setting, a bad preset, or an invalid value.
    """
    values = (base or ThresholdConfig()).to_dict()
    if preset is not None:
        values.update(read_preset(preset)[0])
    _check_names(overrides or {})
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return ThresholdConfig(**values)


def apply_changes(config: ThresholdConfig, changes: Mapping[str, Any]) -> ThresholdConfig:
    """``config`` with some settings changed, as live tuning changes them (the browser view).

    Unlike :func:`resolve`, None is a value here: it unsets an optional setting (``k``, ``r``)
    so that the method's own default applies again.

    Raises:
        ConfigError: An unknown setting or an invalid value, worded as for the command line.
    """
    _check_names(changes)
    return config.replace(**changes)


def _check_names(settings: Mapping[str, Any]) -> None:
    names = setting_names()
    for key in settings:
        if key not in names:
            raise ConfigError(f"unknown setting {key!r}: allowed are {', '.join(names)}")


def to_toml(config: ThresholdConfig, description: str = "") -> str:
    """Render settings as a preset file that :func:`load_preset` reads back unchanged."""
    return render_toml(config.to_dict(), description)
