"""Bounded fuzzing of livethresh's input paths with mutated small images and videos.

Each case is a seed file (generated here at start-up: PNG, JPEG, BMP, TIFF; MP4, MKV, AVI,
MPEG-TS) whose bytes are mutated, written to a temporary file, and fed through the same entry
points the commands use: ``images.read_gray`` + ``binarize`` for stills; for videos, in turn,
``open_source`` + the pipeline into a null sink (``bench``) and ``transcode.transcode`` into an
MKV file (``transcode``: encoder, audio copy, atomic output; one seed has an audio track).
A case passes when it succeeds or raises a ``LivethreshError`` (a clear message for the user);
any other exception is a crash, and a case that runs longer than ``--case-timeout`` is a hang.
Both make the run fail.

The mutator is a seeded byte-level one (bit flips, byte overwrites with interesting values,
chunk deletion, duplication and insertion, truncation), so every run is reproducible: a
failure prints the seed and case number to replay it. Run::

    python benchmarks/fuzz.py --iterations 2000 --seed 1      # on demand, longer
    python benchmarks/fuzz.py --iterations 150 --json          # what CI runs
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from livethresh.binarize.binarizer import binarize
from livethresh.config import ThresholdConfig
from livethresh.errors import LivethreshError
from livethresh.images import read_gray
from livethresh.synthetic import document_photo

INTERESTING = [0x00, 0x01, 0x7F, 0x80, 0xFF]


def make_seeds(folder: Path) -> list[Path]:
    """Write small valid inputs of each kind the fuzzer mutates."""
    gray, _ = document_photo(48, 64, seed=1)
    seeds = []
    for ext in (".png", ".jpg", ".bmp", ".tif"):
        path = folder / f"seed{ext}"
        cv2.imwrite(str(path), gray)
        seeds.append(path)
    for ext, codec in (
        (".mp4", "libx264"),
        (".mkv", "libx264"),
        (".avi", "mpeg4"),
        (".ts", "mpeg2video"),
    ):
        path = folder / f"seed{ext}"
        with av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            for i in range(6):
                frame = np.roll(gray, i * 3, axis=1)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, "gray")))
            container.mux(stream.encode(None))
        seeds.append(path)
    seeds.append(_with_audio(folder / "seed-audio.mkv", gray))
    return seeds


def _with_audio(path: Path, gray: np.ndarray) -> Path:
    """A small MKV with H.264 video and an AAC track, interleaved."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=8000)
        audio.layout = "mono"
        for i in range(6):
            frame = np.roll(gray, i * 3, axis=1)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, "gray")))
            tone = (np.sin(np.arange(800) / 9) * 0.2).astype(np.float32)[None]
            chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 8000, i * 800
            container.mux(audio.encode(chunk))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Apply 1 to 4 random byte-level mutations."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf.extend(rng.randbytes(rng.randint(1, 16)))
            continue
        pos = rng.randrange(len(buf))
        kind = rng.randrange(6)
        if kind == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[pos] = rng.choice(INTERESTING)
        elif kind == 2:
            del buf[pos : pos + rng.randint(1, 64)]
        elif kind == 3:
            chunk = buf[pos : pos + rng.randint(1, 64)]
            buf[pos:pos] = chunk
        elif kind == 4:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 32))
        else:
            del buf[rng.randrange(len(buf)) :]
    return bytes(buf)


def image_target(path: Path) -> None:
    gray = read_gray(path)
    binarize(gray, ThresholdConfig())


def video_target(path: Path) -> None:
    from livethresh.pipeline import Pipeline
    from livethresh.sinks import NullSink
    from livethresh.sources import open_source

    with open_source(str(path)) as source:
        Pipeline(source, NullSink(), ThresholdConfig(), max_frames=30).run()


def transcode_target(path: Path) -> None:
    from livethresh.transcode import transcode

    out = path.with_name("case-out.mkv")
    try:
        transcode(
            str(path),
            str(out),
            ThresholdConfig(),
            max_frames=30,
            overwrite=True,
            handle_signals=False,
        )
    finally:
        out.unlink(missing_ok=True)


def target_for(path: Path, case: int = 0) -> Callable[[Path], None]:
    if path.suffix in (".png", ".jpg", ".bmp", ".tif"):
        return image_target
    return transcode_target if (case // 9) % 2 else video_target


@dataclass
class Report:
    cases: int = 0
    ok: int = 0
    refused: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)


def run_case(target: Callable[[Path], None], path: Path, timeout: float) -> tuple[str, str]:
    """Run one case in a watchdog thread: ``("ok" | "refused" | "crash" | "hang", detail)``."""
    result: list[tuple[str, str]] = []

    def work() -> None:
        try:
            target(path)
            result.append(("ok", ""))
        except LivethreshError as exc:
            result.append(("refused", str(exc)))
        except Exception:
            result.append(("crash", traceback.format_exc(limit=6)))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else ("hang", f"no answer after {timeout:g} s")


def fuzz(iterations: int, seed: int, case_timeout: float, budget_s: float) -> Report:
    rng = random.Random(seed)
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="livethresh-fuzz-") as tmp:
        folder = Path(tmp)
        seeds = [(p, p.read_bytes()) for p in make_seeds(folder)]
        for case in range(iterations):
            if time.monotonic() - started > budget_s:
                break
            source, data = seeds[case % len(seeds)]
            path = folder / f"case{source.suffix}"
            path.write_bytes(mutate(data, rng))
            target = target_for(source, case)
            outcome, detail = run_case(target, path, case_timeout)
            report.cases += 1
            label = f"seed={seed} case={case} kind={source.name} via {target.__name__}"
            if outcome == "ok":
                report.ok += 1
            elif outcome == "refused":
                report.refused += 1
            elif outcome == "crash":
                report.crashes.append(f"{label}\n{detail}")
            else:
                report.hangs.append(f"{label}: {detail}")
                break  # the stuck thread cannot be stopped: end the run here
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-timeout", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds for the run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    report = fuzz(args.iterations, args.seed, args.case_timeout, args.budget)
    if args.json:
        print(json.dumps(report.__dict__))
    else:
        print(
            f"{report.cases} cases: {report.ok} ok, {report.refused} refused with a clear "
            f"error, {len(report.crashes)} crashes, {len(report.hangs)} hangs"
        )
        for failure in report.crashes + report.hangs:
            print(failure, file=sys.stderr)
    sys.stdout.flush()
    # A hung case leaves a thread stuck in native code: exit without waiting for it.
    import os

    os._exit(1 if report.crashes or report.hangs else 0)


if __name__ == "__main__":
    main()
