"""Planning a batch: INPUT arguments become (input, output) pairs, each marked to run or skip.

The rules, decided here once for both engines:

* a file goes to ``DIR/<name>``; a directory is searched recursively for video files (by
  extension, :data:`VIDEO_EXTENSIONS`) and its tree is mirrored under ``DIR``; a glob pattern
  (``*``, ``?``, ``[``, and ``**`` across folders) stands for what it matches;
* the output's extension follows the container: mp4 unless a format is given;
* hidden files and folders are not searched (livethresh's own unfinished outputs are hidden
  files), nor is the output folder when it lies inside an input folder or under a pattern's
  matches, so that a rerun never takes last run's outputs for inputs;
* what cannot be read fails alone and by name: a folder (or subfolder) that cannot be listed,
  a folder argument without a video file, an input that is a symlink loop;
* the same input named twice runs once; two inputs that would write the same output stop the
  batch before anything runs;
* resume: an existing output is finished (outputs are written under a temporary name and
  renamed only when complete), so it is skipped unless ``overwrite``; but one made with other
  settings (recorded in its container tag :data:`SETTINGS_TAG`) is not what the user asks
  for: it fails, saying what changed, and only ``overwrite`` redoes it. An output without the
  tag (avi and MPEG-TS drop it, older versions did not write it) is skipped.
"""

from __future__ import annotations

import errno
import glob
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from livethresh.config import ThresholdConfig
from livethresh.encode.containers import CONTAINER_BY_EXTENSION
from livethresh.encode.plan import EncodePlan
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
#: The container tag in which each output of a batch records the settings it was made with.
SETTINGS_TAG = "livethresh_settings"
#: The encoder settings that change what an output holds (not how fast it is made); the
#: codec's options hold its crf and preset.
_OUTPUT_SETTINGS = ("codec", "pix_fmt", "options", "side_by_side", "keep_timestamps")


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


def settings_record(config: ThresholdConfig, encoding: EncodePlan, audio: bool) -> str:
    """The settings an output is made with, as :data:`SETTINGS_TAG` records them: canonical
    JSON (sorted keys, no spaces) of the threshold settings and of the encoder settings that
    change what the output holds, as resolved for the container (so that naming a default,
    ``--codec libx264``, changes nothing)."""
    encoder = {name: getattr(encoding, name) for name in _OUTPUT_SETTINGS}
    record = {"threshold": asdict(config), "encoding": encoder, "audio": audio}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def recorded_settings(output: Path) -> dict[str, Any] | None:
    """The settings recorded in an output's container tag; None if it has none (or cannot
    be read: it is then taken as it is, as before settings were recorded)."""
    if not output.is_file():
        return None  # a device or a FIFO, which reading would block on
    try:
        with av.open(str(output)) as container:
            tags = dict(container.metadata)
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    text = next((value for key, value in tags.items() if key.lower() == SETTINGS_TAG), None)
    try:
        record = json.loads(text) if text else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def settings_changes(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """What differs between two settings records, one ``name: old -> new`` each. A setting
    that only one of them has (added in a later version) is not a change."""
    old, new = _flatten(recorded), _flatten(wanted)
    return [
        f"{name} {_shown(old[name])} -> {_shown(new[name])}"
        for name in sorted(old.keys() & new.keys())
        if old[name] != new[name]
    ]


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, value in record.items():
        if isinstance(value, dict) and section in ("threshold", "encoding"):
            flat.update(
                {
                    name if section == "threshold" else f"encoder {name}": v
                    for name, v in value.items()
                }
            )
        else:
            flat[section] = value
    return flat


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{key}={item}" for key, item in sorted(value.items())) or "none"
    return "unset" if value is None else str(value)


def plan_batch(
    inputs: list[str],
    output_dir: str,
    fmt: str | None = None,
    overwrite: bool = False,
    settings: str | None = None,
) -> list[PlannedFile]:
    """Turn INPUT arguments into the files of a batch, in a stable order.

    An argument that names nothing (a missing path, a pattern that matches nothing) becomes one
    failed entry: the rest of the batch still runs.

    Args:
        inputs: The INPUT arguments.
        output_dir: The output folder.
        fmt: The outputs' container.
        overwrite: Redo the outputs that exist.
        settings: The batch's :func:`settings_record`: an existing output recorded with other
            settings is a failed entry, unless ``overwrite``. None: outputs are not compared.

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
        unreadable: list[OSError] = []
        found = _expand(argument, root, suffix, unreadable)
        for error in unreadable:
            folder = str(error.filename)
            problem = f"folder {folder!r} cannot be read: {error.strerror or error}"
            planned.append(PlannedFile(folder, None, problem=problem))
        if found is None:
            what = "pattern" if _GLOB_CHARACTERS & set(argument) else "input"
            verb = "matches nothing" if what == "pattern" else "does not exist"
            planned.append(PlannedFile(argument, None, problem=f"{what} {argument!r} {verb}"))
        elif not found and not unreadable:
            problem = (
                f"folder {argument!r} holds no video file: folders are searched for .mp4, .mkv, "
                ".mov, .webm and other video extensions; name a file to run it whatever its "
                "extension"
            )
            planned.append(PlannedFile(argument, None, problem=problem))
        pairs.extend(found or [])
    seen: set[Path] = set()
    writers: dict[Path, Path] = {}
    for source, target in pairs:
        unusable = _unreadable_input(source)
        if unusable:
            planned.append(PlannedFile(str(source), str(target), problem=unusable))
            continue
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
        elif target.exists() and not overwrite:
            changed = _changed_settings(target, settings)
            planned.append(PlannedFile(str(source), str(target), skip=not changed, problem=changed))
        else:
            planned.append(PlannedFile(str(source), str(target)))
    return planned


def _changed_settings(output: Path, settings: str | None) -> str | None:
    """Why an existing output is not kept: made with other settings than ``settings``."""
    recorded = recorded_settings(output) if settings is not None else None
    if recorded is None or settings is None:
        return None
    changes = settings_changes(recorded, json.loads(settings))
    if not changes:
        return None
    return (
        f"its output {str(output)!r} was made with other settings ({'; '.join(changes)}); "
        "pass overwrite=True to redo it"
    )


def _expand(
    argument: str, root: Path, suffix: str, unreadable: list[OSError]
) -> list[tuple[Path, Path]] | None:
    """The (input, output) pairs an argument stands for; None when it names nothing. Folders
    that cannot be listed are added to ``unreadable``."""
    path = Path(argument)
    if path.exists() or path.is_symlink():
        return _pairs(path, root, suffix, unreadable)
    if not _GLOB_CHARACTERS & set(argument):
        return None
    # What lies in the output folder is last run's outputs, as in a folder search.
    matches = [m for m in sorted(glob.glob(argument, recursive=True)) if not _under(Path(m), root)]
    pairs = [pair for match in matches for pair in _pairs(Path(match), root, suffix, unreadable)]
    return pairs or (None if not unreadable else [])


def _pairs(
    path: Path, root: Path, suffix: str, unreadable: list[OSError]
) -> list[tuple[Path, Path]]:
    if not path.is_dir():
        return [(path, (root / path.name).with_suffix(suffix))]
    return [
        (found, (root / found.relative_to(path)).with_suffix(suffix))
        for found in find_videos(path, exclude=root, unreadable=unreadable)
    ]


def _under(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (through symlinks)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a symlink loop: Python 3.11 raises RuntimeError
        return False


def _unreadable_input(path: Path) -> str | None:
    """Why an input file found in a folder or by a pattern cannot be read at all, or None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"input {str(path)!r} is a symbolic link loop; fix or remove the link"
        return f"input {str(path)!r} cannot be read: {exc.strerror or exc}"
    return None


def find_videos(
    folder: Path, exclude: Path | None = None, unreadable: list[OSError] | None = None
) -> list[Path]:
    """Video files under ``folder``, recursively and sorted, without hidden files or folders
    and without anything under ``exclude``.

    Args:
        folder: Where to search.
        exclude: A folder not to search (the output folder).
        unreadable: Collects the error of each folder that cannot be listed (by default they
            are skipped).
    """
    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    walk = os.walk(folder, onerror=unreadable.append if unreadable is not None else None)
    for top, folders, files in walk:
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
