"""What the user typed, parsed: which kind of source it is and how FFmpeg must open it."""

from __future__ import annotations

import glob as globlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlsplit

from livethresh.errors import InputError
from livethresh.frames import SourceKind

log = logging.getLogger(__name__)

#: FFmpeg lavfi video sources that may be named without the ``lavfi:`` prefix.
LAVFI_SOURCES = frozenset(
    {
        "allrgb",
        "allyuv",
        "cellauto",
        "color",
        "colorchart",
        "colorspectrum",
        "gradients",
        "haldclutsrc",
        "life",
        "mandelbrot",
        "nullsrc",
        "pal75bars",
        "pal100bars",
        "rgbtestsrc",
        "sierpinski",
        "smptebars",
        "smptehdbars",
        "testsrc",
        "testsrc2",
        "yuvtestsrc",
        "zoneplate",
    }
)


#: URL schemes of streams that arrive in real time (``http`` may be a plain file: see below).
LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "udp", "rtp", "srt", "tcp"})


_CAMERA_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}


_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


_DEVICE = re.compile(r"^(v4l2|video4linux2|avfoundation|dshow|x11grab|gdigrab|kmsgrab|fbdev):(.+)$")


@dataclass(frozen=True)
class SourceSpec:
    """How to open a spec with PyAV: what :func:`parse_spec` makes of the user's text.

    Attributes:
        name: The spec as given, for messages.
        kind: How it is opened.
        target: What ``av.open`` gets as its file argument.
        format: The FFmpeg input format (``v4l2``, ``lavfi``...), or None to probe.
        options: FFmpeg input options (``video_size``, ``framerate``, ``input_format``...).
        live: Whether frames arrive in real time by default.
    """

    name: str
    kind: SourceKind
    target: str
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    live: bool = False


def url_problem(url: str) -> str | None:
    """What is wrong with a stream URL's address, or None: a port out of range, no host.

    FFmpeg accepts ``udp://127.0.0.1:99999`` and sends to a port that cannot exist, so the
    run would report success; inputs and outputs are both checked here.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        return f"its port {port_text!r} is not a number from 1 to 65535"
    if port == 0:
        return "its port 0 is not a port a stream can use; give one from 1 to 65535"
    if parts.scheme.lower() in LIVE_SCHEMES | {"http", "https"} and not parts.hostname:
        if parts.scheme.lower() in ("udp", "rtp", "srt", "tcp") and port:
            return None  # udp://:1234 listens on every interface
        return "it names no host"
    return None


def parse_spec(
    spec: str,
    *,
    size: tuple[int, int] | None = None,
    rate: float | Fraction | None = None,
    input_format: str | None = None,
) -> SourceSpec:
    """Decide how to open ``spec``; no I/O except checking whether a file of that name exists.

    Args:
        spec: A path, URL, camera index or device path, ``FORMAT:TARGET`` device, lavfi source
            name (``testsrc2=size=640x480``), ``lavfi:GRAPH``, or an image sequence
            (``frames/%04d.png``, ``frames/*.png``) that is not itself an existing file.
        size: ``(width, height)`` to ask a camera or pattern for.
        rate: Frames per second to ask a camera or pattern for, or of an image sequence.
        input_format: Camera pixel format or codec, e.g. ``mjpeg`` or ``yuyv422``.

    Raises:
        InputError: The spec is empty, or a camera index is given where FFmpeg needs a name.
    """
    spec = spec.strip()
    if not spec:
        raise InputError("the source is empty: give a file, URL, camera index or lavfi pattern")
    device = _DEVICE.match(spec)
    if spec.startswith("lavfi:") or (
        spec.split("=", 1)[0] in LAVFI_SOURCES and not Path(spec).exists()
    ):
        graph = spec.removeprefix("lavfi:")
        return SourceSpec(spec, SourceKind.LAVFI, _pattern_graph(graph, size, rate), "lavfi")
    if _URL.match(spec):
        problem = url_problem(spec)
        if problem:
            raise InputError(f"invalid input URL {spec!r}: {problem}")
        scheme = spec.split(":", 1)[0].lower()
        return SourceSpec(spec, SourceKind.URL, spec, live=scheme in LIVE_SCHEMES)
    sequence = _sequence_spec(spec, rate)
    if sequence is not None:
        return sequence
    options = _camera_options(size, rate, input_format)
    if device:
        fmt = "v4l2" if device.group(1) == "video4linux2" else device.group(1)
        return SourceSpec(spec, SourceKind.CAMERA, device.group(2), fmt, options, live=True)
    if spec.isdigit() or re.fullmatch(r"/dev/video\d+", spec):
        return _camera_spec(spec, options)
    return SourceSpec(spec, SourceKind.FILE, spec)


#: The frame number of an FFmpeg image-sequence pattern (``%d``, ``%04d``), as printf writes it.
_SEQUENCE_NUMBER = re.compile(r"%(0?\d*)d")


#: How many first numbers FFmpeg's image2 demuxer tries (its ``start_number_range``).
SEQUENCE_START_RANGE = 5


def is_sequence_pattern(spec: str) -> bool:
    """Whether ``spec`` names image files by a number pattern (``%04d``) or a glob (``*``)."""
    plain = spec.replace("%%", "")
    return bool(_SEQUENCE_NUMBER.search(plain)) or any(c in spec for c in "*?[")


def _sequence_spec(spec: str, rate: float | Fraction | None) -> SourceSpec | None:
    """An image sequence read by FFmpeg's image2 demuxer, or None if ``spec`` is not one.

    A path that exists is a file, even with ``%`` or ``*`` in its name. ``rate`` is the
    sequence's frame rate; without it FFmpeg's default, 25 fps, applies.
    """
    if Path(spec).exists() or not is_sequence_pattern(spec):
        return None
    options = {"framerate": str(rate)} if rate is not None else {}
    if not _SEQUENCE_NUMBER.search(spec.replace("%%", "")):
        options["pattern_type"] = "glob"
    return SourceSpec(spec, SourceKind.FILE, spec, "image2", options)


def sequence_frame(pattern: str, number: int) -> str:
    """The file name of frame ``number`` of a ``%04d`` pattern (``%%`` is a literal ``%``)."""
    parts = pattern.split("%%")
    filled = [_SEQUENCE_NUMBER.sub(lambda m: f"{number:{m[1] or ''}d}", part) for part in parts]
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
    text = text.strip()
    if not text or _URL.match(text) or text.startswith("lavfi:"):
        return []
    path = Path(text)
    if path.is_file():
        return [path]
    spec = _sequence_spec(text, None)
    return sequence_members(spec) if spec is not None else []


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
    if _SEQUENCE_NUMBER.search(folder.replace("%%", "")):
        return None
    literals = [re.escape(part) for part in name.split("%%")]
    regex = re.compile("%".join(_SEQUENCE_NUMBER.sub(r" *(\\d+)", part) for part in literals))
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
    found = [(i, m) for i, piece in enumerate(pieces) for m in _SEQUENCE_NUMBER.finditer(piece)]
    if _SEQUENCE_NUMBER.search(folder.replace("%%", "")) or len(found) != 1:
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


def _pattern_graph(graph: str, size: tuple[int, int] | None, rate: float | Fraction | None) -> str:
    """Append ``size``/``rate`` to a single-source lavfi graph that does not set them already."""
    extra = []
    if size is not None:
        extra.append(f"size={size[0]}x{size[1]}")
    if rate is not None:
        extra.append(f"rate={rate}")
    if not extra:
        return graph
    if not re.fullmatch(r"[a-z0-9_]+(=[^,;\[\]]*)?", graph):
        raise InputError(
            f"size and rate apply to a single lavfi source, not to the graph {graph!r}: "
            "write them into the graph instead"
        )
    name, _, args = graph.partition("=")
    return f"{name}={':'.join([*extra, args] if args else extra)}"


def _camera_options(
    size: tuple[int, int] | None, rate: float | Fraction | None, input_format: str | None
) -> dict[str, str]:
    options: dict[str, str] = {}
    if size is not None:
        options["video_size"] = f"{size[0]}x{size[1]}"
    if rate is not None:
        options["framerate"] = str(rate)
    if input_format:
        # v4l2 calls it input_format (a codec such as mjpeg or a pixel format); the others
        # only know pixel formats.
        key = "input_format" if sys.platform.startswith("linux") else "pixel_format"
        options[key] = input_format
    return options


def _camera_spec(spec: str, options: dict[str, str]) -> SourceSpec:
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    fmt = _CAMERA_FORMATS.get(platform)
    if fmt is None:
        raise InputError(f"cameras are not supported on {sys.platform}: give a file or URL")
    if fmt == "v4l2":
        target = spec if spec.startswith("/dev/") else f"/dev/video{spec}"
    elif fmt == "avfoundation":
        target = spec.removeprefix("/dev/video")
    else:
        raise InputError(
            f"on Windows a camera is opened by name, not index {spec!r}: use "
            "dshow:video=NAME (list them with: ffmpeg -list_devices true -f dshow -i dummy)"
        )
    return SourceSpec(spec, SourceKind.CAMERA, target, fmt, options, live=True)


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` -> ``(1280, 720)``.

    Raises:
        InputError: The text is not WIDTHxHEIGHT with positive integers.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise InputError(f"invalid size {text!r}: use WIDTHxHEIGHT, e.g. 1280x720")
    return int(match[1]), int(match[2])
