"""``livethresh preview``: the video pipeline into a window, tuned live by keys."""

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from livethresh.cli import command, say
from livethresh.cli.options import (
    FramesOpt,
    InputFormatOpt,
    OverwriteOpt,
    RateOpt,
    SaveDirOpt,
    SizeOpt,
    threshold_options,
)
from livethresh.config import ThresholdConfig
from livethresh.preview import describe, keys_help, run_preview


@command
@threshold_options
def preview(
    source: Annotated[
        str,
        typer.Argument(
            help="Camera index or device, video file, URL, or lavfi pattern (e.g. testsrc2)."
        ),
    ] = "0",
    frames: FramesOpt = None,
    side_by_side: Annotated[
        bool, typer.Option("--side-by-side", help="Show the input beside the mask (key v toggles).")
    ] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live/--fast",
            help="Play files and patterns at their native frame rate (--fast: as fast as they "
            "binarize).",
        ),
    ] = True,
    size: SizeOpt = None,
    rate: RateOpt = None,
    input_format: InputFormatOpt = None,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Also write the masks to this video file, as transcode does; it follows the "
            "live tuning.",
            show_default=False,
        ),
    ] = None,
    save_dir: SaveDirOpt = Path("."),
    overwrite: OverwriteOpt = False,
    loop: Annotated[
        bool,
        typer.Option(
            "--loop",
            help="Play a file again each time it ends (without it, the last frame stays until q).",
        ),
    ] = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Show the masks of a camera, file, stream or test pattern in a window, and tune them live.

    When a file ends, its last frame stays in the window (keys still tune it) until q.

    Keys: {keys}.

    Example: livethresh preview testsrc2 --side-by-side --method mean -C 5 --record take1.mp4
    """
    result = run_preview(
        source,
        config,
        frames=frames,
        side_by_side=side_by_side,
        live=live,
        size=size,
        rate=rate,
        input_format=input_format,
        record=record,
        save_dir=save_dir,
        overwrite=overwrite,
        loop=loop,
        notify=lambda message: say(message, err=True),
    )
    if result.recording is not None:
        say(result.recording.summary(), err=True)
    say(result.stats.summary() + (f" (last of {result.plays} plays)" if result.plays > 1 else ""))
    if result.config != config:
        say(f"last settings: {describe(result.config)} (key p saves them as a preset)", err=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


# The keys come from the one table the window binds (rich markup escaped: ``[`` is a key).
preview.__doc__ = (preview.__doc__ or "").replace("{keys}", escape(keys_help()))
