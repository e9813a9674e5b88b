"""The broadcaster: a frame sink that hands the latest mask to every browser viewer.

The pipeline's output thread calls :meth:`Broadcaster.write` with each mask. It copies the mask
and its gray input into a pooled pair of buffers and publishes them under a sequence number; it
never encodes and never waits for a viewer, so viewers cannot slow the pipeline.

Viewers live in the server's event loop. Each asks :meth:`Broadcaster.next_part` for a frame
newer than the last one it sent. The first viewer to ask for a new frame of a view encodes it
(JPEG, in a worker thread: OpenCV releases the GIL), and every other viewer of that view gets
the same bytes. So a frame is encoded once for all viewers, only for the views someone watches,
and never while nobody watches. A viewer that is slow, or whose socket is full, asks later and
then gets the latest frame: nothing is queued per viewer.

The stream's framing: Chromium shows a part of a ``multipart/x-mixed-replace`` image only once
it has parsed the header of the part after it (Blink's ``MultipartImageResourceParser``), so a
part that ends with its body stays invisible until the next frame arrives, and for ever once the
source has ended. Each part is therefore sent together with the boundary and the header of the
part that follows: the header says only ``Content-Type: image/jpeg``, since the next frame is not
known yet, and the frame's index travels in the JPEG itself, as a comment.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio.to_thread
import cv2
import numpy as np

if TYPE_CHECKING:
    from livethresh.frames import ProcessedFrame, StreamInfo

#: JPEG quality of the stream. Masks have only two levels, so 80 keeps their edges clean at a
#: fraction of the bytes of 95.
JPEG_QUALITY = 80
#: The multipart boundary of ``/stream.mjpg``.
BOUNDARY = "livethresh-frame"
#: What opens the next part: sent right after each part's body (and first of all), so that a
#: browser has the whole part, and shows it, as soon as it is sent.
PART_HEADER = f"\r\n--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n\r\n".encode("ascii")
#: The comment each JPEG of the stream carries, with the frame's index in the source.
INDEX_COMMENT = "X-Frame-Index: {}"


class View(enum.StrEnum):
    """What a stream or snapshot shows."""

    MASK = "mask"
    SIDE = "side"
    """The gray input left of the mask."""


class SourceState(enum.StrEnum):
    """Where the source is, for the page's status line."""

    STARTING = "starting"
    RUNNING = "running"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(eq=False)
class _Buffers:
    """One published frame: copies of its mask and gray input, reused once nobody reads them."""

    mask: np.ndarray
    gray: np.ndarray
    seq: int = 0
    index: int = -1
    readers: int = 0


@dataclass
class _ViewState:
    """The encoded latest frame of one view, and the lock that makes it encoded only once."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seq: int = -1
    part: bytes = b""


class Broadcaster:
    """A :class:`~livethresh.sinks.FrameSink` serving the latest frame to async viewers.

    Args:
        quality: JPEG quality of the stream, 1 to 100.
    """

    def __init__(self, quality: int = JPEG_QUALITY) -> None:
        self.quality = quality
        self._lock = threading.Lock()
        self._pool: list[_Buffers] = []
        self._latest: _Buffers | None = None
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._closed_event: asyncio.Event | None = None
        self._views: dict[View, _ViewState] = {}
        #: Open streams; frames are announced to the event loop only while there are some.
        self.viewers = 0
        #: Set once a stream opens (or the server stops): a file waits for it to start playing.
        self.watched = threading.Event()
        #: True once the server is stopping: every stream ends.
        self.closed = False
        self.state = SourceState.STARTING
        self.message = ""
        #: JPEG encodes per view, to show (and test) that it is at most once per frame.
        self.encodes: Counter[View] = Counter()

    # -- the pipeline's side ----------------------------------------------------------------

    def open(self, info: StreamInfo) -> None:
        self.state = SourceState.RUNNING

    def write(self, frame: ProcessedFrame) -> None:
        """Publish copies of the frame's mask and gray input (the pipeline reuses its own)."""
        self.publish(frame.mask, frame.gray, frame.index)

    def close(self) -> None:
        """Nothing to release: the last frame stays, for the page and snapshots."""

    def publish(self, mask: np.ndarray, gray: np.ndarray, index: int = -1) -> None:
        """Make ``mask`` and its ``gray`` input the latest frame; from any thread."""
        buffers = self._free_buffers(mask.shape)
        np.copyto(buffers.mask, mask)
        np.copyto(buffers.gray, gray)
        with self._lock:
            self._seq += 1
            buffers.seq, buffers.index = self._seq, index
            self._latest = buffers
        if self.viewers:
            self._call_in_loop(self._wake)

    def finish(self, state: SourceState, message: str) -> None:
        """Record why frames stopped coming, for the page."""
        self.state, self.message = state, message

    def shutdown(self) -> None:
        """End every stream: the server is stopping. From any thread."""
        self.closed = True
        self.watched.set()
        self._call_in_loop(self._wake)

    def _call_in_loop(self, callback: object) -> None:
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(callback)  # type: ignore[arg-type]
            except RuntimeError:  # the loop has closed: the server is gone
                self._loop = None

    def _free_buffers(self, shape: tuple[int, ...]) -> _Buffers:
        """A buffer pair that nobody reads and that is not the latest frame. One is allocated
        only when none is free: at a new frame size, or while encoders hold every pair."""
        with self._lock:
            for buffers in self._pool:
                free = buffers.readers == 0 and buffers is not self._latest
                if free and buffers.mask.shape == shape:
                    return buffers
            self._pool = [b for b in self._pool if b.mask.shape == shape or b.readers]
            buffers = _Buffers(np.empty(shape, np.uint8), np.empty(shape, np.uint8))
            self._pool.append(buffers)
            return buffers

    @property
    def published(self) -> int:
        """Frames published so far (each one's sequence number is its count)."""
        return self._seq

    @property
    def pool_size(self) -> int:
        """Buffer pairs allocated: a few, whatever the number of viewers."""
        return len(self._pool)

    # -- the server's side (its event loop) -------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's event loop; called from inside it by every request, so only the
        first call does anything."""
        if loop is self._loop:
            return
        self._loop = loop
        self._changed = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._views = {view: _ViewState() for view in View}

    def add_viewer(self) -> None:
        """A stream opens."""
        self.viewers += 1
        self.watched.set()

    def remove_viewer(self) -> None:
        """A stream ends."""
        self.viewers -= 1

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()
        if self.closed and self._closed_event is not None:
            self._closed_event.set()

    @property
    def latest_index(self) -> int:
        """The source's index of the latest frame; -1 before the first."""
        latest = self._latest
        return -1 if latest is None else latest.index

    async def wait_newer(self, seq: int) -> bool:
        """Wait for a frame newer than sequence number ``seq``; False if the server stops."""
        while self._seq <= seq and not self.closed:
            assert self._changed is not None, "attach() first"
            await self._changed.wait()
        return not self.closed

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, less if the server stops; True once it stops."""
        assert self._closed_event is not None, "attach() first"
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed_event.wait(), seconds)
        return self.closed

    async def next_part(self, view: View, after: int) -> tuple[int, bytes] | None:
        """The latest frame newer than ``after``, as one part of the multipart stream, and its
        sequence number; None once the server stops. Encoded at most once per frame and view."""
        if not await self.wait_newer(after):
            return None
        state = self._views[view]
        async with state.lock:
            if state.seq < self._seq:
                buffers = self._acquire()
                try:
                    state.part = await anyio.to_thread.run_sync(self._encode_part, buffers, view)
                    state.seq = buffers.seq
                finally:
                    self._release(buffers)
                self.encodes[view] += 1
            return state.seq, state.part

    async def snapshot_png(self, view: View = View.MASK) -> bytes | None:
        """The latest mask (or input | mask) as a full-size PNG, or None before the first
        frame. PNG is lossless: the pixels are the mask's own."""
        if self._latest is None:
            return None
        buffers = self._acquire()
        try:
            return await anyio.to_thread.run_sync(
                lambda: _encode(".png", _picture(buffers, view), [])
            )
        finally:
            self._release(buffers)

    def latest_gray(self) -> tuple[np.ndarray, int] | None:
        """A copy of the latest gray input and its frame index; None before the first frame."""
        with self._lock:
            latest = self._latest
            return None if latest is None else (latest.gray.copy(), latest.index)

    def _acquire(self) -> _Buffers:
        with self._lock:
            buffers = self._latest
            assert buffers is not None
            buffers.readers += 1
            return buffers

    def _release(self, buffers: _Buffers) -> None:
        with self._lock:
            buffers.readers -= 1

    def _encode_part(self, buffers: _Buffers, view: View) -> bytes:
        """A JPEG with its frame index as a comment, then the header of the next part."""
        jpeg = _encode(".jpg", _picture(buffers, view), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        comment = INDEX_COMMENT.format(buffers.index).encode("ascii")
        # A COM segment right after the start-of-image marker: its length counts itself.
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        return b"".join((jpeg[:2], segment, jpeg[2:], PART_HEADER))


def _picture(buffers: _Buffers, view: View) -> np.ndarray:
    if view is View.SIDE:
        return cv2.hconcat([buffers.gray, buffers.mask])
    return buffers.mask


def _encode(extension: str, image: np.ndarray, params: list[int]) -> bytes:
    ok, data = cv2.imencode(extension, image, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError(f"OpenCV could not encode a {extension} image")
    return data.tobytes()
