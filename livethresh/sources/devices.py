"""Camera discovery: which cameras exist and what sizes, rates and formats they offer.

On Linux each ``/dev/video*`` node is asked directly through the V4L2 ioctls that enumerate
formats, frame sizes and frame intervals, which is the only way to learn the rates; when a node
does not answer them, FFmpeg's ``list_formats`` log (formats and sizes only) is the fallback.
On macOS (avfoundation) and Windows (dshow) FFmpeg's ``list_devices`` log gives the device
names; those inputs report no formats without opening the camera. FFmpeg says all of this only
in its log, so the log lines are captured through PyAV and parsed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import os
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
    #: Frame rates per size, where the driver tells them (V4L2), e.g. ``{"640x480": ("30",)}``.
    rates: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Camera:
    """A capture device: what to pass as SOURCE, and what it offers if the platform can tell."""

    source: str
    name: str
    backend: str
    formats: tuple[CameraFormat, ...] = field(default_factory=tuple)
    note: str = ""

    def describe(self) -> list[str]:
        """The camera, then one indented line per format with its sizes and rates."""
        name = f"  {self.name}" if self.name != self.source else ""
        lines = [f"{self.source}  ({self.backend}){name}"]
        for fmt in self.formats:
            kind = "compressed" if fmt.compressed else "raw"
            sizes = [
                f"{size} ({', '.join(fmt.rates[size])} fps)" if fmt.rates.get(size) else size
                for size in fmt.sizes
            ]
            lines.append(f"    {fmt.pix_fmt:10} {kind:10} {', '.join(sizes)}")
        if self.note:
            lines.append(f"    {self.note}")
        return lines


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


# V4L2's enumeration structures (linux/videodev2.h) and the ioctls that fill them.
class _FmtDesc(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("description", ctypes.c_char * 32),
        ("pixelformat", ctypes.c_uint32),
        ("mbus_code", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 3),
    ]


class _FrameSize(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_uint32),
        ("pixel_format", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 6),
        ("reserved", ctypes.c_uint32 * 2),
    ]


class _FrameInterval(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_uint32),
        ("pixel_format", ctypes.c_uint32),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("type", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 6),
        ("reserved", ctypes.c_uint32 * 2),
    ]


def _iowr(number: int, struct: type[ctypes.Structure]) -> int:
    """The ioctl request code ``_IOWR('V', number, struct)``."""
    return (3 << 30) | (ctypes.sizeof(struct) << 16) | (ord("V") << 8) | number


VIDIOC_ENUM_FMT = _iowr(2, _FmtDesc)
VIDIOC_ENUM_FRAMESIZES = _iowr(74, _FrameSize)
VIDIOC_ENUM_FRAMEINTERVALS = _iowr(75, _FrameInterval)
_CAPTURE = 1  # V4L2_BUF_TYPE_VIDEO_CAPTURE
_DISCRETE = 1  # V4L2_FRMSIZE_TYPE_DISCRETE and V4L2_FRMIVAL_TYPE_DISCRETE
_COMPRESSED = 1  # V4L2_FMT_FLAG_COMPRESSED
#: FFmpeg's names (what ``--input-format`` takes) for common V4L2 fourccs.
_FOURCC_NAMES = {
    "YUYV": "yuyv422",
    "MJPG": "mjpeg",
    "JPEG": "mjpeg",
    "H264": "h264",
    "NV12": "nv12",
    "YU12": "yuv420p",
    "UYVY": "uyvy422",
    "RGB3": "rgb24",
    "BGR3": "bgr24",
    "GREY": "gray",
    "Y16 ": "gray16le",
}


def _enumerate(fd: int, request: int, struct: ctypes.Structure) -> list[ctypes.Structure]:
    """Fill ``struct`` for index 0, 1, ... until the driver answers EINVAL (the end)."""
    found = []
    for index in range(256):
        struct.index = index
        try:
            fcntl.ioctl(fd, request, struct)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                break
            raise
        found.append(type(struct).from_buffer_copy(struct))
    return found


def _rate(numerator: int, denominator: int) -> str:
    """A frame interval as frames per second: 1/30 -> "30", 1001/30000 -> "29.97"."""
    return f"{denominator / numerator:.2f}".rstrip("0").rstrip(".") if numerator else "?"


def query_v4l2(path: str) -> tuple[CameraFormat, ...]:
    """Formats, sizes and rates of a V4L2 capture device, asked through its ioctls.

    Raises:
        OSError: The node cannot be opened or does not answer V4L2's enumeration.
    """
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        formats = []
        for desc in _enumerate(fd, VIDIOC_ENUM_FMT, _FmtDesc(type=_CAPTURE)):
            fourcc = desc.pixelformat.to_bytes(4, "little").decode("ascii", "replace")
            sizes: list[str] = []
            rates: dict[str, tuple[str, ...]] = {}
            for size in _enumerate(
                fd, VIDIOC_ENUM_FRAMESIZES, _FrameSize(pixel_format=desc.pixelformat)
            ):
                if size.type != _DISCRETE:  # continuous or stepwise: min, max, step
                    low_w, high_w, _, low_h, high_h, _ = size.data
                    sizes.append(f"{low_w}x{low_h}-{high_w}x{high_h}")
                    continue
                width, height = size.data[0], size.data[1]
                name = f"{width}x{height}"
                sizes.append(name)
                intervals = _enumerate(
                    fd,
                    VIDIOC_ENUM_FRAMEINTERVALS,
                    _FrameInterval(pixel_format=desc.pixelformat, width=width, height=height),
                )
                rates[name] = tuple(_rate(i.data[0], i.data[1]) for i in intervals)
            formats.append(
                CameraFormat(
                    _FOURCC_NAMES.get(fourcc, fourcc.strip().lower()),
                    desc.description.decode(errors="replace"),
                    bool(desc.flags & _COMPRESSED),
                    tuple(sizes),
                    rates,
                )
            )
        return tuple(formats)
    finally:
        os.close(fd)


def list_cameras() -> list[Camera]:
    """Every camera this platform can enumerate; an empty list when there is none."""
    if sys.platform.startswith("linux"):
        cameras = []
        for path in sorted(glob.glob("/dev/video*"), key=_natural):
            try:
                formats = query_v4l2(path)
                note = "" if formats else "no capture formats (a metadata or output node)"
            except OSError:
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
