"""Despeckling: remove what texture and noise leave in a mask, small specks of either polarity.

A connected component (8-connected) of ink smaller than ``area`` pixels becomes paper, then a
component of paper smaller than ``area`` (a hole in a stroke, a gap) becomes ink. Paper is
cleaned second, on the mask without its ink specks, so a speck inside a small hole cannot make
the hole look smaller than it is. The largest paper component is the page itself and is never
filled, however small the frame: a blank frame smaller than ``area`` stays blank.

Components are labelled and their areas counted by
:class:`~livethresh.binarize.components.Components`; the areas give a lookup table (255 for a
small component) mapped back over the labels. Components cross any band boundary, so this step
sees the whole frame. Its only allocations per frame are a few numbers per component.
"""

from __future__ import annotations

import cv2
import numpy as np

from livethresh.binarize.components import Components
from livethresh.binarize.registry import Frame


class Despeckler:
    """Removes components smaller than an area from masks of one shape, in place.

    Args:
        shape: ``(height, width)`` of the masks.
    """

    def __init__(self, shape: tuple[int, int]) -> None:
        self.components = Components(shape)
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
        self.remove_small(paper, area, keep_largest=True)  # holes of paper become ink
        if ink_value == 255:
            cv2.bitwise_not(paper, dst=mask)
        else:
            np.copyto(mask, paper)
        return mask

    def remove_small(self, pixels: Frame, area: float, keep_largest: bool = False) -> None:
        """Set to 0 every component of ``pixels`` (255) smaller than ``area``, except the
        largest one when ``keep_largest``."""
        if self.mark_small(pixels, area, keep_largest):
            cv2.subtract(pixels, self.small, dst=pixels)

    def mark_small(self, pixels: Frame, area: float, keep_largest: bool = False) -> bool:
        """Write 255 into ``self.small`` on every component of ``pixels`` (255) under ``area``
        (but the largest when ``keep_largest``).

        Returns:
            Whether there was any (when not, ``self.small`` is left as it was).
        """
        labels, count = self.components.label(pixels)
        areas = self.components.count(labels, count)
        table = self.components.table(np.less(areas, area))
        table[0] = 0  # label 0 is everything else
        if keep_largest and count > 1:
            table[1 + int(np.argmax(areas[1:count]))] = 0
        if not table.any():
            return False
        self.components.lookup(table, labels, self.small)
        return True
