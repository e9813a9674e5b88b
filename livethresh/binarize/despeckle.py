"""Despeckling: remove what texture and noise leave in a mask, small specks of either polarity.

A connected component (8-connected) of ink smaller than ``area`` pixels becomes paper, then a
component of paper smaller than ``area`` (a hole in a stroke, a gap) becomes ink. Paper is
cleaned second, on the mask without its ink specks, so a speck inside a small hole cannot make
the hole look smaller than it is.

Components are labelled by ``cv2.connectedComponents`` into a preallocated 16-bit label image
and their areas counted by ``cv2.calcHist``; the areas give a lookup table (255 for a small
component) that ``numpy.take`` maps over the labels. Components cross any band boundary, so
this step sees the whole frame. Its only allocations per frame are a few numbers per component.
"""

from __future__ import annotations

import cv2
import numpy as np

from livethresh.binarize.registry import Frame

#: Rows per strip of the label lookup.
STRIP_ROWS = 64


class Despeckler:
    """Removes components smaller than an area from masks of one shape, in place.

    Args:
        shape: ``(height, width)`` of the masks.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.labels16 = np.empty(shape, np.uint16)
        self.labels = np.empty(shape, np.int32)
        self.small = np.empty(shape, np.uint8)
        self.inverse = np.empty(shape, np.uint8)

    def __call__(self, mask: Frame, area: float, ink_value: int = 0) -> Frame:
        """Clean ``mask`` (0 and 255) in place and return it.

        Args:
            mask: The mask; C-contiguous uint8 of this despeckler's shape.
            area: Components with fewer pixels than this are removed; <= 1 does nothing.
            ink_value: The value of ink in ``mask`` (0, or 255 for an inverted mask).
        """
        if area <= 1:
            return mask
        # Work on ink as 255: the mask itself when inverted, else its complement.
        ink = mask if ink_value == 255 else cv2.bitwise_not(mask, dst=self.inverse)
        self.remove_small(ink, area)  # specks of ink become paper
        paper = cv2.bitwise_not(ink, dst=ink)
        self.remove_small(paper, area)  # holes of paper become ink
        if ink_value == 255:
            cv2.bitwise_not(paper, dst=mask)
        else:
            np.copyto(mask, paper)
        return mask

    def remove_small(self, pixels: Frame, area: float) -> None:
        """Set to 0 every component of ``pixels`` (255) smaller than ``area``."""
        if self.mark_small(pixels, area):
            cv2.subtract(pixels, self.small, dst=pixels)

    def mark_small(self, pixels: Frame, area: float) -> bool:
        """Write 255 into ``self.small`` on every component of ``pixels`` (255) under ``area``.

        Returns:
            Whether there was any (when not, ``self.small`` is left as it was).
        """
        labels, areas = self.label(pixels)
        table = np.where(areas < area, 255, 0).astype(np.uint8)
        table[0] = 0  # label 0 is everything else
        if not table.any():
            return False
        # By strips: numpy casts the labels to intp, a copy that stays strip-sized this way
        # (and mode="clip" writes straight into ``out`` instead of buffering it).
        for top in range(0, labels.shape[0], STRIP_ROWS):
            rows = slice(top, top + STRIP_ROWS)
            np.take(table, labels[rows], out=self.small[rows], mode="clip")
        return True

    def label(self, pixels: Frame) -> tuple[Frame, np.ndarray]:
        """Label the components of ``pixels`` (255); returns the labels and each one's area.

        16-bit labels and a histogram of them cost a third of OpenCV's statistics pass, which
        also computes boxes and centroids; a mask with more components than 16 bits can number
        (OpenCV refuses it) takes that slower path.
        """
        try:
            count, _ = cv2.connectedComponentsWithAlgorithm(
                pixels, 8, cv2.CV_16U, cv2.CCL_DEFAULT, labels=self.labels16
            )
        except cv2.error:
            _, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
                pixels, 8, cv2.CV_32S, cv2.CCL_DEFAULT, labels=self.labels
            )
            return self.labels, stats[:, cv2.CC_STAT_AREA]
        areas = cv2.calcHist([self.labels16], [0], None, [count], [0, count]).ravel()
        return self.labels16, areas
