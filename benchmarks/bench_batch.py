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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import Sample, machine, median, rotating_rounds  # noqa: E402

from livethresh.batch.local import default_jobs, run_local  # noqa: E402
from livethresh.batch.task import FileJob  # noqa: E402
from livethresh.config import ThresholdConfig  # noqa: E402
from livethresh.encode.plan import EncodeSettings  # noqa: E402


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


def timed(run: Callable[[], object]) -> Callable[[], Sample]:
    """A variant for :func:`harness.rotating_rounds`: its wall time in seconds."""

    def sample() -> Sample:
        started = time.perf_counter()
        run()
        return {"wall_s": time.perf_counter() - started}

    return sample


def cli(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "livethresh", *args]
    subprocess.run(
        command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def fresh(folder: Path) -> Path:
    """An empty folder, so that no variant skips a finished output."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def headline(
    clips: list[Path], work: Path, rounds: int, ray_address: str | None, env: dict[str, str]
) -> dict[str, list[Sample]]:
    """Shell loop, batch (local), and batch on Ray: each into a fresh output folder."""
    loop = "; ".join(
        f'"{sys.executable}" -m livethresh transcode "{clip}" "{work}/shell/{clip.name}" '
        "2>/dev/null || exit 1"
        for clip in clips
    )

    def shell() -> None:
        fresh(work / "shell")
        subprocess.run(["sh", "-c", loop], check=True, env=env)

    def batch(*extra: str) -> Callable[[], None]:
        name = "ray" if extra else "batch"
        return lambda: cli(
            "batch", str(clips[0].parent), "-o", str(fresh(work / name)), *extra, env=env
        )

    variants = {"shell": timed(shell), "batch": timed(batch())}
    if ray_address:
        variants["ray"] = timed(batch("--ray-address", ray_address))
    return rotating_rounds(variants, rounds, progress=False)


def tuning(clips: list[Path], work: Path, rounds: int) -> dict[str, list[Sample]]:
    """The process pool in process: workers x decoder threads per transcode."""
    config, settings = ThresholdConfig(), EncodeSettings()

    def pool(workers: int, threads: int) -> Callable[[], None]:
        def run() -> None:
            out = fresh(work / "tuning")
            jobs = [
                FileJob(str(c), str(out / c.name), config, settings, decoder_threads=threads)
                for c in clips
            ]
            run_local(jobs, lambda _: None, workers=workers)

        return run

    variants = {
        f"jobs={w} decoder_threads={t}": timed(pool(w, t)) for w in (1, 2, 3, 4) for t in (1, 2)
    }
    return rotating_rounds(variants, rounds, progress=False)


def show(title: str, samples: dict[str, list[Sample]], baseline: str) -> dict[str, float]:
    medians = {name: median(values, "wall_s") for name, values in samples.items()}
    print(f"\n{title} (medians of {len(samples[baseline])} rounds; ratio = {baseline} / variant)")
    for name, value in medians.items():
        print(f"  {name:28} {value:7.2f} s  x{medians[baseline] / value:5.2f}")
    return medians


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
        print(f"{args.clips} clips of {args.seconds} s {args.size}; {machine()}")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.no_ray:
            times = headline(clips, work, args.rounds, None, env)
        else:
            from tests.ray_cluster import local_cluster

            started = time.perf_counter()
            with local_cluster(nodes=1, cpus=default_jobs()) as (address, ray_env):
                print(f"single-node Ray cluster up in {time.perf_counter() - started:.1f} s")
                times = headline(clips, work, args.rounds, address, ray_env)
        medians = show("whole command, wall time", times, "shell")
        if "ray" in medians:
            overhead = medians["ray"] - medians["batch"]
            print(f"  Ray overhead over the local engine: {overhead:+.2f} s per batch")
        if not args.no_tuning:
            show(
                "local engine in process",
                tuning(clips, work, args.rounds),
                "jobs=1 decoder_threads=2",
            )
        print(f"after: {machine()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
