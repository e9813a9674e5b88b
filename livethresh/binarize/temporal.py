"""Temporal stabilization: keep a live mask still where the scene is still, without lag where
it moves.

Frame-by-frame thresholding makes a still page "boil": sensor noise moves the pixels near the
threshold back and forth every frame. The :class:`Stabilizer` sits between the pre-blur and the
thresholding method and hands the method a recursive average of the pre-blurred frames instead
of the current one, ``average += (frame - average) / 4`` per frame, in uint8. Noise averages
out, and the uint8 rounding adds a dead zone of about two gray levels in which the average does
not move at all, which removes most of the remaining flicker.

An average lags behind real changes, so a change detector lets them through at once: the
frame is cut into 8x8 blocks, and where a block's mean of ``|frame - average|`` exceeds the gate
(``stabilize_gate`` gray levels), that block and its eight neighbours take the frame as it is.
Noise is independent from pixel to pixel and averages out over a block; motion is coherent and
does not, so the gate sits well above the noise and well below a moving edge. A change too
faint to pass the gate (in gray levels averaged over a block) is not lost: it arrives through
the average, over about four frames. A slow change (a light fading, a page panning where it
is nearly flat) would lag that way by a gray level or two, which a window method with a small
``C`` reads as ink; a second detector takes a block as moving when the *signed* mean of its
change stands out from the noise's (:data:`DRIFT_FACTOR`): noise averages to about 0 over a
block, a drift does not. See ``benchmarks/bench_stability.py`` and
``docs/temporal-stability.md`` for the measurements behind the constants.

The work is split into the :class:`~livethresh.binarize.binarizer.Binarizer`'s bands, on block
boundaries, in two phases (:meth:`Stabilizer.measure`, then :meth:`Stabilizer.update`) with a
tiny serial step between them (:meth:`Stabilizer.decide`); every step is per pixel or per
block, so bands give the same result as a whole frame. All state lives in buffers allocated
once.
"""

from __future__ import annotations

import itertools
import logging

import cv2
import numpy as np

from livethresh.binarize.registry import Frame

logger = logging.getLogger(__name__)

#: Side of the square blocks of the change detector, in pixels. Must be 8: the block means are
#: three 2x INTER_AREA reductions, OpenCV's fast path (one 8x reduction costs 6x more).
BLOCK = 8
#: Weight of the new frame in the recursive average: a time constant of about four frames.
#: 1/8 flickers less on a still page but lets a fading light lag into the mask.
ALPHA = 0.25
#: The drift detector's fixed point: block means of ``frame - average`` in 1/16 gray level
#: (a shift: a quarter cheaper than OpenCV's scaled subtraction).
DRIFT_BITS = 4
DRIFT_SCALE = 1 << DRIFT_BITS
#: A block drifts when its mean signed change exceeds this many times the median one of the
#: blocks under the gate (noise alone: about 7 of its spreads), and :data:`MIN_DRIFT` gray
#: levels. Chosen on 240x320 and 360x640 clips (4 was the first to let a still page flicker
#: more than a quarter of frame by frame); checked on 288x512 and 720x1280 clips of other
#: seeds: the largest loss of a pan or a fading light 0.34 F (0.59 without).
DRIFT_FACTOR = 5.0
MIN_DRIFT = 1.5
#: A timestamp step longer than this (seconds), and longer than :data:`GAP_STEPS` of the
#: stream's shortest step, is a gap in the stream (a stall, a reconnect): the state is reset.
MAX_GAP_SECONDS = 0.5
#: Steps of the stream's own frame interval that still count as dropped frames, not a gap, for
#: slow sources (a camera at 2 fps).
GAP_STEPS = 10


def block_spans(height: int, bands: int) -> list[tuple[int, int]]:
    """Split ``height`` rows into at most ``bands`` spans ``(start, stop)`` on block boundaries.

    Block rows never straddle two spans, so each span computes its own blocks' means.
    """
    blocks = -(-height // BLOCK)
    count = max(1, min(bands, blocks))
    edges = [min(height, round(i * blocks / count) * BLOCK) for i in range(count + 1)]
    return [(start, stop) for start, stop in itertools.pairwise(edges) if stop > start]


class Stabilizer:
    """The state and steps of temporal stabilization for frames of one shape.

    Per frame, call :meth:`begin` with its timestamp, :meth:`measure` on every span of
    :func:`block_spans` (in parallel if wanted), :meth:`decide` once, :meth:`update` on every
    span, then read :attr:`average`, the stabilized frame.

    Args:
        shape: ``(height, width)`` of the frames.
        gate: Mean absolute change over a block, in gray levels, above which the block is
            taken as moving and passed through without averaging.
    """

    def __init__(self, shape: tuple[int, int], gate: float) -> None:
        height, width = shape
        self.shape = shape
        self.gate = float(gate)
        rows, columns = -(-height // BLOCK), -(-width // BLOCK)
        #: The stabilized frame: the recursive average, and the state carried between frames.
        self.average = np.empty(shape, np.uint8)
        # |frame - average|, padded to whole blocks; then the block means at 1/2, 1/4, 1/8.
        self._change = np.empty((rows * BLOCK, columns * BLOCK), np.uint8)
        self._half = np.empty((rows * 4, columns * 4), np.uint8)
        self._quarter = np.empty((rows * 2, columns * 2), np.uint8)
        self._blocks = np.empty((rows, columns), np.uint8)
        # 16 x (frame - average), signed, padded like the change; then its block means.
        self._drift = np.empty((rows * BLOCK, columns * BLOCK), np.int16)
        self._drift_half = np.empty((rows * 4, columns * 4), np.int16)
        self._drift_quarter = np.empty((rows * 2, columns * 2), np.int16)
        self._drift_blocks = np.empty((rows, columns), np.int16)
        self._drift_size = np.empty((rows, columns), np.uint8)
        self._drifting = np.empty((rows, columns), np.uint8)
        self._over_gate = np.empty((rows, columns), np.uint8)
        self._moving_blocks = np.empty((rows, columns), np.uint8)
        # The moving mask, one row per block row, then every pixel's.
        self._moving_rows = np.empty((rows, width), np.uint8)
        self._moving = np.empty((rows * BLOCK, width), np.uint8)
        self._neighbours = np.ones((3, 3), np.uint8)
        self._primed = False  # False until a frame has set the average
        self._filling = True  # this frame (re)starts the average
        self._last_time: float | None = None
        self._shortest_step: float | None = None

    def reset(self) -> None:
        """Forget the past: the next frame is taken as it is."""
        self._primed = False

    def begin(self, timestamp: float | None = None) -> None:
        """Start a frame; reset first if ``timestamp`` breaks the stream's continuity.

        A timestamp that goes backwards (a loop, a restart) or jumps forward by more than a gap
        (:data:`MAX_GAP_SECONDS`, or :data:`GAP_STEPS` of the stream's shortest step, for slow
        streams) resets the state: the scene may have changed in any way meanwhile. Shorter
        steps are dropped frames of a live source; the average carries over them, and whatever
        moved meanwhile passes the change detector. ``None`` (no timestamp) is never a
        discontinuity. The first step sets the stream's pace and is taken as it comes.
        """
        if timestamp is not None:
            if self._last_time is not None:
                step = timestamp - self._last_time
                shortest = self._shortest_step
                if step <= 0 or (
                    shortest is not None and step > max(MAX_GAP_SECONDS, GAP_STEPS * shortest)
                ):
                    logger.debug("timestamp step %+.3f s: stabilizer reset", step)
                    self.reset()
                else:
                    self._shortest_step = step if shortest is None else min(shortest, step)
            self._last_time = timestamp
        self._filling = not self._primed

    def measure(self, frame: Frame, start: int, stop: int) -> None:
        """Phase 1, for rows ``[start, stop)`` of a span: the block means of the change, both
        absolute and signed."""
        rows = slice(start, stop)
        if self._filling:
            np.copyto(self.average[rows], frame[rows])
            return
        height, width = self.shape
        change = self._change
        drift = self._drift
        cv2.absdiff(frame[rows], self.average[rows], dst=change[rows, :width])
        cv2.subtract(frame[rows], self.average[rows], dst=drift[rows, :width], dtype=cv2.CV_16S)
        np.left_shift(drift[rows, :width], DRIFT_BITS, out=drift[rows, :width])
        bottom = change.shape[0] if stop == height else stop
        for full in (change, drift):
            # Partial blocks at the right and bottom edges repeat the last column and row.
            if width < full.shape[1]:
                np.copyto(full[rows, width:], full[rows, width - 1 : width])
            if bottom > stop:
                np.copyto(full[stop:bottom], full[stop - 1 : stop])
        first, last = start // BLOCK, bottom // BLOCK
        chains = (
            (change, self._half, self._quarter, self._blocks),
            (drift, self._drift_half, self._drift_quarter, self._drift_blocks),
        )
        for full, half, quarter, blocks in chains:
            for src, dst, scale in ((full, half, 4), (half, quarter, 2), (quarter, blocks, 1)):
                rows_in = slice(first * scale * 2, last * scale * 2)
                rows_out = dst[first * scale : last * scale]
                cv2.resize(
                    src[rows_in],
                    (dst.shape[1], rows_out.shape[0]),
                    dst=rows_out,
                    interpolation=cv2.INTER_AREA,
                )

    def decide(self) -> None:
        """Phase 2, once per frame: which blocks move (over the gate, or drifting, or next to
        one that is)."""
        if self._filling:
            return
        cv2.threshold(self._blocks, self.gate, 255, cv2.THRESH_BINARY, dst=self._over_gate)
        # |16 x mean(frame - average)| per block, saturated at 255: noise leaves it near 0, a
        # light or a page moving too slowly for the gate does not. Its median over the blocks
        # under the gate measures the noise's share, whatever the pre-blur did to the noise.
        size = cv2.convertScaleAbs(self._drift_blocks, dst=self._drift_size)
        still = cv2.bitwise_not(self._over_gate, dst=self._drifting)
        counts = cv2.calcHist([size], [0], still, [256], [0, 256]).ravel()
        median = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
        limit = max(DRIFT_SCALE * MIN_DRIFT, DRIFT_FACTOR * median)
        cv2.threshold(size, limit, 255, cv2.THRESH_BINARY, dst=self._drifting)
        cv2.bitwise_or(self._over_gate, self._drifting, dst=self._over_gate)
        cv2.dilate(self._over_gate, self._neighbours, dst=self._moving_blocks)

    def update(self, frame: Frame, start: int, stop: int) -> None:
        """Phase 3, for rows ``[start, stop)`` of a span: average still pixels, pass moving ones."""
        if self._filling:
            return
        width = self.shape[1]
        first, last = start // BLOCK, -(-stop // BLOCK)
        cv2.resize(
            self._moving_blocks[first:last],
            (width, last - first),
            dst=self._moving_rows[first:last],
            interpolation=cv2.INTER_NEAREST,
        )
        # Each block row's mask, repeated for its 8 pixel rows by broadcasting (no copy made).
        moving = self._moving[first * BLOCK : last * BLOCK].reshape(last - first, BLOCK, width)
        np.copyto(moving, self._moving_rows[first:last, None, :])
        average, current = self.average[start:stop], frame[start:stop]
        cv2.addWeighted(average, 1.0 - ALPHA, current, ALPHA, 0.0, dst=average)
        cv2.copyTo(current, self._moving[start:stop], average)

    def end(self) -> None:
        """Finish the frame: from now on, the average is the state."""
        self._primed = True
