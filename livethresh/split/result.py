"""What a split run did: :class:`SplitResult`, the ``--json`` report and the summary line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from livethresh.runs import RunOutcome
from livethresh.split.segment import SegmentResult
from livethresh.transcode import TranscodeResult


@dataclass
class SplitResult(RunOutcome):
    """What a split run did.

    Attributes:
        output: The output path.
        frames: Frames written.
        wall_s: Seconds from the start to the output in place.
        segments: One result per segment (empty when the input ran as one).
        join_s: Seconds the join took.
        audio: What became of each input audio stream.
        note: Why the input was not cut, or None.
        engine: ``local`` or ``ray``.
        signal: The signal that stopped the run (nothing is written then), or None.
        single: The single run's result, when the input ran as one segment.
    """

    output: str
    frames: int = 0
    wall_s: float = 0.0
    segments: list[SegmentResult] = field(default_factory=list)
    join_s: float = 0.0
    audio: list[str] = field(default_factory=list)
    note: str | None = None
    engine: str = "local"
    signal: int | None = None
    single: TranscodeResult | None = None

    @property
    def exit_code(self) -> int:
        """The single run's, when the input ran as one; else :class:`RunOutcome`'s."""
        return self.single.exit_code if self.single is not None else super().exit_code

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` report: the segments, their nodes and times, then the totals."""
        data: dict[str, Any] = self.single.to_dict() if self.single is not None else {}
        data.update(
            output=self.output,
            frames=self.frames,
            engine=self.engine,
            segments=[s.to_dict() for s in self.segments],
            join_s=round(self.join_s, 3),
            wall_s=round(self.wall_s, 3),
            audio=self.audio,
            split_note=self.note,
        )
        if self.signal:
            data["interrupted"] = self.signal_name
        return data

    def summary(self) -> str:
        """One line for the console."""
        if self.single is not None:
            return self.single.summary()
        if self.signal:
            return (
                f"nothing written to {self.output}: stopped by {self.signal_name}, pieces removed"
            )
        nodes = {s.node for s in self.segments}
        where = f" on {len(nodes)} nodes" if len(nodes) > 1 else ""
        audio = f", audio: {'; '.join(self.audio)}" if self.audio else ""
        return (
            f"wrote {self.output}: {self.frames} frames in {self.wall_s:.2f} s, "
            f"{len(self.segments)} segments{where} (join {self.join_s:.2f} s){audio}"
        )
