"""``livethresh bench`` and ``transcode``: the commands that run the video pipeline to an end.

``preview``, which runs it into a window, is in :mod:`~livethresh.cli.preview`.
"""

import json
from contextlib import nullcontext
from typing import Annotated, Any, Self

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from livethresh.batch import Engine
from livethresh.bench import BENCH_SOURCE, ENDLESS_FRAMES
from livethresh.bench import bench as run_bench
from livethresh.cli import command, err_console, say
from livethresh.cli.options import (
    FramesOpt,
    InputFormatOpt,
    JsonOpt,
    NoAudioOpt,
    OverwriteOpt,
    RateOpt,
    SizeOpt,
    encoder_options,
    threshold_options,
)
from livethresh.config import ThresholdConfig
from livethresh.encode.containers import STDOUT_FORMAT, STREAM_FORMATS
from livethresh.encode.plan import EncodeSettings
from livethresh.errors import ConfigError
from livethresh.frames import StreamInfo
from livethresh.locations import STDOUT
from livethresh.split import transcode_split
from livethresh.transcode import transcode as run_transcode


@command
@threshold_options
def bench(
    source: Annotated[
        str, typer.Argument(help="What to read: file, URL, camera or lavfi pattern.")
    ] = BENCH_SOURCE,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Pace a file or pattern at its native frame rate, as a camera would deliver "
            "it; stale frames are then dropped rather than queued.",
        ),
    ] = False,
    frames: Annotated[
        int | None,
        typer.Option(
            "--frames",
            "-n",
            min=1,
            help="Stop after reading this many frames (default: the whole file, or "
            f"{ENDLESS_FRAMES} from a source that never ends).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOpt = False,
    size: SizeOpt = None,
    rate: RateOpt = None,
    input_format: InputFormatOpt = None,
    *,
    config: ThresholdConfig,
) -> None:
    """Measure decode + binarize throughput and latency, with the masks discarded.

    Example: livethresh bench clip.mp4 --live --json
    """
    result = run_bench(
        source, config, live=live, frames=frames, size=size, rate=rate, input_format=input_format
    )
    if json_output:
        print(json.dumps(result.stats.to_dict()))
        return
    say(result.describe_source())
    say(result.stats.summary())
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result.stats.stage_ms_per_frame().items())
    say(f"busy ms per frame: {stages}")


class TranscodeProgress:
    """A rich progress bar on stderr: frames, fps and ETA of a transcode."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>6.1f} fps"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._task: Any = None

    def start(self, info: StreamInfo) -> None:
        total = info.frame_count
        if total is None and info.duration and info.frame_rate:
            total = round(info.duration * info.frame_rate)
        self.begin(total)

    def begin(self, total: int | None) -> None:
        """Start the bar for ``total`` frames (None: unknown)."""
        if self._task is None:
            self._task = self._bar.add_task("transcoding", total=total, fps=0.0)

    def update(self, frames: int) -> None:
        if self._task is not None:
            elapsed = self._bar.tasks[0].elapsed or 0.0
            self._bar.update(
                self._task, completed=frames, fps=frames / elapsed if elapsed > 0 else 0.0
            )

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


@command
@threshold_options
@encoder_options(
    "Container, overriding the extension; for - : "
    f"{STDOUT_FORMAT} (default), {', '.join(f for f in STREAM_FORMATS if f != STDOUT_FORMAT)}."
)
def transcode(
    input: Annotated[
        str,
        typer.Argument(
            help="Video file, image sequence (frames/%04d.png, 'frames/*.png'), URL, camera "
            "or lavfi pattern to binarize.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Argument(
            help="Output file (.mp4 .mkv .webm .mov .avi .ts), - for stdout, or a udp://, "
            "rtmp:// or srt:// URL.",
            show_default=False,
        ),
    ],
    no_audio: NoAudioOpt = False,
    overwrite: OverwriteOpt = False,
    frames: FramesOpt = None,
    rate: RateOpt = None,
    json_output: JsonOpt = False,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Cut the input at keyframes into N segments (or auto: about one per core) "
            "run in parallel, then join them: the same output as one run. Inputs that cannot "
            "be cut run as one segment.",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="With --split: run the segments here, or on Ray."),
    ] = Engine.LOCAL,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="With --split --engine local: worker processes (default: one per core).",
            show_default=False,
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="With --split: join this running Ray cluster (host:port, or auto). The input "
            "and the output folder must be on shared storage.",
            show_default=False,
        ),
    ] = None,
    *,
    config: ThresholdConfig,
    settings: EncodeSettings,
) -> None:
    """Binarize a video into a new one, keeping its timestamps and audio.

    Example: livethresh transcode talk.mp4 masks.mp4 --method mean -C 5 --split auto
    """
    if json_output and output == STDOUT:
        raise ConfigError(
            "--json prints on stdout, which carries the video when OUTPUT is -; "
            "drop --json or write to a file"
        )
    progress = TranscodeProgress() if err_console.is_terminal and not json_output else None
    if split is not None:
        segments = _segment_count(split)
        with progress or nullcontext():
            outcome = transcode_split(
                input,
                output,
                config,
                settings,
                segments=segments,
                engine="ray" if ray_address else engine.value,
                jobs=jobs,
                ray_address=ray_address,
                audio=not no_audio,
                overwrite=overwrite,
                max_frames=frames,
                on_start=progress.begin if progress else None,
                on_progress=progress.update if progress else None,
                on_note=lambda note: say(note, err=True),
            )
        if json_output:
            print(json.dumps(outcome.to_dict()))
        else:
            say(outcome.summary(), err=True)
        if outcome.exit_code:
            raise typer.Exit(outcome.exit_code)
        return
    if engine is not Engine.LOCAL or jobs is not None or ray_address is not None:
        raise ConfigError("--engine, --jobs and --ray-address go with --split")
    with progress or nullcontext():
        result = run_transcode(
            input,
            output,
            config,
            settings,
            audio=not no_audio,
            overwrite=overwrite,
            max_frames=frames,
            rate=rate,
            on_start=progress.start if progress else None,
            on_progress=progress.update if progress else None,
        )
    if json_output:
        print(json.dumps(result.to_dict()))
    else:
        say(result.summary(), err=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _segment_count(text: str) -> int | None:
    """``--split``'s value: a positive count, or None for ``auto``."""
    if text.strip().lower() == "auto":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"--split takes a positive number of segments or auto, not {text!r}")
    return count
