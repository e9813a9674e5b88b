"""The ``livethresh`` command line: the app, its global options and the error edge.

Commands live in one module per group (:mod:`~livethresh.cli.image`, :mod:`~livethresh.cli.preview`,
:mod:`~livethresh.cli.video`, :mod:`~livethresh.cli.info`); each parses its arguments, calls one
library function and prints the result. Here every :class:`LivethreshError` becomes one line on
stderr and exit code 2, Ctrl-C exits with 130, usage errors are one line too, and no traceback
is shown unless ``--debug`` is given.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from livethresh import __version__
from livethresh.errors import LivethreshError
from livethresh.runs import EXIT_BAD_INPUT, EXIT_INTERRUPTED

app = typer.Typer(
    name="livethresh",
    help="Real-time adaptive binarization of camera and video frames.",
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

#: click's usage error, as typer ships it (vendored or not): the base of its BadParameter.
UsageError: type[Exception] = typer.BadParameter.__bases__[0]


def say(message: str, *, err: bool = False) -> None:
    """Print one plain line (no markup, no wrapping) on stdout, or stderr with ``err``."""
    (err_console if err else console).print(message, markup=False, highlight=False, soft_wrap=True)


#: How the library's words for an argument are spelled on the command line. Library messages
#: name the Python argument (``overwrite=True``), because that is what a library user changes;
#: at the terminal the user changes a flag.
FLAG_FOR_ARGUMENT = {"overwrite=True": "-y/--overwrite", "max_frames=N": "--frames N"}


def in_cli_words(message: str) -> str:
    """``message`` with the library's argument names replaced by the command-line flags."""
    for argument, flag in FLAG_FOR_ARGUMENT.items():
        message = message.replace(argument, flag)
    return message


def fail(message: str) -> None:
    """Print one error line on stderr, in the command line's words."""
    say(f"livethresh: error: {in_cli_words(message)}", err=True)


def debugging() -> bool:
    """Whether ``--debug`` was given: it turns livethresh's logging to DEBUG."""
    return logging.getLogger("livethresh").isEnabledFor(logging.DEBUG)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a command whose errors end as one clear line and a documented exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LivethreshError as exc:
            if debugging():
                raise
            fail(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            fail("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if debugging():
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
            raise typer.Exit(1) from None

    return app.command()(run)


class _LogFormat(logging.Formatter):
    """Log records as the CLI's other lines: ``livethresh: warning: ...`` (plus the logger's
    name with ``--debug``)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        where = f" [{record.name}]" if self.debug else ""
        message = in_cli_words(record.getMessage())
        return f"livethresh: {record.levelname.lower()}{where}: {message}"


def _version(value: bool) -> None:
    if value:
        say(f"livethresh {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log details and show tracebacks on errors.")
    ] = False,
) -> None:
    """Real-time adaptive binarization of camera and video frames."""
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat(debug))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, handlers=[handler], force=True
    )
    if ctx.invoked_subcommand is None:
        # Bare `livethresh`: the help, and the usage-error exit code, as for any missing part.
        console.print(ctx.get_help())
        raise typer.Exit(EXIT_BAD_INPUT)


def main() -> None:
    """Console-script entry point: usage errors, too, become one line and exit code 2."""
    try:
        result = app(prog_name="livethresh", standalone_mode=False)
    except UsageError as exc:
        if debugging():
            raise
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "livethresh"
        fail(f"{exc.format_message()} (see `{where} --help`)")  # type: ignore[attr-defined]
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        fail("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(result if isinstance(result, int) else 0)


# The command modules register themselves on `app` when imported.
from livethresh.cli import batch, image, info, preview, serve, video  # noqa: E402

__all__ = ["app", "batch", "image", "info", "main", "preview", "serve", "video"]
