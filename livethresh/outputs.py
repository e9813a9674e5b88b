"""Rules for every file livethresh writes: never clobber, never touch the input, never leave half.

A command checks its output path up front with :func:`check_output_path`, then writes through
:func:`atomic_output`: data goes to a hidden temporary file beside the target and is renamed
over it only when complete, so an existing file is replaced only by a finished one and a failed
run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from livethresh.errors import OutputError


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
            f"output {str(output)!r} already exists; pass -y/--overwrite to replace it"
        )
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {str(folder)!r} is not writable")


@contextlib.contextmanager
def atomic_output(output: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; on success rename it over ``output``.

    On any exception the temporary file is removed and ``output`` is left as it was. The
    temporary name keeps the extension, so that writers choosing a format by extension work.

    A symlink is followed: the file it points to is replaced and the link is kept. A device or
    a pipe (``/dev/null``, a FIFO) is yielded as it is and written in place, because renaming a
    regular file over it would replace the device node itself.

    Raises:
        OutputError: The temporary file cannot be created (read-only or vanished folder).
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
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
