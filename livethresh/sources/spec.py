"""What the user typed, parsed: which kind of source it is and how FFmpeg must open it."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from livethresh.errors import InputError
from livethresh.frames import SourceKind
from livethresh.locations import LIVE_SCHEMES, url_problem

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
SEQUENCE_NUMBER = re.compile(r"%(0?\d*)d")


def is_sequence_pattern(spec: str) -> bool:
    """Whether ``spec`` names image files by a number pattern (``%04d``) or a glob (``*``)."""
    plain = spec.replace("%%", "")
    return bool(SEQUENCE_NUMBER.search(plain)) or any(c in spec for c in "*?[")


def _sequence_spec(spec: str, rate: float | Fraction | None) -> SourceSpec | None:
    """An image sequence read by FFmpeg's image2 demuxer, or None if ``spec`` is not one.

    A path that exists is a file, even with ``%`` or ``*`` in its name. ``rate`` is the
    sequence's frame rate; without it FFmpeg's default, 25 fps, applies.
    """
    if Path(spec).exists() or not is_sequence_pattern(spec):
        return None
    options = {"framerate": str(rate)} if rate is not None else {}
    if not SEQUENCE_NUMBER.search(spec.replace("%%", "")):
        options["pattern_type"] = "glob"
    return SourceSpec(spec, SourceKind.FILE, spec, "image2", options)


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
