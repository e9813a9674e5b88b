"""Camera discovery: which cameras exist and what sizes, rates and formats they offer.

FFmpeg's capture devices answer these questions only in their log (``list_devices`` and
``list_formats``), so the log lines are captured through PyAV and parsed. On Linux the
candidates are the ``/dev/video*`` nodes, each asked for its formats through v4l2; on macOS
(avfoundation) and Windows (dshow) the device list comes from the platform input itself, which
does not report formats without opening the camera.
"""

from __future__ import annotations

import contextlib
import glob
import re
import sys
from dataclasses import dataclass, field

import av
import av.logging

# "Raw       :     yuyv422 :           YUYV 4:2:2 : 640x480 1280x720": fields split by " : ".
_V4L2_FORMAT = re.compile(
    r"^(?P<kind>Raw|Compressed)\s*:\s+(?P<pix_fmt>\S+)\s+:\s+(?P<name>.*?)\s+:\s+(?P<sizes>.*)$"
)
# A size is "640x480", or a stepwise range "{32-4096, 2}x{32-2160, 2}".
_V4L2_SIZE = re.compile(r"\{[^}]*\}x\{[^}]*\}|\S+")
_AVFOUNDATION_DEVICE = re.compile(r"^\[(?P<index>\d+)\]\s+(?P<name>.+)$")
_DSHOW_DEVICE = re.compile(r'^"(?P<name>.+)"\s+\((?P<kind>video|audio|none)\)')


@dataclass(frozen=True)
class CameraFormat:
    """One pixel format a camera offers, with its sizes as the driver reports them."""

    pix_fmt: str
    description: str
    compressed: bool
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class Camera:
    """A capture device: what to pass as SOURCE, and what it offers if the platform can tell."""

    source: str
    name: str
    backend: str
    formats: tuple[CameraFormat, ...] = field(default_factory=tuple)
    note: str = ""


def _device_log(path: str, backend: str, options: dict[str, str]) -> list[str]:
    """Open a capture input only to make FFmpeg log what it knows; return the log messages."""
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        # Listing makes the input exit on purpose: the answer is in the log, not the result.
        with av.logging.Capture() as logs, contextlib.suppress(av.FFmpegError, OSError):
            av.open(path, format=backend, options=options, timeout=5.0).close()
    finally:
        av.logging.set_level(previous)
    return [message.strip() for _, _, message in logs]


def parse_v4l2_formats(lines: list[str]) -> tuple[CameraFormat, ...]:
    """Parse the lines ``-list_formats all`` prints for one v4l2 device."""
    formats = []
    for line in lines:
        match = _V4L2_FORMAT.match(line)
        if match:
            sizes = tuple(_V4L2_SIZE.findall(match["sizes"]))
            compressed = match["kind"] == "Compressed"
            formats.append(CameraFormat(match["pix_fmt"], match["name"], compressed, sizes))
    return tuple(formats)


def parse_avfoundation_devices(lines: list[str]) -> list[tuple[str, str]]:
    """``(index, name)`` of the video devices in avfoundation's ``list_devices`` output."""
    devices, in_video = [], False
    for line in lines:
        if line.endswith("video devices:"):
            in_video = True
        elif line.endswith("audio devices:"):
            in_video = False
        elif in_video and (match := _AVFOUNDATION_DEVICE.match(line)):
            devices.append((match["index"], match["name"]))
    return devices


def parse_dshow_devices(lines: list[str]) -> list[str]:
    """Names of the video devices in dshow's ``list_devices`` output."""
    matches = (_DSHOW_DEVICE.match(line) for line in lines)
    return [m["name"] for m in matches if m and m["kind"] == "video"]


def list_cameras() -> list[Camera]:
    """Every camera this platform can enumerate; an empty list when there is none."""
    if sys.platform.startswith("linux"):
        cameras = []
        for path in sorted(glob.glob("/dev/video*"), key=_natural):
            lines = _device_log(path, "v4l2", {"list_formats": "all"})
            formats = parse_v4l2_formats(lines)
            note = "" if formats else (lines[-1] if lines else "no formats reported")
            cameras.append(Camera(path, path, "v4l2", formats, note))
        return cameras
    if sys.platform == "darwin":
        lines = _device_log("", "avfoundation", {"list_devices": "true"})
        found = parse_avfoundation_devices(lines)
        return [Camera(index, name, "avfoundation") for index, name in found]
    if sys.platform == "win32":
        lines = _device_log("dummy", "dshow", {"list_devices": "true"})
        return [Camera(f"video={name}", name, "dshow") for name in parse_dshow_devices(lines)]
    return []


def _natural(path: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", path)
    return (int(digits) if digits else -1, path)
