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
from collections.abc import Iterator
from pathlib import Path

from livethresh.errors import OutputError


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file, through symlinks, hard links and relative parts."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


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
    """
    folder = output.parent if str(output.parent) else Path(".")
    while True:
        temp = folder / f".{output.stem}.{secrets.token_hex(4)}.part{output.suffix}"
        try:
            # O_EXCL: never reuse a file; mode 0666 so the umask gives the usual permissions.
            os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield temp
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
