"""Image sequences (``frames/%04d.png``, ``'frames/*.png'``): their files, their first frame,
and how a numbered one with gaps is read past them.

FFmpeg's image2 demuxer reads them; what is decided here is which files belong to a sequence
(no output may be one of them) and what FFmpeg is asked to open.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
import re
from pathlib import Path

from livethresh.errors import InputError
from livethresh.frames import SourceKind
from livethresh.sources.spec import SEQUENCE_NUMBER, SourceSpec, parse_spec

log = logging.getLogger(__name__)

#: How many first numbers FFmpeg's image2 demuxer tries (its ``start_number_range``).
SEQUENCE_START_RANGE = 5


def sequence_frame(pattern: str, number: int) -> str:
    """The file name of frame ``number`` of a ``%04d`` pattern (``%%`` is a literal ``%``)."""
    parts = pattern.split("%%")
    filled = [SEQUENCE_NUMBER.sub(lambda m: f"{number:{m[1] or ''}d}", part) for part in parts]
    return "%".join(filled)


def first_sequence_frame(spec: SourceSpec) -> Path | None:
    """The first file of an image sequence, as FFmpeg would find it; None if there is none."""
    if spec.options.get("pattern_type") == "glob":
        matches = sorted(globlib.glob(spec.target))
        return Path(matches[0]) if matches else None
    for number in range(SEQUENCE_START_RANGE):
        candidate = Path(sequence_frame(spec.target, number))
        if candidate.is_file():
            return candidate
    return None


def sequence_members(spec: SourceSpec) -> list[Path]:
    """Every file of an image sequence, in order: what a glob matches, or each file that a
    ``%04d`` pattern names (any number, gaps included)."""
    if spec.options.get("pattern_type") == "glob":
        return [Path(match) for match in sorted(globlib.glob(spec.target))]
    numbered = _numbered_files(spec.target)
    if numbered is not None:
        return [path for _, path in numbered]
    # The number is in a folder's name as well: the files FFmpeg reads, up to the first gap.
    first = next(
        (n for n in range(SEQUENCE_START_RANGE) if Path(sequence_frame(spec.target, n)).is_file()),
        None,
    )
    members: list[Path] = []
    while first is not None and Path(sequence_frame(spec.target, first)).is_file():
        members.append(Path(sequence_frame(spec.target, first)))
        first += 1
    return members


def input_files(text: str) -> list[Path]:
    """The files an input spec reads: the file itself, or every file of an image sequence;
    none for a camera, a stream or a pattern. No output may be one of them."""
    try:
        spec = parse_spec(text)
    except InputError:
        return []
    if spec.format == "image2":
        return sequence_members(spec)
    if spec.kind is SourceKind.FILE and Path(spec.target).is_file():
        return [Path(spec.target)]
    return []


def continue_past_gaps(spec: SourceSpec) -> SourceSpec:
    """A numbered image sequence with gaps (frames 1, 2, 5, 6), read past them.

    FFmpeg's image2 demuxer ends a ``%04d`` sequence at its first missing number, which would
    cut the video short without a word. Such a sequence is read instead as the glob form is:
    every file in number order, one frame each, with a warning that names the first missing
    file. A pattern that a glob cannot follow (its number also in a folder's name, twice in
    the name, or padded with spaces) still stops at the gap, with a warning that says so.
    """
    if spec.format != "image2" or spec.options.get("pattern_type") == "glob":
        return spec
    numbered = _numbered_files(spec.target)
    if not numbered:
        return spec
    # FFmpeg starts at the first number of 0 to 4 that exists; none below it exists.
    numbers = [number for number, _ in numbered]
    start = numbers[0]
    if start >= SEQUENCE_START_RANGE or numbers[-1] - start == len(numbers) - 1:
        return spec
    present = set(numbers)
    missing = next(n for n in range(start, numbers[-1]) if n not in present)
    missing_file = sequence_frame(spec.target, missing)
    pattern = _sequence_glob(spec.target, numbered)
    if pattern is None:
        log.warning(
            "image sequence %r stops at its first gap, %s: %d of its %d files are read; "
            "number the files without gaps to read them all",
            spec.name,
            missing_file,
            missing - start,
            len(numbers),
        )
        return spec
    log.warning(
        "image sequence %r has gaps, the first at %s: its %d files are read in number order, "
        "one frame each",
        spec.name,
        missing_file,
        len(numbers),
    )
    options = {**spec.options, "pattern_type": "glob"}
    return SourceSpec(spec.name, spec.kind, pattern, spec.format, options, spec.live)


def _numbered_files(pattern: str) -> list[tuple[int, Path]] | None:
    """The files a ``%04d`` pattern names, with their numbers, in number order; None when the
    number is in a folder's name (the files are not listed then)."""
    folder, name = os.path.split(pattern)
    if SEQUENCE_NUMBER.search(folder.replace("%%", "")):
        return None
    literals = [re.escape(part) for part in name.split("%%")]
    regex = re.compile("%".join(SEQUENCE_NUMBER.sub(r" *(\\d+)", part) for part in literals))
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    numbered = []
    for found in names:
        match = regex.fullmatch(found)
        # The same number in every place, written as FFmpeg writes it.
        if match and sequence_frame(name, int(match[1])) == found:
            numbered.append((int(match[1]), Path(folder, found)))
    return sorted(numbered)


def _sequence_glob(pattern: str, numbered: list[tuple[int, Path]]) -> str | None:
    """A glob for FFmpeg's image2 (which expands braces) that matches the files of a ``%04d``
    pattern in number order: one brace alternative per count of digits, each sorted on its
    own. None when a glob cannot follow the pattern (see :func:`continue_past_gaps`)."""
    folder, name = os.path.split(pattern)
    pieces = name.split("%%")
    found = [(i, m) for i, piece in enumerate(pieces) for m in SEQUENCE_NUMBER.finditer(piece)]
    if SEQUENCE_NUMBER.search(folder.replace("%%", "")) or len(found) != 1:
        return None
    index, match = found[0]
    if match[1] and not match[1].startswith("0"):
        return None  # padded with spaces
    pad = int(match[1] or "0")
    before = "%".join([*pieces[:index], pieces[index][: match.start()]])
    after = "%".join([pieces[index][match.end() :], *pieces[index + 1 :]])
    widths = sorted({max(pad, len(str(number))) for number, _ in numbered})
    alternatives = [
        "[0-9]" * width if width <= max(pad, 1) else "[1-9]" + "[0-9]" * (width - 1)
        for width in widths
    ]
    digits = alternatives[0] if len(alternatives) == 1 else "{" + ",".join(alternatives) + "}"
    head = _glob_escape(os.path.join(folder, "")) if folder else ""
    return f"{head}{_glob_escape(before)}{digits}{_glob_escape(after)}"


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a glob(3) pattern that expands braces."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", text)


def missing_sequence_message(spec: SourceSpec) -> str:
    """What to say when an image sequence has no first frame."""
    if spec.options.get("pattern_type") == "glob":
        return f"no file matches the image sequence {spec.name!r}: check the pattern"
    first = sequence_frame(spec.target, 0)
    last = sequence_frame(spec.target, SEQUENCE_START_RANGE - 1)
    return (
        f"image sequence {spec.name!r} has no first frame: none of {first} ... {last} exists "
        "(a sequence must start at one of them); check the folder and the number of digits"
    )
