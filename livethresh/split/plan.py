"""Cutting one video into segments at its keyframes, for a split transcode.

The cuts come from the container's index (every sample of an MP4 or MOV, the cues of a
Matroska file): no frame is decoded to plan. Each cut is a keyframe, and the segment that starts
there owns every frame whose presentation time is at or after the keyframe's and before the
next cut's, so no frame is written twice and none is lost. A segment that needs the state a
method carries across frames (a warm-up) starts binarizing some frames before its cut; those
frames are not written (see :mod:`livethresh.split.segment`).

An input that has no such index (a pipe, a stream, a camera, an image sequence, MPEG-TS) or is
shorter than a few keyframe intervals per segment is not cut: the plan then says why, in one
line, and holds a single segment.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from livethresh.binarize.scale import PERIOD
from livethresh.config import ThresholdConfig
from livethresh.errors import InputError
from livethresh.locations import is_network_url

#: Keyframe intervals (GOPs) each segment spans at least: shorter inputs are cut into fewer
#: segments, or not at all.
MIN_GOPS_PER_SEGMENT = 3
#: Seconds of input each segment spans at least with ``auto``: a segment's worker costs about
#: half a second to start, open the input and seek.
AUTO_MIN_SEGMENT_SECONDS = 5.0
#: Demuxers whose index lists the keyframes (MP4 and MOV sample tables, Matroska cues): seeking
#: there lands exactly on a keyframe. MPEG-TS, raw streams and images have none.
INDEXED_FORMATS = frozenset({"mov", "mp4", "matroska"})

#: Warm-up frames, per state carried across frames; ``docs/batch.md`` has the measurements.
#: The background method's blank-frame hysteresis reads only the previous frame.
BACKGROUND_WARM_UP = 1
#: Stabilization's recursive average (a time constant of four frames, a dead zone of about
#: two gray levels): after this many frames it is the single run's but for rare pixels.
STABILIZE_WARM_UP = 32
#: auto_scale: the tracker measures every PERIOD frames and smooths the estimates; the warm-up
#: starts on a measured frame, as the single run's. On a page zooming 2x in 8 s, 4 periods
#: left 0.045% of the pixels different, 8 none.
AUTO_SCALE_WARM_UP = 8 * PERIOD


@dataclass(frozen=True)
class Segment:
    """One piece of the input, in the video stream's timestamps (``time_base`` units).

    Attributes:
        index: 0-based position.
        start: Presentation time of its first frame (a keyframe); None for the first segment.
        end: Presentation time of the next segment's first frame; None for the last.
        warm_from: Frames from this time on are binarized (those before ``start`` only to warm
            the state up; at or before the first frame's time when the warm-up reaches it);
            None for the first segment.
        time_base: The unit of the times.
        first_frame: Index, in the whole input, of its first frame (estimated from the frame
            rate where the index does not list every frame).
        warm_up: Frames binarized before ``start`` and not written.
    """

    index: int
    start: int | None
    end: int | None
    warm_from: int | None
    time_base: Fraction
    first_frame: int = 0
    warm_up: int = 0

    def seconds(self, pts: int | None) -> float | None:
        return None if pts is None else float(pts * self.time_base)

    def describe(self, duration: float | None = None) -> str:
        """``12.000-18.000 s``: the input times the segment covers."""
        start = self.seconds(self.start) or 0.0
        end = self.seconds(self.end)
        if end is None:
            return f"{start:.3f} s-end" if duration is None else f"{start:.3f}-{duration:.3f} s"
        return f"{start:.3f}-{end:.3f} s"


@dataclass(frozen=True)
class SplitPlan:
    """The segments of one input, or why it runs as one.

    Attributes:
        segments: In order; one segment (the whole input) when it is not cut.
        note: Why the input is not cut, in one line; None when it is.
        frames: Frames in the input, when the container says.
        duration: Seconds of video, when known.
    """

    segments: list[Segment]
    note: str | None = None
    frames: int | None = None
    duration: float | None = None


def whole(note: str, frames: int | None = None, duration: float | None = None) -> SplitPlan:
    """A plan of one segment, the whole input, with the reason it is not cut."""
    return SplitPlan([Segment(0, None, None, None, Fraction(1))], note, frames, duration)


def warm_up_for(config: ThresholdConfig) -> tuple[int, int]:
    """The frames each segment binarizes before its start, and the multiple of frames the
    warm-up starts on, for the state ``config`` carries across frames ((0, 1): none)."""
    frames, align = 0, 1
    if config.method == "background":
        frames = BACKGROUND_WARM_UP
    if config.stabilize:
        frames = max(frames, STABILIZE_WARM_UP)
    if config.auto_scale:
        frames, align = max(frames, AUTO_SCALE_WARM_UP), PERIOD
    return frames, align


def plan_segments(
    input: str, count: int | None, *, cores: int, warm_up: int = 0, align: int = 1
) -> SplitPlan:
    """Cut ``input`` into about ``count`` segments at keyframes.

    Args:
        input: The video file.
        count: Segments wanted; None: about one per core, none shorter than
            :data:`AUTO_MIN_SEGMENT_SECONDS`.
        cores: The cores (or Ray CPUs) available, for ``count=None``.
        warm_up: Frames each segment but the first binarizes before its start.
        align: The warm-up starts at a frame index that is a multiple of this (a state that
            counts frames, as ``auto_scale``'s period, then counts them as a single run does).

    Returns:
        The plan; a single segment with a note when the input cannot or should not be cut.
    """
    if input == "-" or is_network_url(input) or not Path(input).is_file():
        return whole(
            f"{input!r} is not a regular file (a stream, a pipe, a camera, a pattern or an "
            "image sequence)"
        )
    try:
        container = av.open(input)
    except (av.error.FFmpegError, OSError):
        return whole(f"{input!r} cannot be probed for keyframes")
    with container:
        if not container.streams.video:
            return whole(f"{input!r} has no video stream to cut")
        if not INDEXED_FORMATS & set(container.format.name.split(",")):
            return whole(
                f"{input!r} is {container.format.name}, a container without an index of its "
                "keyframes"
            )
        return _plan_stream(container, container.streams.video[0], count, cores, warm_up, align)


def _plan_stream(
    container: Any, stream: Any, count: int | None, cores: int, warm_up: int, align: int
) -> SplitPlan:
    time_base = Fraction(stream.time_base) if stream.time_base else None
    rate = stream.guessed_rate or stream.average_rate
    duration = float(container.duration / av.time_base) if container.duration else None
    frames = stream.frames or None
    if time_base is None or not rate:
        return whole("the video has no time base or frame rate to cut by", frames, duration)
    if duration:
        # Some demuxers (Matroska) read their index only when asked to seek.
        try:
            container.seek(int(duration / 2 / time_base), stream=stream, backward=True)
        except (av.error.FFmpegError, ValueError):
            return whole("the input cannot seek: it has no keyframe index", frames, duration)
    entries = list(stream.index_entries)
    stamps = [e.timestamp for e in entries]
    keys = [i for i, e in enumerate(entries) if e.is_keyframe and not e.is_discard]
    if len(keys) < 2 or stamps != sorted(stamps):
        return whole("the input has no index of seekable keyframes", frames, duration)
    full_index = frames is not None and len(entries) == frames
    first, last = stamps[0], stamps[-1]
    span = last - first
    seconds = float(span * time_base) + 1 / float(rate)
    limit = len(keys) // MIN_GOPS_PER_SEGMENT
    wanted = count if count is not None else min(cores, int(seconds // AUTO_MIN_SEGMENT_SECONDS))
    segments = min(wanted, limit)
    if segments < 2:
        why = (
            f"shorter than {MIN_GOPS_PER_SEGMENT} keyframe intervals per segment"
            if wanted >= 2
            else "too short to gain from segments"
            if count is None
            else "one segment asked for"
        )
        return whole(f"not split: {why} ({seconds:.1f} s, {len(keys)} keyframes)", frames, duration)
    key_stamps = [stamps[i] for i in keys]
    cuts: list[int] = []
    for part in range(1, segments):
        target = first + span * part // segments
        position = bisect.bisect_right(key_stamps, target) - 1
        if position > 0 and keys[position] not in cuts:
            cuts.append(keys[position])
    found = [_presentation_time(container, stream, stamps[i]) for i in cuts]
    starts = [s for s in found if s is not None]
    if len(starts) < len(found) or starts != sorted(starts):
        return whole("the input's keyframes cannot be reached by seeking", frames, duration)

    def frame_index(position: int) -> int:
        if full_index:
            return position
        frames_in: Fraction = (stamps[position] - first) * time_base * Fraction(rate)
        return math.floor(frames_in + Fraction(1, 2))

    plan: list[Segment] = []
    bounds: list[int | None] = [None, *starts]
    for number, start in enumerate(bounds):
        end = bounds[number + 1] if number + 1 < len(bounds) else None
        if start is None:
            plan.append(Segment(0, None, end, None, time_base))
            continue
        cut = cuts[number - 1]
        begin = frame_index(cut)
        warm_index = max(0, begin - warm_up) // align * align
        if warm_index == 0:
            # The warm-up reaches the first frame: the state is the single run's, exactly.
            warm_from = first
        elif full_index:
            # Entry i is frame i in decode order: the same for inputs without B-frames, a
            # frame or two apart with them (the warm-up is then that much shorter or longer).
            warm_from = min(stamps[warm_index], start)
        else:
            warm_from = start - math.ceil((begin - warm_index) / rate / time_base)
        plan.append(Segment(number, start, end, warm_from, time_base, begin, begin - warm_index))
    # Matroska states no frame count: the progress bar's total is then the duration's frames.
    count = frames or (round(duration * float(rate)) if duration else None)
    return SplitPlan(plan, None, count, duration)


def _presentation_time(container: Any, stream: Any, stamp: int) -> int | None:
    """The pts of the keyframe indexed at ``stamp`` (the index holds decode times), read by
    seeking to it as a segment's worker will."""
    try:
        container.seek(stamp, stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.dts is None and not packet.size:
                return None
            if not packet.is_keyframe or packet.dts != stamp:
                return None
            return int(packet.pts) if packet.pts is not None else None
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(f"cannot seek in the input: {exc}") from exc
    return None
