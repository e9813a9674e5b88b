"""Soak run: many frames through the live pipeline, watching memory, threads and descriptors.

A lavfi ``testsrc2`` pattern stands in for a camera. Its frames go through the real pipeline
with the live policy (the oldest frame is dropped when a stage is behind, as with a camera) into
a sink that discards the masks and samples the resident set size (RSS) every
``--sample-every`` frames. After a warm-up (allocators, FFmpeg and OpenCV pools settle), RSS
must stay flat; the open file descriptors and the threads must be the same after the run as
before it. Then ``--runs`` short runs, each opening and closing its own source, check that a
run leaks nothing either.

Frames arrive at ``--rate`` as from a camera (``--fast`` sends them as fast as the decoder
makes them, which mostly measures dropping). Run::

    python benchmarks/soak.py                            # on demand: 10,000 frames of 720p60
    python benchmarks/soak.py --size 64x48 --rate 2000   # what the CI test runs (about 5 s)

The exit status is 1 if RSS grew by more than ``--max-growth-mb`` after the warm-up, or if a
thread or a file descriptor leaked.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from livethresh.config import ThresholdConfig
from livethresh.frames import ProcessedFrame, StreamInfo
from livethresh.pipeline import Pipeline
from livethresh.slots import LivePolicy
from livethresh.sources import open_source

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident set size in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


class SamplingSink:
    """Discards masks; records RSS every ``every`` frames written."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.frames = 0
        self.samples: list[tuple[int, float]] = []

    def open(self, info: StreamInfo) -> None:
        self.frames = 0

    def write(self, frame: ProcessedFrame) -> None:
        self.frames += 1
        if self.frames % self.every == 0:
            self.samples.append((frame.index, rss_mb()))

    def close(self) -> None:
        pass


@dataclass
class SoakReport:
    frames_read: int = 0
    frames_written: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    fps: float = 0.0
    rss_after_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_mb: float = 0.0
    rss_growth_mb: float = 0.0
    threads_before: list[str] = field(default_factory=list)
    threads_after: list[str] = field(default_factory=list)
    fds_before: int = 0
    fds_after: int = 0
    runs: int = 0
    fds_after_runs: int = 0
    threads_after_runs: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[str]:
        problems = []
        if self.threads_after != self.threads_before:
            problems.append(f"threads {self.threads_before} -> {self.threads_after}")
        if self.fds_after != self.fds_before:
            problems.append(f"file descriptors {self.fds_before} -> {self.fds_after}")
        if self.runs and self.threads_after_runs != self.threads_before:
            problems.append(f"threads after {self.runs} runs: {self.threads_after_runs}")
        if self.runs and self.fds_after_runs != self.fds_before:
            problems.append(f"file descriptors after {self.runs} runs: {self.fds_after_runs}")
        return problems


def run_once(spec: str, frames: int, paced: bool, sink: Any) -> Any:
    with open_source(spec, live=paced) as source:
        return Pipeline(
            source, sink, ThresholdConfig(), max_frames=frames, policy=LivePolicy.DROP_OLDEST
        ).run()


def soak(
    frames: int = 10_000,
    size: str = "1280x720",
    rate: int = 60,
    paced: bool = True,
    warmup: int = 1000,
    sample_every: int = 100,
    runs: int = 20,
) -> SoakReport:
    """Run the soak and return what it measured (see the module docstring)."""
    spec = f"testsrc2=size={size}:rate={rate}"
    report = SoakReport()
    # A first short run loads the codecs and builds the thread pools that live for the process.
    run_once(spec, 50, False, SamplingSink(sample_every))
    report.threads_before, report.fds_before = thread_names(), open_fds()

    sink = SamplingSink(sample_every)
    started = time.perf_counter()
    stats = run_once(spec, frames, paced, sink)
    report.wall_s = round(time.perf_counter() - started, 3)
    report.frames_read, report.frames_written = stats.frames_read, stats.frames_written
    report.dropped = stats.dropped
    report.fps = round(stats.frames_written / report.wall_s, 1)
    settled = [rss for index, rss in sink.samples if index >= warmup]
    if settled:
        report.rss_after_warmup_mb = round(settled[0], 2)
        report.rss_end_mb = round(settled[-1], 2)
        report.rss_max_mb = round(max(settled), 2)
        report.rss_growth_mb = round(max(settled) - settled[0], 2)
    report.threads_after, report.fds_after = _settled_threads(report.threads_before), open_fds()

    for _ in range(runs):
        run_once(spec, 20, False, SamplingSink(sample_every))
    report.runs = runs
    report.threads_after_runs = _settled_threads(report.threads_before)
    report.fds_after_runs = open_fds()
    return report


def _settled_threads(expected: list[str], wait: float = 5.0) -> list[str]:
    """The threads now, giving finished workers a moment to be reaped."""
    deadline = time.monotonic() + wait
    names = thread_names()
    while names != expected and time.monotonic() < deadline:
        time.sleep(0.01)
        names = thread_names()
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--rate", type=int, default=60, help="pattern frame rate")
    parser.add_argument("--fast", action="store_true", help="do not pace the pattern")
    parser.add_argument("--warmup", type=int, default=1000, help="frames before RSS is judged")
    parser.add_argument("--sample-every", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20, help="short runs checked for leaks")
    parser.add_argument("--max-growth-mb", type=float, default=4.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = soak(
        args.frames, args.size, args.rate, not args.fast, args.warmup, args.sample_every, args.runs
    )
    failed = report.leaks + (
        [f"RSS grew {report.rss_growth_mb} MiB after warm-up (limit {args.max_growth_mb})"]
        if report.rss_growth_mb > args.max_growth_mb
        else []
    )
    if args.json:
        print(json.dumps({**asdict(report), "failures": failed}))
    else:
        print(
            f"{report.frames_read} frames read, {report.frames_written} written, "
            f"{report.dropped} dropped in {report.wall_s:.1f} s ({report.fps:.0f} fps)"
        )
        print(
            f"RSS after warm-up {report.rss_after_warmup_mb:.1f} MiB, end "
            f"{report.rss_end_mb:.1f}, max {report.rss_max_mb:.1f}, growth "
            f"{report.rss_growth_mb:.2f} MiB"
        )
        print(
            f"threads {len(report.threads_before)} -> {len(report.threads_after)}, fds "
            f"{report.fds_before} -> {report.fds_after}; after {report.runs} more runs: "
            f"threads {len(report.threads_after_runs)}, fds {report.fds_after_runs}"
        )
        for problem in failed:
            print(f"FAIL: {problem}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
