"""The pipeline's building blocks: the slot a frame travels in, and the queues between stages."""

from __future__ import annotations

import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from livethresh.slots import Aborted, LivePolicy, Slot, SlotQueue


def test_slot_queue_drop_oldest_returns_the_replaced_slot() -> None:
    queue: SlotQueue[object] = SlotQueue(1)
    first, second = object(), object()
    assert queue.put(first, LivePolicy.DROP_OLDEST) is None
    assert queue.put(second, LivePolicy.DROP_OLDEST) is first
    queue.end()
    assert queue.get() is second
    assert queue.get() is None


def test_abort_wakes_a_blocked_producer_and_hands_back_what_was_queued() -> None:
    queue: SlotQueue[int] = SlotQueue(1)
    queue.put(1)
    raised: list[type[BaseException]] = []

    def produce() -> None:
        try:
            queue.put(2)  # full: blocks until the abort
        except Aborted:
            raised.append(Aborted)

    producer = threading.Thread(target=produce)
    producer.start()
    assert queue.abort() == [1]
    producer.join(5)
    assert raised == [Aborted]
    with pytest.raises(Aborted):
        queue.get()


def test_a_decoded_frame_gives_its_timestamp_and_a_numpy_image_none() -> None:
    frame = av.VideoFrame(64, 48, "yuv420p")
    frame.pts, frame.time_base = 90, Fraction(1, 30)
    slot = Slot((48, 64))
    slot.frame, slot.gray, slot.index = frame, slot.gray_buffer, 3
    assert slot.time() == 3.0
    seen = slot.processed()
    assert (seen.frame, seen.pts, seen.time_base, seen.index) == (frame, 90, Fraction(1, 30), 3)
    image = np.zeros((48, 64), np.uint8)
    slot.frame, slot.gray = image, image
    assert slot.time() is None
    seen = slot.processed()
    assert (seen.frame, seen.pts, seen.time_base) == (None, None, None)
    assert seen.gray is image and seen.mask is slot.mask
    assert slot.release().frame is None and slot.gray is None
