"""``livethresh demo``, ``presets`` and ``devices``: what there is to try, and with what."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from livethresh.cli import command, console, say
from livethresh.config import read_preset
from livethresh.presets import iter_presets


@command
def demo(
    outdir: Annotated[Path, typer.Argument(help="Folder for the demo's files.")] = Path(
        "livethresh-demo"
    ),
) -> None:
    """Run the main job on built-in footage: no camera or file needed.

    Renders a page of text under uneven, moving light, writes a PNG comparing global Otsu with
    adaptive thresholding, and transcodes a clip of the page into a binarized video.

    Example: livethresh demo /tmp/demo
    """
    from livethresh.demo import run_demo

    with console.status("Rendering a page under moving light and binarizing it..."):
        out = run_demo(outdir)
    for line in out.report():
        say(line)


@command
def presets() -> None:
    """List the presets with a one-line description, what they write, and their values.

    Example: livethresh presets
    """
    table = Table(show_header=True, header_style="bold")
    for heading in ("preset", "writes", "description", "settings"):
        table.add_column(heading)
    for name, path in iter_presets():
        values, description = read_preset(str(path))
        settings = " ".join(f"{key}={value}" for key, value in values.items())
        table.add_row(name, polarity(values.get("invert") is True), description, settings)
    console.print(table)
    console.print(
        "Use one with --preset NAME, or --preset path/to/file.toml; --invert writes ink as "
        "white (255) on black, --no-invert dark ink on white.",
        highlight=False,
    )


def polarity(invert: bool) -> str:
    """What a mask looks like with or without ``invert``, in the words of ``presets``."""
    return "white ink on black" if invert else "dark ink on white"


@command
def devices() -> None:
    """List the cameras, with the formats and sizes they offer where the platform can tell.

    Example: livethresh devices
    """
    from livethresh.sources.devices import list_cameras

    cameras = list_cameras()
    if not cameras:
        say("No cameras found. Try a test pattern instead: livethresh preview testsrc2")
        return
    for camera in cameras:
        for line in camera.describe():
            say(line)
