"""``livethresh image``: one still image in, one mask out."""

from typing import Annotated

import typer

from livethresh.cli import command, say
from livethresh.cli.options import OverwriteOpt, threshold_options
from livethresh.config import ThresholdConfig
from livethresh.images import binarize_image


@command
@threshold_options
def image(
    # Text, not Path: a Path would fold "http://" into "http:/" before the library sees it.
    input: Annotated[
        str, typer.Argument(help="Image to binarize: anything OpenCV reads.", show_default=False)
    ],
    output: Annotated[
        str,
        typer.Argument(help="Mask to write; its extension picks the format.", show_default=False),
    ],
    overwrite: OverwriteOpt = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Binarize a still image.

    Example: livethresh image page.jpg mask.png --method gaussian --block-size 11 -C 2 --blur 7
    """
    binarize_image(input, output, config, overwrite=overwrite)
    say(f"wrote {output}")
