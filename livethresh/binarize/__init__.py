"""Binarization kernels: pure functions of a gray frame, writing into preallocated buffers.

A method is one small class in :mod:`~livethresh.binarize.registry`: the seed article's four in
:mod:`~livethresh.binarize.opencv`, the document methods in :mod:`~livethresh.binarize.document`,
Su's in :mod:`~livethresh.binarize.su`, background division in
:mod:`~livethresh.binarize.background` and a small trained network in
:mod:`~livethresh.binarize.learned`. :class:`Binarizer` runs one of them over a frame, in
bands, without per-frame allocation, then the optional post-steps: despeckling
(:mod:`~livethresh.binarize.despeckle`) and the automatic window
(:mod:`~livethresh.binarize.scale`). Importing this package registers every method.
"""

from livethresh.binarize import background, document, learned, opencv, su
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
    "background",
    "binarize",
    "document",
    "learned",
    "method_class",
    "method_defaults",
    "method_descriptions",
    "opencv",
    "su",
]
