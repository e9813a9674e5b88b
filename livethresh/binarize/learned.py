"""The learned method: a small convolutional network predicts a threshold surface.

The network (about 21 thousand weights, ``weights/learned.onnx``, trained on the DIBCO 2009 to
2014 pages by ``benchmarks/train_learned.py``; ``weights/PROVENANCE.md``) never sees the frame
at full resolution. OpenCV reduces it to a quarter of its side: the mean, the darkest and the
brightest pixel of each 4x4 block, the paper near and far (the brightest over 20 and 76 pixels,
the classical prior of background division), and one number for the whole frame, its ink level
(how dark Otsu's dark class is against the paper: a window cannot see that bleed-through is
lighter than the page's ink). The network turns those into two numbers per block, a gray
threshold ``T`` and a sharpness ``s``: a pixel is ink with probability ``sigmoid(s * (T -
gray))`` (``T`` and ``s`` bilinearly upsampled, gray in 0..1), so stroke edges are decided at
full resolution by one compare while the costly part runs on 1/16 of the pixels.

As in background division, a stroke is then kept only if it has a core as dark as the frame's
ink level against the far paper (:data:`CORE`; the hysteresis of
:mod:`~livethresh.binarize.background`, over the whole mask after the bands).

The live knob ``k`` is the probability's threshold (0.4 by default, which scored better held
out than 0.5): candidate ink is where the probability exceeds ``k``, below ``T - logit(k) /
s``. Raising it keeps only surer ink (thinner, fewer strokes); lowering it takes in fainter
strokes and more stains.

Bands: the network's strides make its result depend on where the 16-row grid falls, so the
method asks for bands whose tops lie on that grid (:attr:`Learned.band_alignment`), and for
enough context rows for its receptive field. The frame's ink level is gathered from every band
first, from the blocks of its own rows. OpenCV's convolutions also compute the last block of an
image differently from the others; every band is padded below with :data:`BOTTOM_PADDING` rows
so that such a block holds padding only, never a row of the mask. Masks in 1, 2 or more bands
are then bit-identical.

Allocation: every buffer is the band's, made once; the network writes into a preallocated
output. What ``cv2.dnn`` allocates inside ``forward`` (its layers' blobs, reused between calls
of one size) is C++ memory that Python's tracemalloc does not see.

``auto_scale`` only sets the despeckling area (when asked for): the network was trained on
strokes from 1 to 30 pixels wide (pages scaled by 0.5 to 2) and has no window to adapt.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import cv2
import numpy as np

from livethresh.binarize.background import CANDIDATE, CORE_LEVEL, Hysteresis, Split
from livethresh.binarize.registry import Frame, Method
from livethresh.errors import LivethreshError

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

logger = logging.getLogger(__name__)

#: The shipped network. Benchmarks and tests point this at another file (a fold's network, a
#: damaged copy); every band of a Binarizer built afterwards reads it.
WEIGHTS = Path(__file__).with_name("weights") / "learned.onnx"
#: Side of the blocks the network sees (its input is 1/REDUCTION of the frame's side) and the
#: total stride of the network over those blocks: bands start on multiples of their product.
REDUCTION, NET_STRIDE = 4, 4
GRID = REDUCTION * NET_STRIDE
#: The paper's two windows, in blocks: the near one 5 (20 pixels); the far one dilates that by
#: 15 more, 19 blocks in all (76 pixels, wider than two strokes of 30 pixels, the widest the
#: network was trained on: a narrower window takes a wide stroke's inside for paper and
#: leaves it hollow).
PAPER_BLOCKS, FAR_PAPER_BLOCKS = 5, 15
#: Input channels: the five of :class:`Inputs` and the frame's ink level.
CHANNELS = 6
#: A stroke is kept only when some of its pixels are as dark as the far paper around them
#: times ``ink + CORE * (1 - ink)``, ``ink`` the frame's ink level (background division's dark
#: core, :mod:`~livethresh.binarize.background`); None: every candidate is kept.
CORE: float | None = 0.0
#: Rows of padding under every band (full resolution): OpenCV's convolutions finish an image
#: with a block of a different code path, which then covers padding only. 32 was the smallest
#: that gave identical masks over every band geometry measured (``tests/test_learned.py``).
BOTTOM_PADDING = 2 * GRID
#: Narrower frames are padded to this width, for the same reason.
MIN_WIDTH = 16 * GRID
#: Rows of context each side of a band: the reach of a pixel through the far paper, the
#: network and the upsampling (125 rows measured by perturbation), with a grid step to spare.
CONTEXT_ROWS = 9 * GRID


class WeightsError(LivethreshError):
    """The learned method's network is missing or cannot be read."""


def padded_shape(height: int, width: int) -> tuple[int, int]:
    """The size a band of ``height`` x ``width`` pixels is padded to before the network."""
    rows = -(-height // GRID) * GRID + BOTTOM_PADDING
    return rows, max(MIN_WIDTH, -(-width // GRID) * GRID)


class Inputs:
    """The network's input from a padded gray image: :data:`CHANNELS` planes of 1/REDUCTION
    side.

    Channels, in 0..1: each block's mean gray, its darkest and brightest pixel, the paper near
    and far (the brightest pixel within 5 and 19 blocks: :data:`PAPER_BLOCKS`), and the frame's
    ink level (:func:`ink_level`, the same everywhere), set by :meth:`set_level` once every
    band has given its :meth:`histogram`. Training builds its inputs with this class, so that
    the network sees exactly what it will see here.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        height, width = shape
        low = (height // REDUCTION, width // REDUCTION)
        self.full = np.empty(shape, np.uint8)
        self.low = np.empty((5, *low), np.uint8)
        self.ratio = np.empty(low, np.uint8)
        self.blob = np.empty((1, CHANNELS, *low), np.float32)
        self.block = cv2.getStructuringElement(cv2.MORPH_RECT, (REDUCTION, REDUCTION))
        self.near = cv2.getStructuringElement(cv2.MORPH_RECT, (PAPER_BLOCKS, PAPER_BLOCKS))
        self.far = cv2.getStructuringElement(cv2.MORPH_RECT, (FAR_PAPER_BLOCKS, FAR_PAPER_BLOCKS))

    def __call__(self, gray: Frame) -> np.ndarray:
        """The network's input blob (owned by this object) for ``gray`` of the set shape,
        without its ink level yet."""
        mean, darkest, brightest, paper, far = self.low
        size = (mean.shape[1], mean.shape[0])
        cv2.resize(gray, size, dst=mean, interpolation=cv2.INTER_AREA)
        # A 4x4 filter anchored at its corner, read every 4th pixel: the blocks' extremes.
        cv2.erode(gray, self.block, dst=self.full, anchor=(0, 0))
        np.copyto(darkest, self.full[::REDUCTION, ::REDUCTION])
        cv2.dilate(gray, self.block, dst=self.full, anchor=(0, 0))
        np.copyto(brightest, self.full[::REDUCTION, ::REDUCTION])
        cv2.dilate(brightest, self.near, dst=paper)
        cv2.dilate(paper, self.far, dst=far)
        for channel, plane in zip(self.low, self.blob[0], strict=False):
            # Scaled into float32 by OpenCV: numpy's uint8 -> float32 cast buffers per call.
            cv2.addWeighted(channel, 1 / 255, channel, 0.0, 0.0, dst=plane, dtype=cv2.CV_32F)
        cv2.divide(mean, far, dst=self.ratio, scale=255.0)
        return self.blob

    def histogram(self, rows: slice) -> np.ndarray:
        """256 bins of the blocks' gray over the far paper, on ``rows`` of blocks."""
        return cv2.calcHist([self.ratio[rows]], [0], None, [256], [0, 256]).ravel()

    def set_level(self, level: float) -> np.ndarray:
        """Write the frame's ink level into the blob; returns the blob."""
        self.blob[0, -1].fill(level)
        return self.blob


def ink_level(histogram: np.ndarray) -> float:
    """The mean of Otsu's dark class of the blocks' gray over paper, 0..1: how dark this
    frame's ink is against its paper (the global figure a window cannot see: bleed-through and
    stains are lighter than the page's ink)."""
    return Split.of(histogram).ink / 255.0


@functools.cache
def network_bytes(path: Path) -> np.ndarray:
    """The ONNX file at ``path``, read and checked once per process (each band builds its own
    network from these bytes: an OpenCV network is not thread-safe).

    Raises:
        WeightsError: The file is missing, unreadable or not a network OpenCV can load.
    """
    from livethresh.images import quiet_opencv

    fix = "reinstall livethresh (pip install --force-reinstall livethresh)"
    try:
        data = np.frombuffer(path.read_bytes(), np.uint8)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise WeightsError(f"the learned method's network {str(path)!r}: {why}; {fix}") from exc
    try:
        with quiet_opencv():
            net = cv2.dnn.readNetFromONNX(data)
            net.setInput(np.zeros((1, CHANNELS, NET_STRIDE, NET_STRIDE), np.float32))
            (probe,) = net.forward()[0:1]
        if probe.shape != (2, NET_STRIDE, NET_STRIDE):
            raise ValueError(f"output of shape {probe.shape}")
    except (cv2.error, ValueError) as exc:
        logger.debug("cannot load %s: %s", path, exc)
        raise WeightsError(
            f"the learned method's network {str(path)!r} is damaged (not a network of this "
            f"livethresh); {fix}"
        ) from exc
    return data


def ink_offset(k: float) -> float:
    """``logit(k)``: how far above the threshold's logit 0 the ink probability must be."""
    if k <= 0:
        return -math.inf
    if k >= 1:
        return math.inf
    return math.log(k / (1 - k))


class Learned(Method):
    name = "learned"
    description = (
        "ink where a small trained network (DIBCO pages) puts its probability above k; "
        "use with --blur 0"
    )
    settings = ("k",)
    # Held out, 8000-step folds: k 0.4 89.00, 0.5 88.77; 16,000-step folds of 2011 and 2013:
    # 0.3 88.84, 0.4 88.97, 0.5 88.91.
    defaults: ClassVar[dict[str, float]] = {"k": 0.4}
    band_alignment = GRID
    gathers = True
    window_per_stroke = 2.0
    min_window = 7

    def __init__(self, config: ThresholdConfig, shape: tuple[int, int]) -> None:
        super().__init__(config, shape)
        self.offset = ink_offset(self.effective(config, "k"))
        self.compare = cv2.CMP_LT if config.invert else cv2.CMP_GE
        self.net = cv2.dnn.readNetFromONNX(network_bytes(WEIGHTS))
        self.net.enableWinograd(False)  # its rounding would depend on the band's size
        height, width = shape
        self.padded = np.empty(padded_shape(height, width), np.uint8)
        self.inputs = Inputs(self.padded.shape)
        low = self.inputs.blob.shape[2:]
        self.output = [np.empty((1, 2, *low), np.float32)]
        self.level = np.empty(low, np.float32)
        self.low_threshold = np.empty(low, np.uint8)
        self.threshold = np.empty(self.padded.shape, np.uint8)
        self.marks = np.empty(shape, np.uint8)

    @classmethod
    def context_rows(cls, config: ThresholdConfig) -> int:
        return CONTEXT_ROWS

    @classmethod
    def frame_pass(cls, config: ThresholdConfig, shape: tuple[int, int]) -> Hysteresis | None:
        return None if CORE is None else Hysteresis(shape, config.invert)

    def gather(self, src: Frame, first_row: int, rows: int) -> tuple[float, ...]:
        """The band's network input (kept for :meth:`apply`) and its own rows' histogram."""
        height, width = src.shape
        below, right = self.padded.shape[0] - height, self.padded.shape[1] - width
        cv2.copyMakeBorder(src, 0, below, 0, right, cv2.BORDER_REPLICATE, dst=self.padded)
        self.inputs(self.padded)
        # Bands start on the grid, so their own blocks split the frame's exactly.
        own = slice(first_row // REDUCTION, -(-(first_row + rows) // REDUCTION))
        return tuple(float(v) for v in self.inputs.histogram(own))

    @staticmethod
    def merge(
        parts: list[tuple[float, ...]], previous: tuple[float, ...] = ()
    ) -> tuple[float, ...]:
        """The frame's ink level from the bands' histograms."""
        return (ink_level(np.sum(parts, axis=0)),)

    def apply(self, src: Frame, out: Frame, first_row: int) -> None:
        width = src.shape[1]
        (ink,) = self.frame_statistics
        self.net.setInput(self.inputs.set_level(ink))
        self.net.forward(self.output)
        threshold, sharpness = self.output[0][0]
        level = self.level
        if self.offset == math.inf:
            level.fill(0)  # no probability above 1: no ink
        elif self.offset == -math.inf:
            level.fill(256)  # every probability is above 0: all ink
        elif self.offset:
            np.divide(self.offset, sharpness, out=level)
            np.subtract(threshold, level, out=level)
            level *= 255
        else:
            np.multiply(threshold, 255, out=level)
        # Round and saturate into gray levels: ink is gray < level.
        level += 0.5
        np.clip(level, 0, 255, out=level)
        np.copyto(self.low_threshold, level, casting="unsafe")
        size = (self.padded.shape[1], self.padded.shape[0])
        cv2.resize(self.low_threshold, size, dst=self.threshold, interpolation=cv2.INTER_LINEAR)
        rows = slice(first_row, first_row + out.shape[0])
        own = src[rows]
        if CORE is None:
            cv2.compare(own, self.threshold[rows, :width], self.compare, dst=out)
            return
        # Marks for the hysteresis: candidate ink 128, candidates as dark as the core 255.
        cv2.compare(own, self.threshold[rows, :width], cv2.CMP_LT, dst=out)
        # The far paper from the blob (float32, 0..1): no cast, so no buffer allocated per call.
        far = self.inputs.blob[0, 4]
        np.multiply(far, np.float32(255.0 * (ink + CORE * (1.0 - ink))), out=level)
        level += 0.5
        np.clip(level, 0, 255, out=level)
        np.copyto(self.low_threshold, level, casting="unsafe")
        cv2.resize(self.low_threshold, size, dst=self.threshold, interpolation=cv2.INTER_LINEAR)
        marks = self.marks[: out.shape[0]]
        cv2.compare(own, self.threshold[rows, :width], cv2.CMP_LT, dst=marks)
        cv2.bitwise_and(marks, out, dst=marks)
        cv2.threshold(out, 0, CANDIDATE, cv2.THRESH_BINARY, dst=out)
        cv2.threshold(marks, 0, CORE_LEVEL - CANDIDATE, cv2.THRESH_BINARY, dst=marks)
        cv2.add(out, marks, dst=out)
