"""``transcode --split`` against a single ``transcode`` of one long clip, locally and on Ray.

A clip (default 60 s of 1920x1080 testsrc2 at 30 fps, x264 ultrafast with a keyframe every 2 s,
and an AAC tone, made here with PyAV in a temporary folder) goes through each variant, round
after round in rotating order so that load drifts hit all alike; medians and ratios of the
whole command's wall time are printed, with the CPU seconds a single run used (so the cores it
already keeps busy are known), and the split run's own breakdown from ``--json``: the slowest
segment, the join, and the rest (start-up and planning).

* ``single``: ``livethresh transcode clip.mp4 out.mp4``;
* ``split auto``: the same with ``--split auto`` (local engine, one segment per core);
* ``ray``: ``--split 2 --ray-address`` on a two-node Ray cluster of this machine (one CPU per
  node; started before the rounds and stopped after, its start-up time reported apart).

Run::

    python benchmarks/bench_split.py [--rounds 5] [--seconds 60] [--size 1920x1080] [--no-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import Sample, machine, median, rotating_rounds  # noqa: E402

from livethresh.synthetic import mux_tone  # noqa: E402

FPS = 30


def make_clip(path: Path, seconds: float, size: str, gop_seconds: float = 2.0) -> Path:
    """testsrc2 with a tone, a keyframe every ``gop_seconds``."""
    width, height = (int(v) for v in size.split("x"))
    pattern = f"testsrc2=size={size}:rate={FPS}:duration={seconds}"
    with av.open(pattern, format="lavfi") as source, av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(round(gop_seconds * FPS))}
        sound = out.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        sample = 0
        for number, frame in enumerate(source.decode(video=0)):
            frame.pts, frame.time_base = number, Fraction(1, FPS)
            out.mux(video.encode(frame.reformat(format="yuv420p")))
            sample = mux_tone(out, sound, sample, (number + 1) * 48000 // FPS)
        out.mux(video.encode(None))
        out.mux(sound.encode(None))
    return path


def reading(clip: Path) -> str:
    """One line: how long demuxing the whole clip takes (no decoding), the reading term of
    the model in docs/batch.md."""
    started = time.perf_counter()
    with av.open(str(clip)) as container:
        size = sum(packet.size for packet in container.demux())
    seconds = time.perf_counter() - started
    return f"reading the clip (demux only): {seconds:.2f} s, {size / seconds / 2**20:.0f} MiB/s"


def command(*args: str, env: dict[str, str]) -> Callable[[], Sample]:
    """A variant: the command's wall time, CPU seconds, and its ``--json`` report."""

    def sample() -> Sample:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "livethresh", "transcode", *args, "-y", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
        report = json.loads(done.stdout)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        segments = report.get("segments") or []
        slowest = max((s["wall_s"] for s in segments), default=0.0)
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "segments": len(segments),
            "slowest_segment_s": slowest,
            "join_s": report.get("join_s", 0.0),
            "nodes": len({s["node"] for s in segments}),
        }

    return sample


def show(samples: dict[str, list[Sample]], baseline: str) -> None:
    medians = {name: median(values, "wall_s") for name, values in samples.items()}
    rounds = len(samples[baseline])
    print(f"\nwhole command (medians of {rounds} rounds; ratio = {baseline} / variant)")
    for name, values in samples.items():
        wall, cpu = medians[name], median(values, "cpu_s")
        line = f"  {name:12} {wall:7.2f} s  x{medians[baseline] / wall:5.2f}"
        if not values[0]["segments"]:
            # Only a run without workers is counted whole: the split's are the forkserver's.
            line += f"  cpu {cpu:6.1f} s ({cpu / wall:4.2f} cores busy)"
        if values[0]["segments"]:
            slowest, join = median(values, "slowest_segment_s"), median(values, "join_s")
            line += (
                f"  {values[0]['segments']} segments on {values[0]['nodes']} node(s): "
                f"slowest {slowest:.2f} s, join {join:.2f} s, "
                f"rest {wall - slowest - join:.2f} s"
            )
        print(line)
        walls = ", ".join(f"{v['wall_s']:.2f}" for v in values)
        # Each round's own ratio: both ran minutes apart at most, under the same load.
        pairs = zip(samples[baseline], values, strict=True)
        paired = sorted(b["wall_s"] / v["wall_s"] for b, v in pairs)
        middle = paired[len(paired) // 2]
        print(f"    every round: {walls}; median of the rounds' ratios x{middle:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--no-ray", action="store_true", help="Skip the Ray variant.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_split"))
    try:
        started = time.perf_counter()
        clip = make_clip(work / "clip.mp4", args.seconds, args.size)
        made = time.perf_counter() - started
        print(f"clip: {args.seconds:g} s {args.size}, made in {made:.1f} s; {machine()}")
        print(reading(clip))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = str(work / "out.mp4")
        variants = {
            "single": command(str(clip), out, env=env),
            "split auto": command(str(clip), out, "--split", "auto", env=env),
        }
        if args.no_ray:
            samples = rotating_rounds(variants, args.rounds)
        else:
            from tests.ray_cluster import local_cluster

            started = time.perf_counter()
            with local_cluster(nodes=2, cpus=1) as (address, ray_env):
                print(f"two-node Ray cluster up in {time.perf_counter() - started:.1f} s")
                ray_args = ("--split", "2", "--ray-address", address)
                variants["ray"] = command(str(clip), out, *ray_args, env=ray_env)
                samples = rotating_rounds(variants, args.rounds)
        show(samples, "single")
        print(f"after: {machine()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
