"""``livethresh serve``: the masks and their live tuning in a browser, for machines without a
display."""

from typing import Annotated

import typer

from livethresh.cli import command, say
from livethresh.cli.options import InputFormatOpt, RateOpt, SizeOpt, threshold_options
from livethresh.config import ThresholdConfig
from livethresh.serve import DEFAULT_HOST, DEFAULT_PORT, run_serve


@command
@threshold_options
def serve(
    source: Annotated[
        str,
        typer.Argument(
            help="Camera index or device, video file, URL, or lavfi pattern (e.g. testsrc2)."
        ),
    ] = "0",
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Beyond loopback (e.g. 0.0.0.0) a token is required: "
            "--token, or one is generated and printed in the URL.",
        ),
    ] = DEFAULT_HOST,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on; 0 picks a free one.")
    ] = DEFAULT_PORT,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Require this token from every request (Authorization: Bearer TOKEN, or "
            "?token=TOKEN in the URL).",
            show_default=False,
        ),
    ] = None,
    size: SizeOpt = None,
    rate: RateOpt = None,
    input_format: InputFormatOpt = None,
    loop: Annotated[
        bool,
        typer.Option("--loop", help="Play a file again from its start each time it ends."),
    ] = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Serve the live masks to a browser, with controls to tune them: for headless machines.

    Open the printed URL; Ctrl-C stops. See docs/serve.md for the HTTP interface.

    Example: livethresh serve testsrc2 --method sauvola --port 8000
    """
    result = run_serve(
        source,
        config,
        host=host,
        port=port,
        token=token,
        size=size,
        rate=rate,
        input_format=input_format,
        loop=loop,
        announce=lambda url: say(f"livethresh serve: open {url} (Ctrl-C stops)"),
    )
    say(result.stats.summary())
    if result.exit_code:
        raise typer.Exit(result.exit_code)
