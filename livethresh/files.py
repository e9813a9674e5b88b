"""Rules for every file livethresh writes: never clobber, never touch the input, never leave half.

A command checks its output path up front with :func:`check_output_path`, then writes through
:func:`atomic_output`: data goes to a hidden temporary file beside the target and is renamed
over it only when complete and on disk, so an existing file is replaced only by a finished one,
a failed run leaves nothing behind, and a power loss never leaves an empty file under the final
name. A process that dies without cleaning up (SIGKILL, a crash) leaves its temporary file,
which :func:`~livethresh.partials.remove_leftover_partials` clears once no process holds it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from livethresh.errors import OutputError
from livethresh.partials import create_partial, kept_name, release_partial


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
        OutputError: The output is one of the inputs (say, a file of an input image sequence),
            exists without ``overwrite``, is a directory, or its folder is missing or not
            writable.
    """
    if len(inputs) == 1 and same_file(inputs[0], output):
        raise OutputError(f"output {str(output)!r} is the input file; choose another output path")
    clobbered = _one_of(output, inputs) if len(inputs) > 1 else None
    if clobbered is not None:
        alias = f" (as {str(clobbered)!r})" if str(clobbered) != str(output) else ""
        raise OutputError(
            f"output {str(output)!r} is one of the {len(inputs)} input files{alias}; choose "
            "another output path"
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


def _one_of(output: Path, inputs: list[Path]) -> Path | None:
    """The input that ``output`` is (through links and other spellings), or None: one ``stat``
    per input, for sequences of many thousand files."""
    try:
        target = output.stat()
    except OSError:
        return None  # nothing there to destroy
    for source in inputs:
        with contextlib.suppress(OSError):
            found = source.stat()
            if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
                return source
    return None


def write_failure(exc: BaseException) -> str:
    """Why writing failed, in words, with what to do for the usual causes (full disk, pipe)."""
    code = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None) or str(exc)
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return f"{reason}; free some space or write to another disk"
    if code in (errno.EPIPE, errno.ECONNRESET):
        return f"{reason}; the reader of the output went away"
    return str(reason)


@contextlib.contextmanager
def atomic_output(output: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; on success move it into place as ``output``.

    On any exception the temporary file is removed and ``output`` is left as it was. The
    temporary name keeps the extension, so that writers choosing a format by extension work.

    Without ``overwrite`` the finished file never replaces one that appeared meanwhile (another
    program, or another livethresh writing the same new path): it is put in place with a
    no-replace link, and when the place is taken it is kept beside it under a name that the
    error gives (:func:`~livethresh.partials.kept_name`), so that nothing written by either
    side is lost.

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
    with _FolderHandle(folder) as handle:
        yield from _write_beside(output, folder, handle, overwrite)


def _sync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (before it takes its final name).

    Raises:
        OSError: The data could not be written (an I/O error, a network share gone); a file
            system that has no way to sync is let be.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _write_beside(
    output: Path, folder: Path, handle: _FolderHandle, overwrite: bool
) -> Iterator[Path]:
    """The body of :func:`atomic_output` once the folder is held open."""
    temp, token, lock = create_partial(output, folder)
    try:
        try:
            yield temp
            # The data reaches the disk before the name does, and the name before the run
            # says it is done: after a power loss a file under its final name is complete.
            _sync_file(temp)
            if overwrite:
                os.replace(temp, output)
                placed = True
            else:
                placed = _place_without_replacing(temp, output)
        except BaseException as exc:
            handle.remove(temp)
            if handle.moved():
                raise OutputError(handle.moved_message(output)) from exc
            raise
        kept = temp
        if placed:
            handle.sync()
        else:
            # Out of the partial files' names (a rerun clears those) while still locked.
            with contextlib.suppress(OSError):
                if _place_without_replacing(temp, folder / kept_name(output, token)):
                    kept = folder / kept_name(output, token)
    finally:
        release_partial(temp, lock)
    if not placed:
        raise OutputError(
            f"output {str(output)!r} appeared while livethresh was writing it and was not "
            f"replaced; the finished output is kept as {str(kept)!r}: move it where you want it"
        )


class _FolderHandle:
    """The output folder, held open, so that a partial file is found again if it is renamed.

    Between the start and the end of a long transcode the user may rename or remove the output
    folder. The temporary file then lives on under the new name, out of reach of its path: it
    is removed through the folder's descriptor instead (``unlink`` relative to ``dir_fd``), and
    the error names the folder as it was given.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd: int | None = None
        if os.unlink in os.supports_dir_fd and hasattr(os, "O_DIRECTORY"):
            with contextlib.suppress(OSError):
                self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self) -> _FolderHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def moved(self) -> bool:
        """Whether the folder's path no longer leads to the folder held open."""
        if self.fd is None:
            return not self.folder.is_dir()
        try:
            now, then = os.stat(self.folder), os.fstat(self.fd)
        except OSError:
            return True
        return (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino)

    def sync(self) -> None:
        """Flush the folder's entries to the disk: the new name of a file survives a power
        loss. File systems that cannot sync a folder are let be."""
        fd = self.fd
        try:
            if fd is None:
                fd = os.open(self.folder, os.O_RDONLY)
            os.fsync(fd)
        except OSError:
            pass
        finally:
            if fd is not None and fd != self.fd:
                os.close(fd)

    def remove(self, temp: Path) -> None:
        """Delete ``temp``, wherever its folder has gone."""
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp.name, dir_fd=self.fd)
        else:
            temp.unlink(missing_ok=True)

    def moved_message(self, output: Path) -> str:
        return (
            f"output folder {str(self.folder)!r} was renamed or removed while {str(output)!r} "
            "was being written; the partial file was deleted: keep the folder in place and run "
            "again"
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
