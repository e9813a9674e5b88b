"""livethresh: real-time adaptive binarization of camera and video frames.

The library is layered the way frames travel: ``sources`` decode, ``pipeline`` moves frames
between threads, ``threshold`` binarizes them into preallocated buffers, and ``sinks`` show or
encode the masks. ``config`` holds the validated settings that every layer shares.
"""

from livethresh.config import ThresholdConfig, load_preset, resolve
from livethresh.errors import ConfigError, FrameShapeError, LivethreshError
from livethresh.threshold import Binarizer, available_methods, binarize

__version__ = "0.1.0"

__all__ = [
    "Binarizer",
    "ConfigError",
    "FrameShapeError",
    "LivethreshError",
    "ThresholdConfig",
    "__version__",
    "available_methods",
    "binarize",
    "load_preset",
    "resolve",
]
