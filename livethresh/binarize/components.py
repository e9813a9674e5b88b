"""Connected components of a mask, labelled and looked up without per-frame allocation.

Despeckling removes the components smaller than an area; the ``background`` method's
hysteresis keeps the components that hold a dark core. Both label the 8-connected components
of a mask (nonzero pixels) into a preallocated 16-bit label image with
``cv2.connectedComponents``, count something per component with ``cv2.calcHist`` over the
labels (their area, or their pixels under a second mask), and map a per-component table back
over the labels with ``numpy.take``. Components cross any band boundary, so these steps see
the whole frame; their only allocations per frame are a few numbers per component.
"""

from __future__ import annotations

import cv2
import numpy as np

from livethresh.binarize.registry import Frame

#: Rows per strip of the label lookup.
STRIP_ROWS = 64


class Components:
    """Labels the components of masks of one shape.

    Args:
        shape: ``(height, width)`` of the masks.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.labels16 = np.empty(shape, np.uint16)
        self.labels = np.empty(shape, np.int32)

    def label(self, pixels: Frame, within: Frame | None = None) -> tuple[Frame, np.ndarray]:
        """Label the components of ``pixels`` (nonzero); returns the labels and, per label,
        its number of pixels, or of its pixels that are nonzero in ``within`` when given.

        Label 0 is everything outside the components. 16-bit labels and a histogram of them
        cost a third of OpenCV's statistics pass, which also computes boxes and centroids; a
        mask with more components than 16 bits can number (OpenCV refuses it) takes 32-bit
        labels and the slower path.
        """
        try:
            count, _ = cv2.connectedComponentsWithAlgorithm(
                pixels, 8, cv2.CV_16U, cv2.CCL_DEFAULT, labels=self.labels16
            )
            labels = self.labels16
        except cv2.error:
            count, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
                pixels, 8, cv2.CV_32S, cv2.CCL_DEFAULT, labels=self.labels
            )
            if within is None:
                return self.labels, stats[:, cv2.CC_STAT_AREA]
            # calcHist takes no 32-bit integer images; this rare path may allocate.
            return self.labels, np.bincount(self.labels[within != 0], minlength=count)
        counts = cv2.calcHist([labels], [0], within, [count], [0, count]).ravel()
        return labels, counts

    @staticmethod
    def lookup(table: np.ndarray, labels: Frame, out: Frame) -> None:
        """Write ``table[labels]`` (uint8) into ``out``.

        By strips: numpy casts the labels to intp, a copy that stays strip-sized this way
        (and ``mode="clip"`` writes straight into ``out`` instead of buffering it).
        """
        for top in range(0, labels.shape[0], STRIP_ROWS):
            rows = slice(top, top + STRIP_ROWS)
            np.take(table, labels[rows], out=out[rows], mode="clip")
