"""``livethresh batch``: binarize an archive of videos on every core or on a Ray cluster."""

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, Self

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from livethresh.batch import BatchReport, Engine, FileResult, PlannedFile, run_batch
from livethresh.batch.plan import DEFAULT_FORMAT, EXTENSION_BY_FORMAT
from livethresh.batch.ray_engine import IN_FLIGHT_PER_CPU, MIN_IN_FLIGHT
from livethresh.cli import command, err_console, fail, in_cli_words, say
from livethresh.cli.options import (
    JsonOpt,
    NoAudioOpt,
    OverwriteOpt,
    encoder_options,
    threshold_options,
)
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings


class BatchProgress:
    """One rich bar on stderr for the whole batch: files done of total, frames/s, ETA."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self._bar = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files, {task.fields[fps]:>6.1f} fps"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._task: Any = None
        self._done_frames = 0
        self._running: dict[str, int] = {}

    def plan(self, planned: list[PlannedFile]) -> None:
        self._task = self._bar.add_task("batch", total=len(planned), fps=0.0)

    def frames(self, name: str, count: int) -> None:
        self._running[name] = count
        self._refresh()

    def file(self, result: FileResult) -> None:
        self._running.pop(result.input, None)
        self._done_frames += result.frames
        if self._task is not None:
            self._bar.advance(self._task)
        self._refresh()
        if self.verbose:
            self._bar.console.print(describe(result), markup=False, highlight=False, soft_wrap=True)

    def _refresh(self) -> None:
        if self._task is None:
            return
        elapsed = self._bar.tasks[0].elapsed or 0.0
        frames = self._done_frames + sum(self._running.values())
        self._bar.update(self._task, fps=frames / elapsed if elapsed > 0 else 0.0)

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


def describe(result: FileResult) -> str:
    """One line about a finished file (``--verbose``)."""
    if result.status == "done":
        where = f" on {result.node}" if result.node else ""
        return (
            f"done {result.input} -> {result.output}: {result.frames} frames in "
            f"{result.wall_s:.2f} s{where}"
        )
    if result.status == "skipped":
        return f"skipped {result.input}: {result.output} exists (-y redoes it)"
    return f"{result.status} {result.input}: {in_cli_words(result.error or '')}"


@command
@threshold_options
@encoder_options(
    f"Container of the outputs: {DEFAULT_FORMAT} (default), "
    + ", ".join(sorted({e.lstrip(".") for e in EXTENSION_BY_FORMAT.values()} - {DEFAULT_FORMAT}))
    + "."
)
def batch(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Video files, folders (searched recursively for video files) and glob "
            "patterns (quote them: 'talks/**/*.mkv').",
            show_default=False,
        ),
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            "-o",
            help="Folder for the outputs; folder inputs have their tree mirrored in it.",
            show_default=False,
        ),
    ],
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Local engine: files at once (default: one per core). Ray: tasks in flight "
            f"(default: {IN_FLIGHT_PER_CPU} per CPU of the cluster, {MIN_IN_FLIGHT} at least).",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="Run on this machine's cores, or on Ray.")
    ] = Engine.LOCAL,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Join this running Ray cluster (host:port, or auto); without it --engine ray "
            "starts Ray on this machine. Inputs and outputs must be on shared storage.",
            show_default=False,
        ),
    ] = None,
    no_audio: NoAudioOpt = False,
    overwrite: OverwriteOpt = False,
    json_output: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print one line per finished file.")
    ] = False,
    *,
    config: ThresholdConfig,
    settings: EncodeSettings,
) -> None:
    """Binarize many videos, each as `transcode` would; a rerun skips the finished ones.

    Exit code 0 when every file is done or skipped, 2 if any failed, 130 on Ctrl-C (the files
    in progress are abandoned, never left half-written: rerun to finish them).

    Example: livethresh batch lectures/ 'extra/*.mov' -o masks/ --method sauvola --json
    """
    if ray_address:
        engine = Engine.RAY
    progress = BatchProgress(verbose) if err_console.is_terminal and not json_output else None
    plain = None if progress or json_output or not verbose else _print_result
    with progress or nullcontext():
        report = run_batch(
            inputs,
            str(output_dir),
            config,
            settings,
            audio=not no_audio,
            overwrite=overwrite,
            engine=engine,
            jobs=jobs,
            ray_address=ray_address,
            on_plan=progress.plan if progress else None,
            on_file=progress.file if progress else plain,
            on_frames=progress.frames if progress else None,
        )
    _finish(report, json_output)


def _print_result(result: FileResult) -> None:
    say(describe(result), err=True)


def _finish(report: BatchReport, json_output: bool) -> None:
    for item in report.failures:
        fail(f"{item.input}: {item.error}")
    if json_output:
        data = report.to_dict()
        for item in data["inputs"]:  # in the words of stderr's lines
            if item["error"]:
                item["error"] = in_cli_words(item["error"])
        print(json.dumps(data))
    else:
        say(report.summary(), err=True)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
