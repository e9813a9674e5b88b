"""Whether a window can open here: the X server, the libraries OpenCV's Qt loads, its fonts.

OpenCV's Qt does not fail gracefully: without a display it aborts the process, and with the
wrong X libraries loaded it hangs. The window sink asks these questions first, so that a user
gets one line that says what to do instead.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import cv2


def x_display_problem() -> str | None:
    """Why no X window can be opened, or None if the X server answers (or X is not used).

    OpenCV's Qt aborts the whole process when it cannot reach the display, so the X server is
    probed here first, to fail with a message instead.
    """
    if not sys.platform.startswith("linux"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "DISPLAY is not set (no X server)"
    match = re.fullmatch(r"(?:unix)?(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?", display)
    if not match:
        return f"DISPLAY={display!r} is not a display name like :0"
    number = int(match["number"])
    host = match["host"]
    try:
        if host:
            socket.create_connection((host, 6000 + number), timeout=2).close()
        else:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(2)
                path = f"/tmp/.X11-unix/X{number}"
                try:
                    probe.connect(path)
                except OSError:
                    probe.connect("\0" + path)  # Linux abstract socket, used by some servers
    except OSError as exc:
        return f"the X server at DISPLAY={display} does not answer ({exc.strerror or exc})"
    return None


def foreign_bundled_libraries() -> list[str]:
    """Libraries that opencv-python's wheel bundles but that this process loaded from another
    wheel's copy first.

    PyAV's wheel bundles X client libraries under the same file names (``libxcb-shape``,
    ``libXau``...). When ``av`` is imported before ``cv2``, the dynamic linker keeps PyAV's
    copies, and OpenCV's Qt then talks to the X server through two different libxcb builds:
    its first window hangs for good. livethresh imports ``cv2`` first, so only a program that
    imported ``av`` before livethresh meets this.
    """
    bundled = Path(cv2.__file__).resolve().parent.parent / "opencv_python.libs"
    maps = Path("/proc/self/maps")
    if not bundled.is_dir() or not maps.is_file():
        return []
    own = {entry.name for entry in bundled.iterdir()}
    loaded = {line.split(maxsplit=5)[-1] for line in maps.read_text().splitlines() if "/" in line}
    return sorted(
        {Path(path).name for path in loaded if Path(path).name in own}
        - {Path(path).name for path in loaded if Path(path).parent == bundled}
    )


#: Where fonts are found on common Linux systems, for OpenCV's Qt.
SYSTEM_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype",
)


def use_system_fonts() -> None:
    """Point OpenCV's Qt at the system's fonts.

    opencv-python sets ``QT_QPA_FONTDIR`` to a folder inside its wheel that ships no fonts, so
    Qt warns on stderr when the first window opens. Qt reads the variable at that moment.
    """
    if os.path.isdir(os.environ.get("QT_QPA_FONTDIR", "")):
        return
    for folder in SYSTEM_FONT_DIRS:
        if os.path.isdir(folder):
            os.environ["QT_QPA_FONTDIR"] = folder
            return
