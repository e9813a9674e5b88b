"""Options shared by several commands, built from the library's own tables.

The threshold options come from the fields of :class:`~livethresh.config.ThresholdConfig`:
each field declares its flags and help beside its default (``config.setting``), and
:func:`threshold_options` turns every field into a typer option. A new setting therefore appears
in every command that binarizes, with nothing to add here.
"""

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from livethresh.binarize import method_defaults, method_descriptions
from livethresh.config import ThresholdConfig, resolve

THRESHOLD_PANEL = "Threshold options"
SOURCE_PANEL = "Source options"

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        "-y",
        help="Replace OUTPUT if it exists (only once the new file is complete).",
    ),
]
SizeOpt = Annotated[
    str | None,
    typer.Option(
        "--size",
        help="WIDTHxHEIGHT to ask a camera or pattern for, e.g. 1280x720.",
        show_default=False,
        rich_help_panel=SOURCE_PANEL,
    ),
]
RateOpt = Annotated[
    float | None,
    typer.Option(
        "--rate",
        min=0.001,
        help="Frames per second to ask a camera or pattern for.",
        show_default=False,
        rich_help_panel=SOURCE_PANEL,
    ),
]
InputFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--input-format",
        help="Camera pixel format or codec, e.g. mjpeg or yuyv422.",
        show_default=False,
        rich_help_panel=SOURCE_PANEL,
    ),
]
FramesOpt = Annotated[
    int | None,
    typer.Option(
        "--frames", "-n", min=1, help="Stop after reading this many frames.", show_default=False
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object with the result on stdout, nothing else."),
]
SaveDirOpt = Annotated[
    Path,
    typer.Option("--save-dir", help="Folder for snapshots (key s) and saved presets (key p)."),
]


def _help(field: dataclasses.Field[Any]) -> str:
    """A setting's help line, completed with what only the registry knows."""
    text: str = field.metadata["help"]
    if field.name == "method":
        lines = [f"[bold]{name}[/bold]: {line}" for name, line in method_descriptions().items()]
        return text + "\n\n" + "\n\n".join(lines)
    defaults = method_defaults(field.name)
    if defaults:
        text += " (" + ", ".join(f"{name} {value:g}" for name, value in defaults.items()) + ")."
    elif field.default is not None and not isinstance(field.default, bool):
        text += f" Default {field.default}."
    return text


def _threshold_annotations() -> dict[str, Any]:
    """One typer option per config field (all default None: "not given"), plus ``--preset``."""
    options: dict[str, Any] = {
        "preset": Annotated[
            str | None,
            typer.Option(
                "--preset",
                help="Preset name (see `livethresh presets`) or path to a .toml file.",
                rich_help_panel=THRESHOLD_PANEL,
                show_default=False,
            ),
        ]
    }
    types = typing.get_type_hints(ThresholdConfig)
    for field in dataclasses.fields(ThresholdConfig):
        options[field.name] = Annotated[
            types[field.name] | None,
            typer.Option(
                *field.metadata["flags"],
                help=_help(field),
                rich_help_panel=THRESHOLD_PANEL,
                show_default=False,
            ),
        ]
    return options


def threshold_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command every threshold option; it receives them resolved, as ``config``.

    The options are appended to the command's signature, so typer shows and parses them like
    any other; the wrapper layers defaults < ``--preset`` < explicit options with
    :func:`livethresh.config.resolve` before calling the command.
    """
    annotations = _threshold_annotations()
    signature = inspect.signature(fn)
    own = [p for name, p in signature.parameters.items() if name != "config"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
        for name, ann in annotations.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, None) for name in annotations}
        preset = given.pop("preset")
        return fn(*args, config=resolve(preset=preset, overrides=given), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{k: v for k, v in fn.__annotations__.items() if k != "config"},
        **annotations,
    }
    return wrapper
