"""Planning a batch: INPUT arguments become (input, output) pairs, each marked to run or skip.

The rules, decided here once for both engines:

* a file goes to ``DIR/<name>``; a directory is searched recursively for video files (by
  extension, :data:`VIDEO_EXTENSIONS`) and its tree is mirrored under ``DIR``; a glob pattern
  (``*``, ``?``, ``[``, and ``**`` across folders) stands for what it matches;
* the output's extension follows the container: mp4 unless a format is given;
* hidden files and folders are not searched (livethresh's own unfinished outputs are hidden
  files), nor is the output folder when it lies inside an input folder, so that a rerun never
  takes last run's outputs for inputs;
* the same input named twice runs once; two inputs that would write the same output stop the
  batch before anything runs;
* resume: an existing output is finished (outputs are written under a temporary name and
  renamed only when complete), so it is skipped unless ``overwrite``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from livethresh.encode.containers import CONTAINER_BY_EXTENSION
from livethresh.errors import ConfigError, OutputError
from livethresh.files import same_file

#: What a directory search takes for a video file (compared in lower case).
VIDEO_EXTENSIONS = frozenset(
    {
        ".3gp",
        ".asf",
        ".avi",
        ".dv",
        ".flv",
        ".m2ts",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".mts",
        ".mxf",
        ".ogv",
        ".ts",
        ".vob",
        ".webm",
        ".wmv",
        ".y4m",
    }
)
#: The container of a batch's outputs unless a format is given.
DEFAULT_FORMAT = "mp4"
#: The output extension of each container a batch can write (the first extension that names
#: it in :data:`~livethresh.encode.containers.CONTAINER_BY_EXTENSION`).
EXTENSION_BY_FORMAT = {fmt: ext for ext, fmt in reversed(CONTAINER_BY_EXTENSION.items())}
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class PlannedFile:
    """One input of a batch and what to do with it.

    Attributes:
        input: The input path, as found (relative if the argument was).
        output: Where its masks go.
        skip: The output exists already and is kept (resume).
        problem: Why it cannot run at all (it is reported as failed), or None.
    """

    input: str
    output: str | None
    skip: bool = False
    problem: str | None = None


def output_extension(fmt: str | None) -> str:
    """The extension of a batch's outputs for a container (or an extension: ``mkv``).

    Raises:
        ConfigError: The format is not one a batch writes files of.
    """
    name = (fmt or DEFAULT_FORMAT).lower().lstrip(".")
    if f".{name}" in CONTAINER_BY_EXTENSION:
        return f".{name}"
    if name in EXTENSION_BY_FORMAT:
        return EXTENSION_BY_FORMAT[name]
    raise ConfigError(
        f"a batch cannot write {fmt!r} files; use one of {', '.join(EXTENSION_BY_FORMAT)}"
    )


def plan_batch(
    inputs: list[str], output_dir: str, fmt: str | None = None, overwrite: bool = False
) -> list[PlannedFile]:
    """Turn INPUT arguments into the files of a batch, in a stable order.

    An argument that names nothing (a missing path, a pattern that matches nothing) becomes one
    failed entry: the rest of the batch still runs.

    Raises:
        ConfigError: The format is unknown, or two inputs would write the same output.
        OutputError: ``output_dir`` exists and is not a folder.
    """
    suffix = output_extension(fmt)
    root = Path(output_dir)
    if root.exists() and not root.is_dir():
        raise OutputError(f"--output-dir {output_dir!r} is a file; give a folder")
    planned: list[PlannedFile] = []
    pairs: list[tuple[Path, Path]] = []
    for argument in inputs:
        found = _expand(argument, root, suffix)
        if found is None:
            what = "pattern" if _GLOB_CHARACTERS & set(argument) else "input"
            verb = "matches nothing" if what == "pattern" else "does not exist"
            planned.append(PlannedFile(argument, None, problem=f"{what} {argument!r} {verb}"))
        pairs.extend(found or [])
    seen: set[Path] = set()
    writers: dict[Path, Path] = {}
    for source, target in pairs:
        key = source.resolve()
        if key in seen:
            continue
        seen.add(key)
        other = writers.setdefault(target.resolve(), source)
        if other is not source:
            raise ConfigError(
                f"{str(other)!r} and {str(source)!r} would both be written to {str(target)!r}; "
                "rename one or run them in separate batches"
            )
        if same_file(source, target):
            problem = f"its output {str(target)!r} is the input file; choose another --output-dir"
            planned.append(PlannedFile(str(source), str(target), problem=problem))
        else:
            skip = target.exists() and not overwrite
            planned.append(PlannedFile(str(source), str(target), skip=skip))
    return planned


def _expand(argument: str, root: Path, suffix: str) -> list[tuple[Path, Path]] | None:
    """The (input, output) pairs an argument stands for; None when it names nothing."""
    path = Path(argument)
    if path.exists():
        return _pairs(path, root, suffix)
    if not _GLOB_CHARACTERS & set(argument):
        return None
    matches = sorted(glob.glob(argument, recursive=True))
    pairs = [pair for match in matches for pair in _pairs(Path(match), root, suffix)]
    return pairs or None


def _pairs(path: Path, root: Path, suffix: str) -> list[tuple[Path, Path]]:
    if not path.is_dir():
        return [(path, (root / path.name).with_suffix(suffix))]
    return [
        (found, (root / found.relative_to(path)).with_suffix(suffix))
        for found in find_videos(path, exclude=root)
    ]


def find_videos(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Video files under ``folder``, recursively and sorted, without hidden files or folders
    and without anything under ``exclude``."""
    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    for top, folders, files in os.walk(folder):
        here = Path(top)
        folders[:] = sorted(
            name for name in folders if not name.startswith(".") and (here / name).resolve() != skip
        )
        found.extend(
            here / name
            for name in sorted(files)
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS
        )
    return found
