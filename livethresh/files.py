"""Rules for every file livethresh writes: never clobber, never touch the input, never leave half.

A command checks its output path up front with :func:`check_output_path`, then writes through
:func:`atomic_output`: data goes to a hidden temporary file beside the target and is renamed
over it only when complete, so an existing file is replaced only by a finished one and a failed
run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import secrets
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from livethresh.binarize.binarizer import Binarizer, available_cores, limit_opencv_threads
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError, InputNotFoundError, OutputError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file, through symlinks, hard links and relative parts."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def is_special_file(path: Path) -> bool:
    """Whether ``path`` exists and is a device, FIFO or socket rather than a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def check_output_path(output: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an output that would destroy data or cannot be written.

    Raises:
        OutputError: The output is one of the inputs, exists without ``overwrite``, is a
            directory, or its folder is missing or not writable.
    """
    for source in inputs:
        if same_file(source, output):
            raise OutputError(
                f"output {str(output)!r} is the input file; choose another output path"
            )
    if output.is_dir():
        raise OutputError(f"output {str(output)!r} is a directory; give a file name")
    if is_special_file(output):
        return  # a device or pipe holds no data to clobber, and is written in place
    if output.exists() and not overwrite:
        raise OutputError(
            f"output {str(output)!r} already exists; pass overwrite=True to replace it"
        )
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {str(folder)!r} is not writable")


@contextlib.contextmanager
def atomic_output(output: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; on success move it into place as ``output``.

    On any exception the temporary file is removed and ``output`` is left as it was. The
    temporary name keeps the extension, so that writers choosing a format by extension work.

    Without ``overwrite`` the finished file never replaces one that appeared meanwhile (another
    program, or another livethresh writing the same new path): it is put in place with a
    no-replace link, and when the place is taken it stays under its temporary name, which the
    error names, so that nothing written by either side is lost.

    A symlink is followed: the file it points to is replaced and the link is kept. A device or
    a pipe (``/dev/null``, a FIFO) is yielded as it is and written in place, because renaming a
    regular file over it would replace the device node itself.

    Raises:
        OutputError: The temporary file cannot be created (read-only or vanished folder), or
            ``output`` appeared while it was written and ``overwrite`` is False.
    """
    if output.is_symlink():
        output = Path(os.path.realpath(output))
    if is_special_file(output):
        yield output
        return
    folder = output.parent if str(output.parent) else Path(".")
    while True:
        temp = folder / f".{output.stem}.{secrets.token_hex(4)}.part{output.suffix}"
        try:
            # O_EXCL: never reuse a file; mode 0666 so the umask gives the usual permissions.
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"cannot create a file in {str(folder)!r}: {exc.strerror or exc}; "
                "choose a writable folder"
            ) from exc
    try:
        yield temp
        if overwrite:
            os.replace(temp, output)
            return
        placed = _place_without_replacing(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if not placed:
        raise OutputError(
            f"output {str(output)!r} appeared while livethresh was writing it and was not "
            f"replaced; the finished output is kept as {str(temp)!r}: move it where you want it"
        )


#: renameat2's flag that refuses to replace an existing target (Linux 3.15+).
_RENAME_NOREPLACE = 1


def _place_without_replacing(temp: Path, output: Path) -> bool:
    """Move ``temp`` to ``output`` only if nothing is there; False (``temp`` kept) if taken.

    A hard link is the portable atomic "create if absent"; where the file system has no hard
    links (FAT, some network shares) Linux's ``renameat2(RENAME_NOREPLACE)`` does the same.
    """
    try:
        os.link(temp, output)
    except FileExistsError:
        return False
    except OSError:
        return _rename_no_replace(temp, output)
    temp.unlink()
    return True


def _rename_no_replace(temp: Path, output: Path) -> bool:
    """``renameat2(RENAME_NOREPLACE)``; elsewhere a check then a rename (a narrow window)."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        if output.exists():
            return False
        os.rename(temp, output)
        return True
    at_cwd = -100  # AT_FDCWD
    if renameat2(at_cwd, os.fsencode(temp), at_cwd, os.fsencode(output), _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        return False
    raise OSError(code, os.strerror(code), str(output))


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
    _warn_other_pages(path, data)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


#: The first bytes of a TIFF file (little- and big-endian): the format that holds pages.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _warn_other_pages(path: Path, data: np.ndarray) -> None:
    """Say that only the first page of a multi-page TIFF (a scanned document) is read."""
    if bytes(data[:4]) not in TIFF_MAGIC:
        return
    with native_stderr_to_log():
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
    path: Path, image: np.ndarray, overwrite: bool = False, inputs: list[Path] | None = None
) -> None:
    """Write an image in the format named by ``path``'s extension, atomically.

    Raises:
        OutputError: The extension is not an image format, or the path breaks the output rules
            of :func:`livethresh.files.check_output_path`.
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
        with atomic_output(path, overwrite) as temp:
            encoded.tofile(temp)
    except OSError as exc:
        raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc


def binarize_image(
    input: Path, output: Path, config: ThresholdConfig, overwrite: bool = False
) -> None:
    """Binarize a still image file into a mask file, the way the seed article does.

    Every core works on it (one band each). The output follows :func:`write_image`'s rules.

    Raises:
        InputError, InputNotFoundError: The input cannot be read as an image.
        OutputError: The output cannot be written, or exists and ``overwrite`` is False.
    """
    gray = read_gray(input)
    limit_opencv_threads()
    with Binarizer(config, gray.shape, threads=available_cores()) as binarize:
        write_image(output, binarize(gray), overwrite=overwrite, inputs=[input])
