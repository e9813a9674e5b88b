"""What a pipeline run measured: frame counters, drops, throughput, latency and stage times.

Each counter has exactly one writer thread (the stage that owns it), so no lock is needed; the
caller reads them after the threads are joined, or approximately while they run. Latencies go
into a preallocated ring, so recording one allocates nothing.

:meth:`Stats.to_dict` is the JSON object ``livethresh bench --json`` prints; other commands
that run the pipeline print the same object.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Latencies kept for the percentiles: the most recent ones (about 18 minutes at 60 fps).
LATENCY_WINDOW = 65536
STAGES = ("read", "gray", "binarize", "write")


class LatencyRing:
    """The last ``capacity`` latencies in seconds, in a buffer allocated once."""

    def __init__(self, capacity: int = LATENCY_WINDOW) -> None:
        self._values = np.zeros(capacity, np.float64)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._values[self.count % len(self._values)] = seconds
        self.count += 1

    def values(self) -> np.ndarray:
        """The recorded latencies (unordered once the ring has wrapped)."""
        return self._values[: min(self.count, len(self._values))]

    def percentiles_ms(self) -> dict[str, float | None]:
        """p50, p95, p99 and max in milliseconds; None when nothing was recorded."""
        values = self.values()
        if not len(values):
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
        return {
            "p50": round(float(p50), 3),
            "p95": round(float(p95), 3),
            "p99": round(float(p99), 3),
            "max": round(float(values.max()) * 1000, 3),
        }


@dataclass
class Stats:
    """Counters and timings of one pipeline run.

    Attributes:
        frames_read: Frames taken from the source (and converted to gray).
        frames_processed: Frames binarized.
        frames_written: Frames handed to the sink: the run's output.
        dropped_before_processing: Live frames replaced by a newer one while waiting to be
            binarized.
        dropped_before_output: Live masks replaced by a newer one while waiting for the sink.
        decode_errors: Damaged packets the source skipped (its frames are missing; the run went
            on).
        stage_seconds: Busy time of each stage: ``read`` (waiting for and decoding the next
            frame, including live pacing), ``gray``, ``binarize`` and ``write`` (the sink).
        latency: Decode-to-sink latency of every written frame.
        started: ``time.perf_counter()`` at the start of the run.
        finished: ``time.perf_counter()`` at its end, or None while it runs.
        stopped_early: The sink ended the run (for example ``q`` in the window).
    """

    frames_read: int = 0
    frames_processed: int = 0
    frames_written: int = 0
    dropped_before_processing: int = 0
    dropped_before_output: int = 0
    decode_errors: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    latency: LatencyRing = field(default_factory=LatencyRing)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    stopped_early: bool = False

    @property
    def dropped(self) -> int:
        """Live frames skipped so that latency stays low (always 0 for files)."""
        return self.dropped_before_processing + self.dropped_before_output

    @property
    def wall_s(self) -> float:
        """Seconds from the start of the run to its end (or to now while it runs)."""
        end = self.finished if self.finished is not None else time.perf_counter()
        return end - self.started

    @property
    def fps(self) -> float:
        """Frames written per second of wall time."""
        wall = self.wall_s
        return self.frames_written / wall if wall > 0 else 0.0

    def stage_ms_per_frame(self) -> dict[str, float]:
        """Mean busy milliseconds per frame of each stage, over the frames that reached it."""
        reached = {
            "read": self.frames_read,
            "gray": self.frames_read,
            "binarize": self.frames_processed,
            "write": self.frames_written,
        }
        return {
            stage: round(seconds * 1000 / reached[stage], 3) if reached[stage] else 0.0
            for stage, seconds in self.stage_seconds.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary. ``frames`` counts frames written; ``latency_ms`` has p50,
        p95, p99 and max; ``stage_ms`` is the mean busy time per frame of each stage."""
        return {
            "frames": self.frames_written,
            "dropped": self.dropped,
            "fps": round(self.fps, 2),
            "wall_s": round(self.wall_s, 3),
            "latency_ms": self.latency.percentiles_ms(),
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "decode_errors": self.decode_errors,
            "stage_ms": self.stage_ms_per_frame(),
            "stopped_early": self.stopped_early,
        }

    def summary(self) -> str:
        """One human-readable line, for the console and logs."""
        lat = self.latency.percentiles_ms()
        latency = (
            f"latency p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} ms"
            if lat["p50"] is not None
            else "no latency recorded"
        )
        damaged = f", {self.decode_errors} damaged packets skipped" if self.decode_errors else ""
        return (
            f"{self.frames_written} frames in {self.wall_s:.2f} s ({self.fps:.1f} fps), "
            f"{self.dropped} dropped{damaged}, {latency}"
        )
