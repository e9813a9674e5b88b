"""Bands: horizontal spans of rows that the Binarizer processes in parallel.

A band writes rows ``[start, stop)`` of the mask and reads rows ``[top, bottom)`` of the frame:
its own rows plus enough context above and below that they come out identical to a
whole-frame run. Each band owns its pre-blur buffer and its method's scratch buffers.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from livethresh.binarize.registry import Frame, Method
from livethresh.binarize.temporal import Stabilizer
from livethresh.config import ThresholdConfig

#: Bands shorter than this are not worth a thread: splitting stops there.
MIN_BAND_ROWS = 64


class Band:
    """Rows ``[start, stop)`` of the output, computed from rows ``[top, bottom)`` of the input.

    ``method`` is None for the bands of a global method, which only pre-blur their rows.
    """

    def __init__(
        self,
        config: ThresholdConfig,
        method: type[Method] | None,
        width: int,
        span: tuple[int, int, int, int],
    ) -> None:
        self.top, self.start, self.stop, self.bottom = span
        shape = (self.bottom - self.top, width)
        self.blur = (config.blur, config.blur) if config.blur else None
        self.blurred = np.empty(shape, np.uint8) if self.blur else None
        self.method = method(config, shape) if method else None
        self.gathered: Frame | None = None  # the source rows between gather() and finish()

    def source(self, gray: Frame) -> Frame:
        """The band's input rows, pre-blurred when the config asks for it."""
        src = gray[self.top : self.bottom]
        if self.blur is None or self.blurred is None:
            return src
        cv2.GaussianBlur(src, self.blur, 0, dst=self.blurred)
        return self.blurred

    def run(self, gray: Frame, out: Frame) -> None:
        """Write this band's rows of the mask."""
        assert self.method is not None
        self.method.apply(self.source(gray), out[self.start : self.stop], self.start - self.top)

    def gather(self, gray: Frame) -> tuple[float, ...]:
        """First phase of a gathering method: this band's share of the frame statistics."""
        assert self.method is not None
        self.gathered = self.source(gray)
        return self.method.gather(self.gathered, self.start - self.top, self.stop - self.start)

    def finish(self, out: Frame, statistics: tuple[float, ...]) -> None:
        """Second phase: this band's rows of the mask, given the whole frame's statistics."""
        assert self.method is not None and self.gathered is not None
        self.method.frame_statistics = statistics
        self.method.apply(self.gathered, out[self.start : self.stop], self.start - self.top)

    def blur_into(self, gray: Frame, blurred: Frame) -> None:
        """Write this band's rows of the pre-blurred frame (for global methods)."""
        rows = self.source(gray)[self.start - self.top : self.stop - self.top]
        np.copyto(blurred[self.start : self.stop], rows)

    def stabilize(self, gray: Frame, blurred: Frame | None, stabilizer: Stabilizer) -> None:
        """First phase of stabilization: pre-blur this band's rows, measure their change."""
        if (
            blurred is not None
            and self.blur is not None
            and (self.top, self.bottom) == (0, len(gray))
        ):
            # A band of the whole frame blurs straight into it (no context rows to cut off).
            cv2.GaussianBlur(gray, self.blur, 0, dst=blurred)
        elif blurred is not None:
            self.blur_into(gray, blurred)
        stabilizer.measure(gray if blurred is None else blurred, self.start, self.stop)


def plan_bands(
    height: int, bands: int, context: int, align: int = 1
) -> list[tuple[int, int, int, int]]:
    """Split ``height`` rows into at most ``bands`` spans of ``(top, start, stop, bottom)``.

    ``start:stop`` are the rows a band writes; ``top:bottom`` adds ``context`` rows each side,
    clipped to the frame, so that border handling at the real frame edges is unchanged. With
    ``align``, every ``start`` and ``top`` is a multiple of it (the context is rounded up).
    """
    count = max(1, min(bands, height // MIN_BAND_ROWS))
    context = -(-context // align) * align
    inner = [round(i * height / count / align) * align for i in range(1, count)]
    edges = sorted({0, height, *(edge for edge in inner if 0 < edge < height)})
    return [
        (max(0, start - context), start, stop, min(height, stop + context))
        for start, stop in itertools.pairwise(edges)
    ]
