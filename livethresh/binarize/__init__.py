"""Binarization kernels: pure functions of a gray frame, writing into preallocated buffers.

A method is one small class in :mod:`~livethresh.binarize.registry`: the seed article's four in
:mod:`~livethresh.binarize.opencv` and the document methods in
:mod:`~livethresh.binarize.document`. :class:`Binarizer` runs one of them over a frame, in bands,
without per-frame allocation. Importing this package registers every method.
"""

from livethresh.binarize import document, opencv
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
    "document",
    "method_class",
    "method_defaults",
    "method_descriptions",
    "opencv",
]
