"""Still images in and out, the way the seed article reads them.

Reading decodes with ``cv2.IMREAD_COLOR`` and converts with ``cv2.COLOR_BGR2GRAY``, so a mask
equals the article's code exactly. Files are read and written as bytes (``imdecode`` and
``imencode``) so that any path the OS accepts works and errors can be reported precisely.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from livethresh.errors import InputError, InputNotFoundError, OutputError
from livethresh.outputs import atomic_output, check_output_path

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Route what C libraries print on stderr (libpng, libjpeg, OpenCV) to the debug log.

    Image codecs print their own complaints about damaged files straight to file descriptor 2,
    which would put several cryptic lines before livethresh's one clear error.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, some test runners)
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace").strip()
            if text:
                logger.debug("image decoder said: %s", text)


def read_gray(path: Path) -> np.ndarray:
    """Read any image OpenCV decodes and return it as uint8 gray.

    Raises:
        InputNotFoundError: The path does not exist.
        InputError: It is a directory, cannot be read, or is not a decodable image.
    """
    if not path.exists():
        raise InputNotFoundError(f"input {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"input {str(path)!r} is a directory; give an image file")
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read input {str(path)!r}: {exc.strerror or exc}") from exc
    with native_stderr_to_log():
        try:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except cv2.error as exc:  # e.g. a damaged header claiming a huge size
            logger.debug("imdecode refused %s: %s", path, exc)
            image = None
    if image is None:
        raise InputError(
            f"input {str(path)!r} is not an image OpenCV can decode "
            "(png, jpg, tiff, bmp, webp, ...)"
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def write_image(path: Path, image: np.ndarray, overwrite: bool = False,
                inputs: list[Path] | None = None) -> None:
    """Write an image in the format named by ``path``'s extension, atomically.

    Raises:
        OutputError: The extension is not an image format, or the path breaks the output rules
            of :func:`livethresh.outputs.check_output_path`.
    """
    if not path.suffix or not cv2.haveImageWriter(f"x{path.suffix}"):
        raise OutputError(
            f"cannot write images with extension {path.suffix or '(none)'!r}; "
            "use .png, .jpg, .tif, .bmp or .webp"
        )
    check_output_path(path, inputs or [], overwrite)
    ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise OutputError(f"OpenCV could not encode {str(path)!r}")
    try:
        with atomic_output(path) as temp:
            encoded.tofile(temp)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
