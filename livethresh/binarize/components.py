"""Connected components of a mask, labelled and looked up without per-frame allocation.

Despeckling removes the components smaller than an area; the ``background`` method's
hysteresis keeps the components that hold a dark core. Both label the 8-connected components
of a mask (nonzero pixels) into a preallocated 16-bit label image with
``cv2.connectedComponents``, count something per component with ``cv2.calcHist`` over the
labels (their area, or their pixels under a second mask), and map a per-component table back
over the labels with ``numpy.take``. Labelling sees the whole frame, because components cross
any band boundary; counting and mapping go row by row, so bands can share them. Their only
allocations per frame are a few numbers per component.
"""

from __future__ import annotations

import cv2
import numpy as np

from livethresh.binarize.registry import Frame

#: Pixels per strip of the label lookup: numpy casts the strip's labels to intp (8 bytes a
#: pixel), 128 KiB here, less than a tenth of a 1080p frame (measured at 1080p: 1.8 ms a
#: lookup, 1.6 ms with strips of 64 rows, whose copy was 1 MB).
STRIP_PIXELS = 16384


class Components:
    """Labels the components of masks of one shape.

    Args:
        shape: ``(height, width)`` of the masks.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.labels16 = np.empty(shape, np.uint16)
        self.labels = np.empty(shape, np.int32)

    def label(self, pixels: Frame) -> tuple[Frame, int]:
        """Label the components of ``pixels`` (nonzero); returns the labels and their count.

        Label 0 is everything outside the components. A mask with more components than 16 bits
        can number (OpenCV refuses it) gets 32-bit labels.
        """
        try:
            count, _ = cv2.connectedComponentsWithAlgorithm(
                pixels, 8, cv2.CV_16U, cv2.CCL_DEFAULT, labels=self.labels16
            )
            return self.labels16, count
        except cv2.error:
            count, _ = cv2.connectedComponentsWithAlgorithm(
                pixels, 8, cv2.CV_32S, cv2.CCL_DEFAULT, labels=self.labels
            )
            return self.labels, count

    @staticmethod
    def count(
        labels: Frame, count: int, within: Frame | None = None, rows: slice = slice(None)
    ) -> np.ndarray:
        """Per label, its pixels in ``rows`` (all rows by default), or only those nonzero in
        ``within``: the area of each component, or how much of a second mask it holds.

        Rows add up, so bands may count their own rows in parallel. A histogram of 16-bit
        labels costs a third of OpenCV's statistics pass, which also computes boxes and
        centroids; 32-bit labels (more than 65535 components) are counted by numpy, which
        allocates.
        """
        if labels.dtype == np.uint16:
            mask = None if within is None else within[rows]
            return cv2.calcHist([labels[rows]], [0], mask, [count], [0, count]).ravel()
        chosen = labels[rows] if within is None else labels[rows][within[rows] != 0]
        return np.bincount(chosen.ravel(), minlength=count)

    @staticmethod
    def table(chosen: np.ndarray) -> np.ndarray:
        """A lookup table for :meth:`lookup` from a boolean per label: 255 where chosen, else
        0. One byte a component and nothing wider between (a mask of 60,000 specks has as many
        labels)."""
        table = chosen.view(np.uint8)
        table *= 255
        return table

    @staticmethod
    def lookup(table: np.ndarray, labels: Frame, out: Frame) -> None:
        """Write ``table[labels]`` (uint8) into ``out``.

        By strips: numpy casts the labels to intp, a copy that stays strip-sized this way
        (and ``mode="clip"`` writes straight into ``out`` instead of buffering it).
        """
        strip = max(1, STRIP_PIXELS // labels.shape[1])
        for top in range(0, labels.shape[0], strip):
            rows = slice(top, top + strip)
            np.take(table, labels[rows], out=out[rows], mode="clip")
