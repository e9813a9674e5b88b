"""Transcoding a 1080p30 H.264 clip: livethresh against the floor and the article's loop.

Four variants run side by side, round after round in rotating order, each in its own
subprocess so that its peak RSS is its own:

* ``floor``: a plain PyAV decode -> encode of the same file, with no processing and the same
  encoder settings as ``ultrafast`` (x264 ultrafast, yuv420p, crf 23), and FFmpeg's automatic
  thread counts for both codecs, its fastest setting;
* ``ultrafast``: ``livethresh transcode --codec libx264 --encoder-preset ultrafast``
  ``--pix-fmt yuv420p``;
* ``default``: ``livethresh transcode`` with its defaults;
* ``article``: the seed article's loop, ``cv2.VideoCapture`` -> ``cvtColor`` -> ``GaussianBlur``
  -> ``adaptiveThreshold`` -> ``cv2.VideoWriter`` (mp4v), with OpenCV's default threads.

The input is generated here with PyAV (a document page under a moving shadow, x264 crf 18) and
all variants use the article's threshold settings. Each child reports the wall time of its
work (imports and input probing excluded) and its peak RSS; the parent prints medians and the
ratios the targets are stated in. Run::

    python benchmarks/bench_transcode.py [--rounds 5] [--frames 150] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from harness import machine, peak_rss_mib, rotating_rounds, run_child

VARIANTS = ("floor", "ultrafast", "default", "article")
FLOOR_OPTIONS = {"preset": "ultrafast", "crf": "23"}


def make_input(path: Path, frames: int) -> None:
    from livethresh.synthetic import write_document_clip

    write_document_clip(path, frames=frames, height=1080, width=1920, fps=30)


def run_floor(source: str, target: str) -> int:
    import av

    count = 0
    with av.open(source) as inp, av.open(target, "w") as out:
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = 0  # automatic
        video = out.add_stream("libx264", rate=stream.average_rate, options=FLOOR_OPTIONS)
        video.width, video.height, video.pix_fmt = stream.width, stream.height, "yuv420p"
        video.codec_context.thread_count = 0
        video.codec_context.thread_type = "AUTO"
        for frame in inp.decode(stream):
            out.mux(video.encode(frame))
            count += 1
        out.mux(video.encode(None))
    return count


def run_livethresh(source: str, target: str, extra: dict[str, str]) -> int:
    from livethresh.config import ThresholdConfig
    from livethresh.encode.plan import EncodeSettings
    from livethresh.transcode import transcode

    settings = EncodeSettings(**extra)
    return transcode(source, target, ThresholdConfig(), settings, overwrite=True).frames


def run_article(source: str, target: str) -> int:
    import cv2

    capture = cv2.VideoCapture(source)
    fps = capture.get(cv2.CAP_PROP_FPS)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(
        target, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height), isColor=False
    )
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        blurred = cv2.GaussianBlur(gray, (7, 7), 0)
        mask = cv2.adaptiveThreshold(
            blurred, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2
        )
        writer.write(mask)
        count += 1
    capture.release()
    writer.release()
    return count


def child(variant: str, source: str, target: str) -> None:
    """Run one variant and print its wall time, frame count and peak RSS as JSON."""
    runners = {
        "floor": lambda: run_floor(source, target),
        "ultrafast": lambda: run_livethresh(
            source, target, {"codec": "libx264", "preset": "ultrafast", "pix_fmt": "yuv420p"}
        ),
        "default": lambda: run_livethresh(source, target, {}),
        "article": lambda: run_article(source, target),
    }
    # Import everything first, so that only the work is timed.
    import av  # noqa: F401
    import cv2  # noqa: F401

    import livethresh.pipeline
    import livethresh.transcode  # noqa: F401

    start = time.perf_counter()
    frames = runners[variant]()
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "variant": variant,
                "wall_s": wall,
                "frames": frames,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mib": peak_rss_mib(),
                "bytes": os.path.getsize(target),
            }
        )
    )


def measure(variant: str, source: Path, folder: Path) -> dict:
    target = folder / f"{variant}.mp4"
    target.unlink(missing_ok=True)
    return run_child([__file__, "--child", variant, str(source), str(target)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--child", nargs=3, metavar=("VARIANT", "INPUT", "OUTPUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="bench_transcode.") as tmp:
        folder = Path(tmp)
        source = folder / "input-1080p30.mp4"
        make_input(source, args.frames)
        results = rotating_rounds(
            {v: (lambda v=v: measure(v, source, folder)) for v in VARIANTS}, args.rounds
        )
        input_mib = source.stat().st_size / 2**20

    summary = {}
    for variant, runs in results.items():
        frames = runs[0]["frames"]
        wall = statistics.median(r["wall_s"] for r in runs)
        summary[variant] = {
            "wall_s": round(wall, 3),
            "fps": round(frames / wall, 1),
            "frames": frames,
            "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "peak_rss_mib": round(statistics.median(r["peak_rss_mib"] for r in runs), 1),
            "kib_per_frame": round(runs[0]["bytes"] / frames / 1024, 1),
        }
    ratios = {
        "ultrafast_vs_floor_wall": round(
            summary["ultrafast"]["wall_s"] / summary["floor"]["wall_s"], 3
        ),
        "article_vs_default_wall": round(
            summary["article"]["wall_s"] / summary["default"]["wall_s"], 3
        ),
        "default_vs_article_size": round(
            summary["default"]["kib_per_frame"] / summary["article"]["kib_per_frame"], 3
        ),
        "default_vs_article_rss": round(
            summary["default"]["peak_rss_mib"] / summary["article"]["peak_rss_mib"], 3
        ),
    }
    report = {
        "input": f"1080p30 H.264, {args.frames} frames, {input_mib:.1f} MiB",
        "rounds": args.rounds,
        "cores": len(os.sched_getaffinity(0)),
        "variants": summary,
        "ratios": ratios,
        "targets": {
            "ultrafast_vs_floor_wall": "<= 1.10",
            "article_vs_default_wall": ">= 1.5",
            "default_vs_article_size": "<= 1.0",
            "default_vs_article_rss": "<= 1.5",
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"input: {report['input']}; {args.rounds} rounds; medians; {machine()}")
    print(f"{'variant':<10} {'wall s':>8} {'fps':>7} {'peak RSS MiB':>13} {'KiB/frame':>10}")
    for variant, row in summary.items():
        print(
            f"{variant:<10} {row['wall_s']:>8.2f} {row['fps']:>7.1f} "
            f"{row['peak_rss_mib']:>13.1f} {row['kib_per_frame']:>10.1f}"
        )
    for name, value in ratios.items():
        print(f"{name}: {value} (target {report['targets'][name]})")


if __name__ == "__main__":
    main()
