"""``livethresh batch`` against a shell loop of ``livethresh transcode``, and Ray against local.

Twelve clips (default 1.5 s of 640x360 testsrc2 at 30 fps, x264, made here with PyAV) go
through every variant, round after round in rotating order so that load drifts hit all alike;
medians and ratios are printed:

* ``shell``: ``for f in clips; do python -m livethresh transcode "$f" out/...; done``;
* ``batch``: ``python -m livethresh batch clips -o out`` with its defaults (local engine);
* ``ray``: the same with ``--ray-address`` on a running single-node Ray cluster (as many CPUs as
  this machine has; started once before the rounds, its start-up time reported apart).

Then the tuning behind the local engine's defaults, in process (no interpreter start): the
process pool with 1 to 4 workers, each transcode with 1 or 2 decoder threads. Run::

    python benchmarks/bench_batch.py [--rounds 5] [--clips 12] [--seconds 1.5] [--size 640x360]
                                     [--no-ray] [--no-tuning]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from livethresh.batch.local import default_jobs, run_local  # noqa: E402
from livethresh.batch.task import FileJob  # noqa: E402
from livethresh.config import ThresholdConfig  # noqa: E402
from livethresh.sinks.plan import EncodeSettings  # noqa: E402


def make_clips(folder: Path, count: int, seconds: float, size: str) -> list[Path]:
    """``count`` clips of testsrc2 (each a different start, so no two files are equal)."""
    folder.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in size.split("x"))
    clips = []
    for index in range(count):
        path = folder / f"clip{index:02d}.mp4"
        pattern = f"testsrc2=size={size}:rate=30:duration={seconds + index}"
        with av.open(pattern, format="lavfi") as source, av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast"}
            frames = source.decode(video=0)
            for _ in range(index * 30):  # skip ahead: another picture per clip
                next(frames)
            for number, frame in enumerate(frames):
                if number >= round(seconds * 30):
                    break
                frame.pts = None
                out.mux(stream.encode(frame.reformat(format="yuv420p")))
            out.mux(stream.encode(None))
        clips.append(path)
    return clips


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def cli(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "livethresh", *args]
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def headline(
    clips: list[Path], work: Path, rounds: int, ray_address: str | None, env: dict[str, str]
) -> dict[str, list[float]]:
    """Shell loop, batch (local), and batch on Ray: each a fresh output folder per round."""
    loop = "; ".join(
        f'"{sys.executable}" -m livethresh transcode "{clip}" "{work}/shell/{clip.name}" '
        "2>/dev/null || exit 1"
        for clip in clips
    )
    variants: dict[str, Callable[[], None]] = {
        "shell": lambda: subprocess.run(["sh", "-c", loop], check=True, env=env),
        "batch": lambda: cli("batch", str(clips[0].parent), "-o", f"{work}/batch", env=env),
    }
    if ray_address:
        variants["ray"] = lambda: cli(
            "batch",
            str(clips[0].parent),
            "-o",
            f"{work}/ray",
            "--ray-address",
            ray_address,
            env=env,
        )
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(rounds):
        names = list(variants)
        names = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in names:
            fresh(work / name)
            times[name].append(timed(variants[name]))
    return times


def tuning(clips: list[Path], work: Path, rounds: int) -> dict[str, list[float]]:
    """The process pool in process: workers x decoder threads per transcode."""
    config, settings = ThresholdConfig(), EncodeSettings()
    variants = [(workers, threads) for workers in (1, 2, 3, 4) for threads in (1, 2)]
    times: dict[str, list[float]] = {f"jobs={w} decoder_threads={t}": [] for w, t in variants}
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for workers, threads in variants[shift:] + variants[:shift]:
            out = fresh(work / "tuning")
            jobs = [
                FileJob(str(c), str(out / c.name), config, settings, decoder_threads=threads)
                for c in clips
            ]
            times[f"jobs={workers} decoder_threads={threads}"].append(
                timed(lambda j=jobs, w=workers: run_local(j, lambda _: None, workers=w))
            )
    return times


def show(title: str, times: dict[str, list[float]], baseline: str) -> None:
    base = statistics.median(times[baseline])
    print(f"\n{title} (medians of {len(times[baseline])} rounds; ratio = {baseline} / variant)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28} {median:7.2f} s  (min {min(values):6.2f})  x{base / median:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--no-ray", action="store_true", help="Skip the Ray variant.")
    parser.add_argument("--no-tuning", action="store_true", help="Skip the pool tuning.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch"))
    try:
        clips = make_clips(work / "clips", args.clips, args.seconds, args.size)
        print(
            f"{args.clips} clips of {args.seconds} s {args.size}; {default_jobs()} cores; "
            f"load before: {os.getloadavg()[0]:.2f}"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.no_ray:
            times = headline(clips, work, args.rounds, None, env)
        else:
            from tests.ray_cluster import local_cluster

            started = time.perf_counter()
            with local_cluster(nodes=1, cpus=default_jobs()) as (address, ray_env):
                print(f"single-node Ray cluster up in {time.perf_counter() - started:.1f} s")
                times = headline(clips, work, args.rounds, address, ray_env)
        show("whole command, wall time", times, "shell")
        if "ray" in times:
            overhead = statistics.median(times["ray"]) - statistics.median(times["batch"])
            print(f"  Ray overhead over the local engine: {overhead:+.2f} s per batch")
        if not args.no_tuning:
            show(
                "local engine in process",
                tuning(clips, work, args.rounds),
                "jobs=1 decoder_threads=2",
            )
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
