"""The whole video path at 1080p30: livethresh's pipeline vs. the naive sequential loop.

Generates (once, cached in the temp folder) a 1080p30 H.264 clip of a document under a moving
shadow, then measures, each run in a fresh process and the variants interleaved round by round
so that the noise of a shared machine hits them alike:

- ``naive``: the loop most code would write: for each decoded frame,
  ``to_ndarray(format="bgr24")`` -> ``cvtColor`` -> ``GaussianBlur`` -> ``adaptiveThreshold``,
  with the libraries' default threads;
- ``naive, 1 cv2 thread``: the same with ``cv2.setNumThreads(1)``;
- ``livethresh bench CLIP --json``: the pipeline into the null sink, unpaced;
- the pipeline under other thread settings (decoder threads x binarizer bands), to justify the
  defaults;
- ``livethresh bench CLIP --live --json``: paced at 30 fps like a camera: drops and latency.

All with the article's settings (blur 7, Gaussian, block 11, C 2). Run::

    python benchmarks/bench_pipeline.py [--rounds 3] [--clip PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import machine, rotating_rounds, run_child

FRAMES = 240
HERE = Path(__file__).resolve()


def make_clip(path: Path) -> Path:
    """The 1080p30 test clip, encoded with PyAV from synthetic document frames."""
    if path.exists():
        return path
    from livethresh.synthetic import write_document_clip

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    print(f"generating {path} ({FRAMES} frames of 1080p, takes a minute)...", file=sys.stderr)
    write_document_clip(partial, frames=FRAMES, height=1080, width=1920, fps=30)
    partial.replace(path)
    return path


def naive_loop(clip: str, cv2_threads: int | None) -> dict[str, Any]:
    """The sequential baseline, as the seed article's code applied to video."""
    import av
    import cv2

    if cv2_threads is not None:
        cv2.setNumThreads(cv2_threads)
    frames = 0
    with av.open(clip) as container:
        stream = container.streams.video[0]
        start = time.perf_counter()
        for frame in container.decode(stream):
            img = frame.to_ndarray(format="bgr24")
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            blurred = cv2.GaussianBlur(gray, (7, 7), 0)
            cv2.adaptiveThreshold(
                blurred, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2
            )
            frames += 1
        wall = time.perf_counter() - start
    return {"frames": frames, "wall_s": wall, "fps": frames / wall}


def pipeline_run(clip: str, decoder_threads: int, bands: int) -> dict[str, Any]:
    """The pipeline with explicit thread settings (the CLI uses the defaults)."""
    from livethresh.config import ThresholdConfig
    from livethresh.pipeline import Pipeline
    from livethresh.sinks import NullSink
    from livethresh.sources import open_source

    with open_source(clip, decoder_threads=decoder_threads) as source:
        stats = Pipeline(source, NullSink(), ThresholdConfig(), bands=bands).run()
    return stats.to_dict()


def child(*args: str) -> dict[str, Any]:
    """Run one measurement in a fresh process; return its JSON line (and its peak RSS)."""
    return run_child(args)


def cli(*args: str) -> dict[str, Any]:
    return child("-m", "livethresh", "bench", *args, "--json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--clip",
        type=Path,
        default=Path(tempfile.gettempdir()) / "livethresh-bench" / "doc1080p30.mp4",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement, in this fresh process
        kind, clip, *rest = args.child
        if kind == "naive":
            result = naive_loop(clip, int(rest[0]) if rest else None)
        else:
            result = pipeline_run(clip, int(rest[0]), int(rest[1]))
        print(json.dumps(result))
        return

    clip = str(make_clip(args.clip))
    script = str(HERE)
    unpaced = {
        "naive (default threads)": lambda: child(script, "--child", "naive", clip),
        "naive (1 cv2 thread)": lambda: child(script, "--child", "naive", clip, "1"),
        "livethresh bench": lambda: cli(clip),
    }
    for decoder in (1, 2, 0):
        for bands in (1, 2):
            name = f"pipeline: decoder threads {decoder or 'auto'}, {bands} band(s)"
            unpaced[name] = lambda d=decoder, b=bands: child(  # type: ignore[misc]
                script, "--child", "pipeline", clip, str(d), str(b)
            )
    samples = rotating_rounds(unpaced, args.rounds)
    # Paced runs last a clip's duration whatever the machine does: measured after the rest.
    live = [cli(clip, "--live") for _ in range(args.rounds)]

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    baseline = median("naive (default threads)", "fps")
    rows = {
        name: {
            "fps": round(median(name, "fps"), 1),
            "ratio_vs_naive": round(median(name, "fps") / baseline, 2),
        }
        for name in unpaced
    }
    live_summary = {
        "dropped": [r["dropped"] for r in live],
        "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in live),
        "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in live),
        "p99_ms_worst": max(r["latency_ms"]["p99"] for r in live),
        "fps": statistics.median(r["fps"] for r in live),
    }
    result = {
        "clip": clip,
        "frames": FRAMES,
        "cores": os.cpu_count(),
        "rounds": args.rounds,
        "unpaced": rows,
        "live": live_summary,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"1080p30 H.264 clip, {FRAMES} frames, article settings, {args.rounds} rounds, "
        f"medians; {machine()}"
    )
    print(f"| {'unpaced, into the null sink':52} | {'fps':>6} | {'vs naive':>8} |")
    print(f"|{'-' * 54}|{'-' * 8}|{'-' * 10}|")
    for name, row in rows.items():
        print(f"| {name:52} | {row['fps']:6.1f} | {row['ratio_vs_naive']:7.2f}x |")
    print()
    print(
        f"live (paced at 30 fps): dropped per run {live_summary['dropped']}, latency p50 "
        f"{live_summary['p50_ms']:.2f} ms, p99 {live_summary['p99_ms']:.2f} ms (worst run "
        f"{live_summary['p99_ms_worst']:.2f} ms), {live_summary['fps']:.1f} fps"
    )


if __name__ == "__main__":
    main()
