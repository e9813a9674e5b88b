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
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from livethresh.errors import OutputError
from livethresh.frames import ProcessedFrame
from livethresh.sinks import StopPipeline
from livethresh.sinks.display import (
    foreign_bundled_libraries,
    use_system_fonts,
    x_display_problem,
)

if TYPE_CHECKING:
    from livethresh.frames import StreamInfo

logger = logging.getLogger(__name__)

ESC = 27
#: Keys that close the window and end the run.
QUIT_KEYS = (ord("q"), ord("Q"), ESC)
#: The initial window is scaled down to fit within this size (the user may resize it).
MAX_WINDOW = (1600, 900)
#: How long a held last frame waits for a key per round, in milliseconds.
HOLD_WAIT_MS = 30
#: Weight of the newest frame interval in the smoothed fps of the overlay.
FPS_SMOOTHING = 0.1

KeyAction = Callable[[], None]
FONT = cv2.FONT_HERSHEY_SIMPLEX


def quit_window() -> None:
    """The action of ``q`` and Esc: end the run cleanly."""
    raise StopPipeline


class WindowSink:
    """Shows each mask in a window, with a strip of fps, latency and drops below it.

    Args:
        title: Window title; also OpenCV's window name.
        side_by_side: Show the gray input left of the mask.
        overlay: Show a strip of text below the picture: fps, latency and drops, and the
            settings, messages and keys of live tuning.
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
        #: When set (by ``preview``), ``close`` leaves the window up and the last frame is kept,
        #: for :meth:`hold` and a replay; :meth:`destroy` closes it.
        self.keep_open = False
        self.last: ProcessedFrame | None = None
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
        if self._open:
            return  # kept open from the previous run (a replay): same window, same settings
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
        self._show(frame, self.wait_ms)
        self.frames += 1
        if self.keep_open:
            self._keep(frame)
        self.shown = True

    def _show(self, frame: ProcessedFrame, wait_ms: int) -> None:
        """Show a frame and handle the key pressed meanwhile; StopPipeline on quit or close."""
        cv2.imshow(self.title, self._compose(frame))
        self.current = frame
        try:
            self.handle_key(self.wait_key(wait_ms))
        finally:
            self.current = None  # the slot is recycled once write returns
        # The window manager's close button: Qt hides the window rather than telling waitKey.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise StopPipeline

    def _keep(self, frame: ProcessedFrame) -> None:
        """Copy the frame shown into buffers of its own (the pipeline's slot is recycled)."""
        last = self.last
        if last is None or last.gray.shape != frame.gray.shape:
            last = self.last = ProcessedFrame(
                frame.index, np.empty_like(frame.gray), np.empty_like(frame.mask)
            )
        np.copyto(last.gray, frame.gray)
        np.copyto(last.mask, frame.mask)
        last.index = frame.index

    def hold(self) -> None:
        """Keep showing the last frame until ``q``, Esc or the window is closed.

        Keys keep working: a change of view or of the overlay shows at once, and a tuning
        action may rewrite :attr:`last`'s mask (``preview`` re-binarizes the held frame).
        """
        if not self._open or self.last is None:
            return
        try:
            while True:
                self._show(self.last, HOLD_WAIT_MS)
        except StopPipeline:
            return

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
        """The picture to show, in a buffer reused from frame to frame.

        The overlay's text goes in a strip below the picture, never over it: the mask and the
        input are shown pixel for pixel, the top of the page (its title) included.
        """
        height, width = frame.mask.shape
        total = width * 2 if self.side_by_side else width
        lines = self.overlay_lines() if self.overlay else []
        scale, step, thickness = self._text_size(lines, total, height)
        strip = step * len(lines) + step // 2 if lines else 0
        shape = (height + strip, total)
        if self._canvas is None or self._canvas.shape != shape:
            self._canvas = np.empty(shape, np.uint8)
        canvas = self._canvas
        if self.side_by_side:
            canvas[:height, :width] = frame.gray
            canvas[:height, width:] = frame.mask
        else:
            canvas[:height] = frame.mask
        if lines:
            canvas[height:] = 0  # white text on black reads the same under any picture
            for row, text in enumerate(lines, start=1):
                origin = (8, height + row * step)
                cv2.putText(canvas, text, origin, FONT, scale, 255, thickness, cv2.LINE_AA)
        return canvas

    @staticmethod
    def _text_size(lines: list[str], width: int, height: int) -> tuple[float, int, int]:
        """Font scale, line step and thickness: readable, and narrow enough for the width."""
        scale = max(0.45, min(1.0, height / 1080))
        if lines:
            widest = max(cv2.getTextSize(text, FONT, 1.0, 1)[0][0] for text in lines)
            scale = max(0.3, min(scale, (width - 16) / max(widest, 1)))
        return scale, max(10, round(28 * scale)), 1 if scale < 0.8 else 2

    def overlay_lines(self) -> list[str]:
        """The overlay's text: measurements, then settings, message and help when present.

        While live tuning is on, a line is kept for messages even when there is none, so the
        strip (and the window's shape) does not change when one comes and goes.
        """
        lines = [f"{self.fps:5.1f} fps  {self.latency_ms:5.1f} ms  {self.dropped} dropped"]
        if self.status is not None:
            lines.append(self.status())
            shown = self.message and time.monotonic() < self.message_until
            lines.append(self.message if shown else "")
        if self.show_help:
            lines += self.help_lines
        elif self.help_lines:
            lines.append("h: keys  o: hide this strip")
        return lines

    def close(self) -> None:
        """Close the window (unless :attr:`keep_open`); safe to call more than once."""
        if not self.keep_open:
            self.destroy()

    def destroy(self) -> None:
        """Close the window, kept open or not; safe to call more than once."""
        if self._open:
            self._open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI process the close
            except cv2.error:
                logger.debug("window %r was already gone", self.title)
