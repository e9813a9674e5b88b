"""The pipeline's building blocks: slots that carry a frame through the stages, and the queues.

A :class:`Slot` carries one frame through the stages: the decoded frame, its gray image (a view
of the frame's luma plane, or the slot's own buffer when a conversion or rotation is needed)
and its mask buffer. The queues between stages are bounded (:class:`SlotQueue`); what a
producer does when one is full is its :class:`LivePolicy`:

- a **live** source (camera, stream, paced file) never waits for downstream: when a queue is
  full, the oldest waiting slot is dropped, counted and recycled, so a frame reaches the sink
  within a frame or two of being decoded (:attr:`LivePolicy.DROP_OLDEST`);
- a **file** never loses a frame: a full queue blocks its producer (:attr:`LivePolicy.BLOCK`).
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import Generic, TypeVar

import numpy as np

from livethresh.frames import DecodedFrame, Picture, ProcessedFrame, seconds

T = TypeVar("T")


class LivePolicy(enum.Enum):
    """What a producer does when the queue to the next stage is full."""

    DROP_OLDEST = "drop-oldest"
    """Replace the oldest waiting frame (live sources: latency stays low)."""
    BLOCK = "block"
    """Wait for room (files: every frame is kept)."""


class Aborted(Exception):
    """A queue was aborted because the run is stopping; the stage should return."""


class Slot:
    """One frame's worth of buffers, reused from frame to frame.

    Attributes:
        shape: ``(height, width)`` the buffers are sized for.
        gray_buffer: Where converted or rotated gray pixels are written.
        mask: Where the binarizer writes the mask.
        gray: The frame's gray image: ``gray_buffer`` or a view of the frame's luma plane.
        frame: The decoded frame, kept alive while ``gray`` may view its memory.
        index: The frame's position among those read from the source.
        decoded_at: ``time.perf_counter()`` when the frame left the decoder.
    """

    __slots__ = ("decoded_at", "frame", "gray", "gray_buffer", "index", "mask", "shape")

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.gray_buffer = np.empty(shape, np.uint8)
        self.mask = np.empty(shape, np.uint8)
        self.gray: np.ndarray | None = None
        self.frame: Picture | None = None
        self.index = -1
        self.decoded_at = 0.0

    def fit(self, shape: tuple[int, int]) -> None:
        """Resize the buffers if the frame size changed (a rare, deliberate allocation)."""
        if shape != self.shape:
            self.shape = shape
            self.gray_buffer = np.empty(shape, np.uint8)
            self.mask = np.empty(shape, np.uint8)

    @property
    def video_frame(self) -> DecodedFrame | None:
        """The decoded frame, or None when the source gave a numpy image (or none yet)."""
        return None if isinstance(self.frame, np.ndarray) else self.frame

    def time(self) -> float | None:
        """The frame's presentation time in seconds, or None if unknown."""
        frame = self.video_frame
        return None if frame is None else seconds(frame.pts, frame.time_base)

    def processed(self) -> ProcessedFrame:
        """The frame and its mask as a sink sees them; valid until the slot is released."""
        assert self.gray is not None  # the decode stage always sets it
        frame = self.video_frame
        return ProcessedFrame(
            index=self.index,
            gray=self.gray,
            mask=self.mask,
            frame=frame,
            pts=None if frame is None else frame.pts,
            time_base=None if frame is None else frame.time_base,
            decoded_at=self.decoded_at,
        )

    def release(self) -> Slot:
        """Drop the references to the frame so its decoder buffer can be reused."""
        self.frame = None
        self.gray = None
        return self


class SlotQueue(Generic[T]):
    """A bounded FIFO with end-of-stream and abort, woken without polling.

    Args:
        capacity: Items it may hold.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._ended = False
        self._aborted = False

    def put(self, item: T, policy: LivePolicy = LivePolicy.BLOCK) -> T | None:
        """Add ``item``; when full, block or drop the oldest one (returned to the caller).

        Raises:
            Aborted: The run is stopping.
        """
        with self._cond:
            dropped = None
            while len(self._items) >= self.capacity and not self._aborted:
                if policy is LivePolicy.DROP_OLDEST:
                    dropped = self._items.popleft()
                    break
                self._cond.wait()
            if self._aborted:
                raise Aborted
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self) -> T | None:
        """Take the oldest item, waiting for one; None once the producer has ended.

        Raises:
            Aborted: The run is stopping.
        """
        with self._cond:
            while not self._items and not self._ended and not self._aborted:
                self._cond.wait()
            if self._aborted:
                raise Aborted
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def end(self) -> None:
        """Mark end of stream: consumers get the remaining items, then None."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def abort(self) -> list[T]:
        """Wake every waiter with :class:`Aborted` and hand back the items still queued."""
        with self._cond:
            self._aborted = True
            drained = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return drained
