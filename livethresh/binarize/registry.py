"""The method table: every thresholding method's name, and where its class lives.

A method is one small class (a :class:`Method` subclass) plus one line in :data:`METHODS`, the
only place its name is declared. The table is plain data, so settings are validated against it
without importing a kernel; a method's class is imported the first time it is asked for
(:func:`method_class`), as imageio's plugin table does. The method then describes itself: its
help line, the settings it reads and its own defaults for optional ones. The CLI's help, the
preview's tuning keys, the browser view's controls and the benchmarks all read this table.

Adding a method (``docs/adding-a-method.md`` has the checklist):

1. Write its class in a module of this package: a ``name``, a one-line ``description`` that
   names its source, the ``settings`` it reads, ``defaults`` for optional ones, and ``apply``.
2. Add the line ``"name": "livethresh.binarize.module:Class"`` to :data:`METHODS`, where the
   help texts and the tuning keys should list it.
3. Add any new setting to :class:`~livethresh.config.ThresholdConfig` with ``config.setting``.

``tests/test_registry.py`` fails when a :class:`Method` subclass is missing from the table, an
entry does not import, or an entry's name differs from its class's; every test parametrized
over :func:`available_methods` then runs the new method too.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from livethresh.errors import ConfigError

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

Frame = np.ndarray
#: Runs ``work(start, stop)`` on the rows of every band, in parallel; returns the results.
InBands = Callable[[Callable[[int, int], Any]], list[Any]]
#: A whole-frame step over the mask, in place (:meth:`Method.frame_pass`); it may hand
#: row-by-row work to the bands.
FramePass = Callable[[Frame, InBands], None]

#: Every method, by name: ``"module:Class"``, in the order help texts and tuning cycle through.
METHODS: dict[str, str] = {
    "fixed": "livethresh.binarize.opencv:Fixed",
    "otsu": "livethresh.binarize.opencv:Otsu",
    "mean": "livethresh.binarize.opencv:Mean",
    "gaussian": "livethresh.binarize.opencv:Gaussian",
    "sauvola": "livethresh.binarize.document:Sauvola",
    "niblack": "livethresh.binarize.document:Niblack",
    "wolf": "livethresh.binarize.document:Wolf",
    "nick": "livethresh.binarize.document:Nick",
    "bradley": "livethresh.binarize.document:Bradley",
    "phansalkar": "livethresh.binarize.document:Phansalkar",
    "su": "livethresh.binarize.su:Su",
    "background": "livethresh.binarize.background:Background",
    "learned": "livethresh.binarize.learned:Learned",
}


def available_methods() -> list[str]:
    """Names of every method, in the order of :data:`METHODS`."""
    return list(METHODS)


@functools.cache
def method_class(name: str) -> type[Method]:
    """The class of method ``name``, imported on first use.

    Raises:
        ConfigError: ``name`` is not in :data:`METHODS`.
    """
    if name not in METHODS:
        raise ConfigError(f"invalid method {name!r}: must be one of {', '.join(METHODS)}")
    module, _, class_name = METHODS[name].partition(":")
    found: type[Method] = getattr(importlib.import_module(module), class_name)
    return found


def method_descriptions() -> dict[str, str]:
    """One line per method, for help texts."""
    return {name: method_class(name).description for name in METHODS}


def method_defaults(setting: str) -> dict[str, float]:
    """Each method's own default for an optional ``setting`` (``k``, ``r``), by method name."""
    classes = {name: method_class(name) for name in METHODS}
    return {name: cls.defaults[setting] for name, cls in classes.items() if setting in cls.defaults}


class Method:
    """One way of turning a (pre-blurred) gray image into a mask.

    A method instance is sized for one band of the frame and owns that band's scratch buffers.
    ``apply`` may read the whole band but writes only the rows asked for, which are the band's
    own rows without the context margins.

    A base shared by several methods (``LocalMean``, ``LocalStatistics``) declares no ``name``
    of its own: it is not a method, and has no line in :data:`METHODS`.
    """

    #: The method's key in :data:`METHODS`, which names it in settings, presets and help.
    name: ClassVar[str]
    #: One line for help texts: what decides ink, and whose method it is (paper or OpenCV call).
    description: ClassVar[str]
    #: The threshold settings this method reads, besides ``blur`` and ``invert`` (which every
    #: method honours): what the tuning overlay shows and the browser view offers.
    settings: ClassVar[tuple[str, ...]] = ()
    #: The method's own value of an optional setting left unset (None), e.g. ``k``.
    defaults: ClassVar[dict[str, float]] = {}
    #: Whether the result at a pixel depends only on a neighbourhood (so the frame can be split
    #: into bands). Global methods such as Otsu see the whole frame at once.
    is_local: ClassVar[bool] = True
    #: Whether a local method also needs a few numbers about the whole frame (Wolf's darkest
    #: pixel and largest deviation). The Binarizer then calls :meth:`gather` on every band,
    #: folds the results with :meth:`merge`, stores them in ``frame_statistics`` of every band's
    #: method, and only then calls :meth:`apply`; so bands still run in parallel. On video,
    #: :meth:`merge` also sees the previous frame's statistics.
    gathers: ClassVar[bool] = False
    #: Rows the tops of bands (and their context) fall on multiples of: a method whose result
    #: depends on where a grid of blocks lies (a strided network) keeps that grid the frame's.
    band_alignment: ClassVar[int] = 1
    #: With ``auto_scale``: the window in measured stroke widths, and its smallest side. A
    #: window of statistics needs several strokes and the paper between them; a closing only
    #: needs to be wider than a stroke.
    window_per_stroke: ClassVar[float] = 5.0
    min_window: ClassVar[int] = 15

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        self.config = config
        self.shape = shape
        self.frame_statistics: tuple[float, ...] = ()

    @classmethod
    def effective(cls, config: ThresholdConfig, setting: str) -> float:
        """The value ``setting`` has for this method: the configured one or the method's own."""
        value = getattr(config, setting)
        return float(cls.defaults[setting] if value is None else value)

    @classmethod
    def describe(cls, config: ThresholdConfig) -> str:
        """The settings that matter for this method, on one line (``gaussian  block 11  C 2``)."""
        labels = {"block_size": "block", "c": "C"}
        parts = [cls.name]
        for setting in cls.settings:
            if getattr(config, setting) is None and setting not in cls.defaults:
                continue  # unset with no default: derived from the frame (wolf's r)
            value = cls.effective(config, setting)
            parts.append(f"{labels.get(setting, setting)} {value:g}")
        parts.append(f"blur {config.blur}" if config.blur else "no blur")
        if config.invert:
            parts.append("inverted")
        if config.stabilize:
            parts.append(f"stabilized (gate {config.stabilize_gate:g})")
        return "  ".join(parts)

    @classmethod
    def frame_pass(cls, config: ThresholdConfig, shape: tuple[int, int]) -> FramePass | None:
        """A last step over the whole frame's mask after the bands (None: the bands' mask is
        final). It may join what bands cannot see together, as connected components."""
        return None

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """Statistics of the band's own rows ``src[first_row:first_row + rows]``."""
        raise NotImplementedError

    @staticmethod
    def merge(
        parts: list[tuple[float, ...]], previous: tuple[float, ...] = ()
    ) -> tuple[float, ...]:
        """The frame's statistics from those of its bands.

        ``previous`` holds the previous frame's, on video (empty on a first frame or after a
        reset), for a decision that must not flicker from frame to frame near its line.
        """
        raise NotImplementedError

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        """Rows of neighbourhood needed on each side of an output row."""
        return 0

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        """Write the mask of ``src[first_row:first_row + len(out)]`` into ``out``."""
        raise NotImplementedError
