"""The exceptions livethresh raises: one root, so the CLI can turn any of them into one line.

Subclasses also inherit the matching builtin where one exists, so library users can keep
catching ``ValueError`` or ``FileNotFoundError`` as they would for any other library.
"""

from __future__ import annotations

import builtins


class LivethreshError(Exception):
    """Root of every error livethresh raises on purpose.

    The message is written for the person at the terminal: what is wrong and what to do.
    """


class ConfigError(LivethreshError, ValueError):
    """A setting has a value that is not allowed, or a preset cannot be loaded."""


class FrameShapeError(LivethreshError, ValueError):
    """A frame does not match the shape or type a binarizer was built for."""


class InputError(LivethreshError):
    """An input (image, video, camera, stream) cannot be opened or read."""


class InputNotFoundError(InputError, builtins.FileNotFoundError):
    """An input path does not exist."""


class OutputError(LivethreshError):
    """An output cannot be written where or how it was asked for."""
