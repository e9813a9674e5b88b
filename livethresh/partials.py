"""The temporary files behind atomic outputs: their names, their locks, their leftovers.

:func:`~livethresh.files.atomic_output` writes each output as a hidden partial file beside its
final name (:func:`partial_name`), created here, locked (``flock``) for as long as it is
written and known to this process until it is renamed or deleted. A writer that dies without
cleaning up (SIGKILL, a crash) leaves its partial file, unlocked with the process:
:func:`remove_leftover_partials` clears those and never one a running writer holds, and
:func:`abandon_partials` lets a process whose batch died delete its own before it exits.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

from livethresh.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be deleted there, which serves instead
    fcntl = None  # type: ignore[assignment]

#: The temporary files this process is writing now (see :func:`abandon_partials`).
_writing: set[Path] = set()
_writing_lock = threading.Lock()


def partial_name(output: Path, token: str) -> str:
    """The hidden name :func:`atomic_output` writes ``output`` under until it is complete."""
    return f".{output.stem}.{token}.part{output.suffix}"


def kept_name(output: Path, token: str) -> str:
    """The name of a finished output kept beside ``output`` because another file took its
    place meanwhile: never taken for a partial file (which a rerun may clear)."""
    return f".{output.stem}.{token}.kept{output.suffix}"


#: The parts of a partial file's name (see :func:`partial_name`).
_PARTIAL = re.compile(r"\.(?P<stem>.*)\.[0-9a-f]{8}\.part(?P<suffix>.*)")


def leftover_partials(outputs: Iterable[Path]) -> list[Path]:
    """Unfinished files of ``outputs`` that a killed writer left beside them (SIGKILL, a
    crash): every other exit removes its own. A file that a running writer holds (locked
    while it is written) is not one of them. Each folder is listed once."""
    wanted: dict[Path, set[tuple[str, str]]] = {}
    for output in outputs:
        folder = output.parent if str(output.parent) else Path(".")
        wanted.setdefault(folder, set()).add((output.stem, output.suffix))
    found = []
    for folder, names in wanted.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _PARTIAL.fullmatch(entry.name)
            if match and (match["stem"], match["suffix"]) in names:
                found.append(folder / entry.name)
    return sorted(path for path in found if _abandoned(path))


def remove_leftover_partials(outputs: Iterable[Path]) -> list[Path]:
    """Delete the :func:`leftover_partials` of ``outputs``; returns those deleted."""
    removed = []
    for path in leftover_partials(outputs):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.unlink()
            removed.append(path)
    return removed


def abandon_partials() -> list[Path]:
    """Delete the temporary files this process is writing now, and return them.

    For a worker process whose parent died: it must leave no partial file behind, and its
    writer threads may be stuck in a decoder.
    """
    with _writing_lock:
        writing = sorted(_writing)
    for path in writing:
        with contextlib.suppress(OSError):
            path.unlink()
    return writing


def _abandoned(path: Path) -> bool:
    """Whether no process holds ``path``'s lock (its writer is gone). Without locks (Windows),
    True: a file that is still open cannot be deleted there. When the lock cannot be tested
    (a network file system without lock support), False: a file in doubt is kept."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _lock_for_writing(fd: int) -> None:
    """Hold ``fd``'s lock while the file is written, so that no cleanup takes it for a dead
    writer's. The lock goes with the process, however it ends."""
    if fcntl is not None:
        with contextlib.suppress(OSError):  # no lock support: such files are never cleared
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def create_partial(output: Path, folder: Path) -> tuple[Path, str, int]:
    """Create ``output``'s temporary file; returns it, its token and a descriptor holding its
    lock (-1 where there are no locks).

    Raises:
        OutputError: The folder does not take new files.
    """
    while True:
        token = secrets.token_hex(4)
        temp = folder / partial_name(output, token)
        try:
            # O_EXCL: never reuse a file; mode 0666 so the umask gives the usual permissions.
            lock = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(
                f"cannot create a file in {str(folder)!r}: {exc.strerror or exc}; "
                "choose a writable folder"
            ) from exc
        if fcntl is None:
            os.close(lock)  # Windows cannot rename a file that is open
            lock = -1
        else:
            _lock_for_writing(lock)
        with _writing_lock:
            _writing.add(temp)
        return temp, token, lock


def release_partial(temp: Path, lock: int) -> None:
    """``temp`` is no longer being written (renamed into place, or deleted): forget it and
    let its lock go."""
    with _writing_lock:
        _writing.discard(temp)
    if lock >= 0:
        os.close(lock)
