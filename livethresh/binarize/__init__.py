"""Binarization kernels: pure functions of a gray frame, writing into preallocated buffers.

A method is one small class plus one line in the method table,
:data:`~livethresh.binarize.registry.METHODS`: the seed article's four in
:mod:`~livethresh.binarize.opencv`, the document methods in :mod:`~livethresh.binarize.document`,
Su's in :mod:`~livethresh.binarize.su`, background division in
:mod:`~livethresh.binarize.background` and a small trained network in
:mod:`~livethresh.binarize.learned`. :class:`Binarizer` runs one of them over a frame, in
bands, without per-frame allocation, then the optional post-steps: despeckling
(:mod:`~livethresh.binarize.despeckle`) and the automatic window
(:mod:`~livethresh.binarize.scale`). A method's module is imported when the method is first
used, not with this package.
"""

from livethresh.binarize.binarizer import Binarizer, binarize
from livethresh.binarize.registry import (
    Method,
    available_methods,
    method_class,
    method_defaults,
    method_descriptions,
)

__all__ = [
    "Binarizer",
    "Method",
    "available_methods",
    "binarize",
    "method_class",
    "method_defaults",
    "method_descriptions",
]
