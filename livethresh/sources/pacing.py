"""Pacing: a file or pattern played at its own rate, as a camera would deliver it (``--live``).

:class:`~livethresh.sources.pyav.AVSource` asks the :class:`Pacer` to wait before it decodes
each packet, so that the pipeline sees the timing, and the drops, of a live source.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Any

from livethresh.frames import FALLBACK_RATE

#: A paced file never waits longer than this for its next packet: a longer gap is a timestamp
#: discontinuity (or a pause in a variable-rate file) and restarts the pacing clock.
MAX_PACING_GAP = 2.0


class Pacer:
    """The clock that plays packets at their timestamps, as ``ffmpeg -re`` does.

    Pacing packets (by their decoding timestamp) rather than decoded frames means that a frame
    is decoded when it "arrives", as from a camera, instead of ahead of time while the previous
    frame is still being binarized; so the two do not compete for the cores.

    Args:
        nominal_rate: The stream's frame rate, if known: the time of packets without a
            timestamp, and the smallest gap that restarts the clock (two frame intervals).
        interrupted: Set from any thread to end a wait at once.
    """

    def __init__(self, nominal_rate: Fraction | None, interrupted: threading.Event) -> None:
        self.nominal_rate = nominal_rate
        self.interrupted = interrupted
        self.origin: tuple[float, float] | None = None
        self.packets = 0

    def restart(self, when: float | None) -> None:
        """Start the clock now at stream time ``when`` (None: at the next wait)."""
        self.origin = None if when is None else (time.perf_counter(), when)

    def packet_time(self, packet: Any) -> float:
        """A packet's decoding time in seconds; counted at the nominal rate without one."""
        self.packets += 1
        if packet.dts is not None and packet.time_base is not None:
            return float(packet.dts * packet.time_base)
        return (self.packets - 1) / float(self.nominal_rate or FALLBACK_RATE)

    def wait_until(self, when: float) -> None:
        """Sleep until stream time ``when`` is due.

        A jump of more than :data:`MAX_PACING_GAP` seconds and two frame intervals (a
        timestamp discontinuity, a long pause in a variable-rate file) restarts the clock
        instead of waiting it out. The wait ends at once when ``interrupted`` is set.
        """
        now = time.perf_counter()
        if self.origin is None:
            self.origin = (now, when)
            return
        clock, origin = self.origin
        delay = clock + (when - origin) - now
        rate = self.nominal_rate
        longest = max(MAX_PACING_GAP, 2 / float(rate)) if rate else MAX_PACING_GAP
        if delay > longest or when < origin:
            self.origin = (now, when)
        elif delay > 0:
            self.interrupted.wait(delay)
