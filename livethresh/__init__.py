"""livethresh: real-time adaptive binarization of camera and video frames.

The package is laid out the way frames travel: ``sources`` decode, ``pipeline`` moves frames
between threads, ``binarize`` turns them into masks in preallocated buffers, and ``sinks`` show
or encode the masks. ``config`` holds the validated settings every room shares, and
``transcode`` wires a source, the pipeline and the encoder together (``transcode_split`` runs
one long video as segments in parallel, joined into the same output). The names below are the
public API; the one-shot ``binarize(gray, config)`` for a single image is
``livethresh.binarize.binarize`` (not re-exported here, so that ``livethresh.binarize`` stays
the package of kernels).
"""

from livethresh.binarize import Binarizer, available_methods
from livethresh.config import ThresholdConfig, load_preset, resolve
from livethresh.errors import (
    ConfigError,
    FrameShapeError,
    InputError,
    InputNotFoundError,
    LivethreshError,
    OutputError,
)
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.pipeline import Pipeline
from livethresh.sinks import FrameSink, NullSink, TeeSink
from livethresh.sources import FrameSource, SourceKind, open_source
from livethresh.split import SplitResult, transcode_split
from livethresh.transcode import TranscodeResult, transcode

__version__ = "0.1.0"

__all__ = [
    "Binarizer",
    "ConfigError",
    "FrameShapeError",
    "FrameSink",
    "FrameSource",
    "InputError",
    "InputNotFoundError",
    "LivethreshError",
    "NullSink",
    "OutputError",
    "Pipeline",
    "ProcessedFrame",
    "SourceKind",
    "SplitResult",
    "StreamInfo",
    "TeeSink",
    "ThresholdConfig",
    "TranscodeResult",
    "__version__",
    "available_methods",
    "load_preset",
    "open_source",
    "resolve",
    "transcode",
    "transcode_split",
]
