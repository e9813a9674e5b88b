"""Still images in and out: reading any picture OpenCV decodes as gray, writing masks.

Every output goes through the rules of :mod:`livethresh.files` (never clobber, never touch the
input, never leave half), and OpenCV's own log lines are kept quiet: livethresh says what went
wrong in one line of its own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from livethresh.binarize.binarizer import Binarizer, available_cores, limit_opencv_threads
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError, InputNotFoundError, OutputError
from livethresh.files import atomic_output, check_output_path, write_failure
from livethresh.frames import over_white

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


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines (``[ERROR:0@0.186] ... imencode(): can't encode``).

    livethresh reports every OpenCV failure itself, in one line that says what to do; the
    previous level is restored afterwards, since it is OpenCV's global setting.
    """
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


#: Formats a mask is best written in, for the suggestion when an extension is refused.
MASK_FORMATS = ".png, .tif, .bmp, .webp or .pgm"


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


def check_image_output(path: str | Path) -> Path:
    """Refuse, before any work, an output OpenCV cannot write a gray mask to.

    A tiny mask is encoded with the extension (quietly): OpenCV has writers whose formats do
    not hold one gray channel (.gif, .ppm, .jp2 in some builds), which ``haveImageWriter``
    does not tell.

    Raises:
        OutputError: A URL, no extension, or one OpenCV cannot encode a gray image as.
    """
    if _is_url(str(path)):
        raise OutputError(f"output {str(path)!r} is a URL: still images are written to files only")
    path = Path(path)
    if not path.suffix or not _encodes_gray(path.suffix.lower()):
        raise OutputError(
            f"cannot write a gray mask as {path.suffix or '(no extension)'!r}; use {MASK_FORMATS}"
        )
    return path


@functools.cache
def _encodes_gray(suffix: str) -> bool:
    with quiet_opencv():
        try:
            return (
                bool(cv2.haveImageWriter(f"x{suffix}"))
                and cv2.imencode(suffix, np.zeros((2, 2), np.uint8))[0]
            )
        except cv2.error:
            return False


def read_gray(path: str | Path) -> np.ndarray:
    """Read any image OpenCV decodes and return it as uint8 gray.

    Raises:
        InputNotFoundError: The path does not exist.
        InputError: It is a URL, a directory, cannot be read, or is not a decodable image.
    """
    if _is_url(str(path)):
        raise InputError(
            f"input {str(path)!r} is a URL: still images are read from files only; "
            "download it first (e.g. curl -O URL)"
        )
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"input {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"input {str(path)!r} is a directory; give an image file")
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read input {str(path)!r}: {exc.strerror or exc}") from exc
    whole = _may_hold_alpha_or_depth(data)
    image = _decode(data, path, cv2.IMREAD_UNCHANGED if whole else cv2.IMREAD_COLOR)
    if image is not None and whole and image.dtype not in (np.uint8, np.uint16):
        image = _decode(data, path, cv2.IMREAD_COLOR)  # floats and others: OpenCV's 8 bits
    if image is None:
        raise InputError(
            f"input {str(path)!r} is not an image OpenCV can decode "
            "(png, jpg, tiff, bmp, webp, ...)"
        )
    _warn_other_pages(path, data)
    return to_gray8(image, str(path), significant_bits=_significant_bits(data))


def _decode(data: np.ndarray, path: Path, flags: int) -> np.ndarray | None:
    with native_stderr_to_log(), quiet_opencv():
        try:
            return cv2.imdecode(data, flags) if data.size else None
        except cv2.error as exc:  # e.g. a damaged header claiming a huge size
            logger.debug("imdecode refused %s: %s", path, exc)
            return None


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _may_hold_alpha_or_depth(data: np.ndarray) -> bool:
    """Whether a file may hold an alpha channel or more than 8 bits a sample, which OpenCV's
    usual 8-bit colour decoding drops (text drawn in alpha on transparency, 12-bit data).

    Only those are decoded unchanged: that decoding ignores a JPEG's EXIF orientation.
    """
    head = bytes(data[:32])
    if head.startswith(PNG_MAGIC):
        if len(head) < 26:  # cut inside its header: OpenCV's decoding refuses it
            return False
        depth, color_type = head[24], head[25]
        return depth > 8 or color_type in (4, 6) or b"tRNS" in _png_chunks(data)
    if head[:4] in TIFF_MAGIC:
        return True
    # WebP's extended header: the alpha flag of its VP8X chunk.
    return (
        len(head) > 20
        and head[:4] == b"RIFF"
        and head[8:16] == b"WEBPVP8X"
        and bool(head[20] & 0x10)
    )


def _png_chunks(data: np.ndarray) -> dict[bytes, bytes]:
    """The chunks of a PNG before its image data, by name (empty for other formats)."""
    head = bytes(data[:65536])
    chunks: dict[bytes, bytes] = {}
    if not head.startswith(PNG_MAGIC):
        return chunks
    at = len(PNG_MAGIC)
    while at + 8 <= len(head):
        length = int.from_bytes(head[at : at + 4], "big")
        name = head[at + 4 : at + 8]
        if name == b"IDAT":
            break
        chunks[name] = head[at + 8 : at + 8 + length]
        at += 12 + length
    return chunks


def _significant_bits(data: np.ndarray) -> int | None:
    """The bits per sample a PNG's ``sBIT`` chunk says are significant, if it has one."""
    sbit = _png_chunks(data).get(b"sBIT")
    return max(sbit) if sbit else None


#: Bit depths that 16-bit samples may hold unscaled (cameras and scientific pipelines write
#: 10-, 12- and 14-bit data into 16-bit PNG and TIFF without shifting it up).
SAMPLE_DEPTHS = (8, 10, 12, 14, 16)


def to_gray8(
    image: np.ndarray, name: str = "image", significant_bits: int | None = None
) -> np.ndarray:
    """An 8- or 16-bit decoded image (gray, gray+alpha, BGR or BGRA) as uint8 gray.

    Transparency is composited over white paper, so text drawn in the alpha channel (black on
    transparent) stays text. 16-bit samples are scaled by the depth they really use, instead
    of coming out nearly black: a PNG's ``sBIT`` (``significant_bits``) says it, and its
    samples are read at that depth when they fit in it, else (as the PNG standard has them)
    at 16 bits; without it, values that all fit in 10, 12 or 14 bits are read at that depth,
    with a warning.
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    alpha = image[..., -1] if channels in (2, 4) else None
    color = image[..., 0] if channels == 2 else image[..., :3] if channels == 4 else image
    if image.dtype == np.uint16:
        used = int(color.max()).bit_length()
        if significant_bits is not None:
            depth = (
                significant_bits if 8 <= significant_bits < 16 and used <= significant_bits else 16
            )
        else:
            depth = next(d for d in SAMPLE_DEPTHS if used <= d)
            if depth < 16:
                logger.warning(
                    "%r holds 16-bit samples that all fit in %d bits: read as %d-bit data",
                    name,
                    depth,
                    depth,
                )
        # Each channel to 8 bits first, as OpenCV's own 8-bit decoding does.
        color = np.right_shift(color, depth - 8).astype(np.uint8)
    gray: np.ndarray = color if color.ndim == 2 else cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
    if alpha is None:
        return gray
    return over_white(gray, alpha)


#: The first bytes of a TIFF file (little- and big-endian): the format that holds pages.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _warn_other_pages(path: Path, data: np.ndarray) -> None:
    """Say that only the first page of a multi-page TIFF (a scanned document) is read."""
    if bytes(data[:4]) not in TIFF_MAGIC:
        return
    with native_stderr_to_log(), quiet_opencv():
        try:
            pages = cv2.imcount(str(path))
        except cv2.error:
            return
    if pages > 1:
        logger.warning(
            "%r has %d pages; only page 1 is binarized (split the others out first, e.g. "
            "with tiffsplit)",
            str(path),
            pages,
        )


def write_image(
    path: str | Path, image: np.ndarray, overwrite: bool = False, inputs: list[Path] | None = None
) -> None:
    """Write an image in the format named by ``path``'s extension, atomically.

    Raises:
        OutputError: The extension is not an image format, or the path breaks the output rules
            of :func:`~livethresh.files.check_output_path`.
    """
    path = check_image_output(path)
    check_output_path(path, inputs or [], overwrite)
    with quiet_opencv():
        ok, encoded = cv2.imencode(path.suffix, image)
    if not ok:
        raise OutputError(f"OpenCV could not encode {str(path)!r}")
    try:
        with atomic_output(path, overwrite) as temp, open(temp, "wb") as out:
            # A Python file object, not ndarray.tofile: its close reports a failed flush
            # (a full disk), which tofile would let pass as success.
            out.write(encoded.tobytes())
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {write_failure(exc)}") from exc


def binarize_image(
    input: str | Path, output: str | Path, config: ThresholdConfig, overwrite: bool = False
) -> None:
    """Binarize a still image file into a mask file, the way the seed article does.

    Every core works on it (one band each). The output follows :func:`write_image`'s rules.

    Raises:
        InputError, InputNotFoundError: The input cannot be read as an image.
        OutputError: The output cannot be written, or exists and ``overwrite`` is False.
    """
    output = check_image_output(output)  # before reading: a bad extension fails at once
    gray = read_gray(input)
    limit_opencv_threads()
    with Binarizer(config, gray.shape, threads=available_cores()) as binarize:
        write_image(output, binarize(gray), overwrite=overwrite, inputs=[Path(input)])
