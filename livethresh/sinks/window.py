"""The window sink: shows masks live with ``cv2.imshow``, alone or beside the input.

Kept apart from ``sinks`` because it needs a GUI (a display, and OpenCV's Qt). It runs in the
pipeline's output stage, which is the thread that called ``Pipeline.run`` (the main thread in
the CLI), as GUI toolkits require.

Keys are dispatched through one table, :attr:`WindowSink.keys`, mapping a key code to an action;
``q`` and Esc quit by raising :class:`~livethresh.sinks.StopPipeline`. Other features add keys
with :meth:`WindowSink.bind` rather than editing the dispatch.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from livethresh.errors import OutputError
from livethresh.frames import ProcessedFrame
from livethresh.sinks import StopPipeline

if TYPE_CHECKING:
    from livethresh.frames import StreamInfo

logger = logging.getLogger(__name__)

ESC = 27
#: Keys that close the window and end the run.
QUIT_KEYS = (ord("q"), ord("Q"), ESC)
#: The initial window is scaled down to fit within this size (the user may resize it).
MAX_WINDOW = (1600, 900)
#: Weight of the newest frame interval in the smoothed fps of the overlay.
FPS_SMOOTHING = 0.1

KeyAction = Callable[[], None]
FONT = cv2.FONT_HERSHEY_SIMPLEX


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


def quit_window() -> None:
    """The action of ``q`` and Esc: end the run cleanly."""
    raise StopPipeline


class WindowSink:
    """Shows each mask in a window, with an overlay of fps, latency and drops.

    Args:
        title: Window title; also OpenCV's window name.
        side_by_side: Show the gray input left of the mask.
        overlay: Draw the fps / latency / drops line.
        wait_key: The function polled for key presses, ``cv2.waitKey`` by default (it also
            runs the GUI event loop). Tests inject keys by passing their own.
        wait_ms: Milliseconds ``wait_key`` may wait per frame; 1 keeps latency minimal.

    Raises:
        OutputError: From ``open``, when no window can be created (no display).
    """

    def __init__(
        self,
        title: str = "livethresh",
        *,
        side_by_side: bool = False,
        overlay: bool = True,
        wait_key: Callable[[int], int] = cv2.waitKey,
        wait_ms: int = 1,
    ) -> None:
        self.title = title
        self.side_by_side = side_by_side
        self.overlay = overlay
        self.wait_key = wait_key
        self.wait_ms = wait_ms
        self.keys: dict[int, KeyAction] = dict.fromkeys(QUIT_KEYS, quit_window)
        self.frames = 0
        self.dropped = 0
        self.fps = 0.0
        self.latency_ms = 0.0
        self.shown = False
        #: Extra overlay lines, set by live tuning: the current settings, a transient message
        #: and the key help (shown while ``show_help`` is on).
        self.status: Callable[[], str] | None = None
        self.message = ""
        self.message_until = 0.0
        self.help_lines: list[str] = []
        self.show_help = False
        #: The frame being shown, while its key presses are handled (for snapshots).
        self.current: ProcessedFrame | None = None
        self._canvas: np.ndarray | None = None
        self._last_index = -1
        self._last_time: float | None = None
        self._open = False

    def bind(self, key: str | int, action: KeyAction) -> None:
        """Run ``action`` when ``key`` (a character or a key code) is pressed."""
        self.keys[ord(key) if isinstance(key, str) else key] = action

    def handle_key(self, code: int) -> None:
        """Dispatch one ``waitKey`` result (-1 when no key was pressed)."""
        if code < 0:
            return
        action = self.keys.get(code & 0xFF)
        if action is not None:
            action()

    def open(self, info: StreamInfo) -> None:
        problem = x_display_problem()
        if problem:
            raise OutputError(
                f"cannot open a window: {problem}; use `livethresh bench` to run without one"
            )
        foreign = foreign_bundled_libraries()
        if foreign:
            raise OutputError(
                f"cannot open a window: {foreign[0]} was loaded from another package's copy, "
                "because `av` was imported before `cv2`, and OpenCV's window would hang; "
                "import livethresh (or cv2) before av"
            )
        if sys.platform.startswith("linux"):
            use_system_fonts()
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            raise OutputError(
                f"cannot open a window ({exc.err or exc}): is a display available? "
                "Use `livethresh bench` to run without one"
            ) from exc
        self._open = True
        width = info.width * (2 if self.side_by_side else 1)
        scale = min(1.0, MAX_WINDOW[0] / width, MAX_WINDOW[1] / max(info.height, 1))
        cv2.resizeWindow(
            self.title, max(1, round(width * scale)), max(1, round(info.height * scale))
        )

    def write(self, frame: ProcessedFrame) -> None:
        self._measure(frame)
        canvas = self._compose(frame)
        cv2.imshow(self.title, canvas)
        self.frames += 1
        self.current = frame
        try:
            self.handle_key(self.wait_key(self.wait_ms))
        finally:
            self.current = None  # the slot is recycled once write returns
        # The window manager's close button: Qt hides the window rather than telling waitKey.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise StopPipeline
        self.shown = True

    def _measure(self, frame: ProcessedFrame) -> None:
        now = time.perf_counter()
        if self._last_time is not None and now > self._last_time:
            rate = 1 / (now - self._last_time)
            self.fps = rate if self.fps == 0 else self.fps + FPS_SMOOTHING * (rate - self.fps)
        self._last_time = now
        if self._last_index >= 0:
            self.dropped += max(0, frame.index - self._last_index - 1)
        self._last_index = frame.index
        if frame.decoded_at:
            self.latency_ms = (now - frame.decoded_at) * 1000

    def _compose(self, frame: ProcessedFrame) -> np.ndarray:
        """The picture to show, in a buffer reused from frame to frame."""
        height, width = frame.mask.shape
        shape = (height, width * 2) if self.side_by_side else (height, width)
        if self._canvas is None or self._canvas.shape != shape:
            self._canvas = np.empty(shape, np.uint8)
        canvas = self._canvas
        if self.side_by_side:
            canvas[:, :width] = frame.gray
            canvas[:, width:] = frame.mask
        else:
            canvas[:] = frame.mask
        if self.overlay:
            self._draw_overlay(canvas)
        return canvas

    def overlay_lines(self) -> list[str]:
        """The overlay's text: measurements, then settings, message and help when present."""
        lines = [f"{self.fps:5.1f} fps  {self.latency_ms:5.1f} ms  {self.dropped} dropped"]
        if self.status is not None:
            lines.append(self.status())
        if self.message and time.monotonic() < self.message_until:
            lines.append(self.message)
        if self.show_help:
            lines += self.help_lines
        elif self.help_lines:
            lines.append("h: keys")
        return lines

    def _draw_overlay(self, canvas: np.ndarray) -> None:
        lines = self.overlay_lines()
        scale = max(0.45, min(1.0, canvas.shape[0] / 1080))
        step = round(28 * scale)
        thickness = 1 if scale < 0.8 else 2
        width = max(cv2.getTextSize(t, FONT, scale, thickness)[0][0] for t in lines)
        # Text on a black box stays readable over any picture; slicing keeps this in place.
        canvas[: min(canvas.shape[0], step * len(lines) + step // 2), : width + 16] = 0
        for row, text in enumerate(lines, start=1):
            cv2.putText(canvas, text, (8, row * step), FONT, scale, 255, thickness, cv2.LINE_AA)

    def close(self) -> None:
        """Close the window; safe to call more than once."""
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI process the close
            except cv2.error:
                logger.debug("window %r was already gone", self.title)
