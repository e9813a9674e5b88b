"""The y4m header's sample aspect ratio, which FFmpeg's muxer cannot get from PyAV.

FFmpeg's ``yuv4mpegpipe`` muxer writes the ``A`` field of its header from the stream's own
aspect ratio, a field PyAV leaves unset (it sets the encoder's), so the header would say
``A0:0``, "unknown", where ``ffmpeg`` says ``A1:1``. y4m is written strictly in order and its
header is the first line, so the output goes through :class:`Y4MWriter`, which puts the ratio in
on the way out.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from typing import BinaryIO

#: What the muxer writes when the stream's aspect ratio is unset.
UNKNOWN_ASPECT = b" A0:0"


class Y4MWriter:
    """A binary writer for y4m output that fills in the header's sample aspect ratio.

    Args:
        target: A path, ``pipe:1`` for standard output, or a binary file object (not closed).
        sar: The sample aspect ratio to write.

    Raises:
        OSError: The path cannot be opened for writing.
    """

    def __init__(self, target: str | BinaryIO, sar: Fraction) -> None:
        self._owned = isinstance(target, str) and target != "pipe:1"
        if target == "pipe:1":
            self._file: BinaryIO = sys.stdout.buffer
        elif isinstance(target, str):
            self._file = open(target, "wb")  # noqa: SIM115 - closed by close()
        else:
            self._file = target
        self._aspect = f" A{sar.numerator}:{sar.denominator}".encode()
        self._in_header = True

    def write(self, data: bytes) -> int:
        """Write ``data``; in the header, the unknown aspect ratio becomes the real one."""
        size = len(data)
        if self._in_header:
            self._in_header = False
            line, newline, rest = bytes(data).partition(b"\n")
            data = line.replace(UNKNOWN_ASPECT, self._aspect, 1) + newline + rest
        self._file.write(data)
        return size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it; safe to call again."""
        if self._file.closed:
            return
        self._file.flush()
        if self._owned:
            self._file.close()
