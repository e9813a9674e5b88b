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
from livethresh.encode.codecs import ENCODER_KNOBS
from livethresh.encode.containers import CODEC_BY_FORMAT, DEFAULT_CODEC
from livethresh.encode.plan import DEFAULT_PIX_FMT, PIX_FMT_BY_CODEC, EncodeSettings

THRESHOLD_PANEL = "Threshold options"
ENCODER_PANEL = "Encoder options"
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
        help="Frames per second to ask a camera or pattern for, or of an image sequence "
        "such as frames/%04d.png (default 25, as FFmpeg's).",
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
NoAudioOpt = Annotated[
    bool,
    typer.Option("--no-audio", help="Drop the audio (by default every audio stream is copied)."),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object with the result on stdout, nothing else."),
]
SaveDirOpt = Annotated[
    Path,
    typer.Option(
        "--save-dir",
        help="Folder for snapshots (key s) and saved presets (key p); created if missing.",
    ),
]


def _help(field: dataclasses.Field[Any]) -> str:
    """A setting's help line, completed with what only the method table knows."""
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
        # A union with text (despeckle: an area or "auto") is read as text; the config parses it.
        kind = str if str in typing.get_args(types[field.name]) else types[field.name]
        options[field.name] = Annotated[
            kind | None,
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

    def build(given: dict[str, Any]) -> ThresholdConfig:
        preset = given.pop("preset")
        return resolve(preset=preset, overrides=given)

    return _with_options(fn, "config", _threshold_annotations(), build)


def _with_options(
    fn: Callable[..., Any],
    receives: str,
    annotations: dict[str, Any],
    build: Callable[[dict[str, Any]], Any],
) -> Callable[..., Any]:
    """Append ``annotations`` to ``fn``'s options; ``fn`` gets ``build(values)`` as ``receives``."""
    signature = inspect.signature(fn)
    own = [p for name, p in signature.parameters.items() if name != receives]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
        for name, ann in annotations.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, None) for name in annotations}
        return fn(*args, **{receives: build(given)}, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{k: v for k, v in fn.__annotations__.items() if k != receives},
        **annotations,
    }
    return wrapper


def _codec_help() -> str:
    by_format = ", ".join(f"{codec} for {fmt}" for fmt, codec in CODEC_BY_FORMAT.items())
    return (
        f"Video encoder: {DEFAULT_CODEC} (default; {by_format}), ffv1 for exact (lossless) "
        "masks in .mkv, libvpx-vp9, mjpeg..."
    )


def _crf_help() -> str:
    ranges = ", ".join(
        f"{codec} {knobs.crf[0]}-{knobs.crf[1]} (default {knobs.default_crf})"
        for codec, knobs in ENCODER_KNOBS.items()
    )
    return f"Constant quality, lower is better and larger: {ranges}."


def _encoder_preset_help() -> str:
    groups: dict[tuple[tuple[str, ...], str | None], list[str]] = {}
    for codec, knobs in ENCODER_KNOBS.items():
        if knobs.presets:
            groups.setdefault((knobs.presets, knobs.default_preset), []).append(codec)
    ranges = ", ".join(
        f"{'/'.join(codecs)} {presets[0]} ... {presets[-1]} (default {default or presets[0]})"
        for (presets, default), codecs in groups.items()
    )
    return f"Encoder speed preset: {ranges}; the other encoders have none."


def _pix_fmt_help() -> str:
    by_format: dict[str, list[str]] = {}
    for codec, pix_fmt in PIX_FMT_BY_CODEC.items():
        by_format.setdefault(pix_fmt, []).append(codec)
    others = "; ".join(f"{fmt} for {', '.join(codecs)}" for fmt, codecs in by_format.items())
    return (
        f"Encoded pixel format (default {DEFAULT_PIX_FMT}; {others}). Odd sizes are padded by "
        f"one pixel with {DEFAULT_PIX_FMT}; gray keeps them."
    )


def _encoder_annotations(format_help: str) -> dict[str, Any]:
    """The options that fill :class:`~livethresh.encode.plan.EncodeSettings`, by its field.

    The defaults their help states are read from the tables that define them.
    """

    def option(kind: Any, *flags: str, help: str) -> Any:
        return Annotated[
            kind,
            typer.Option(*flags, help=help, rich_help_panel=ENCODER_PANEL, show_default=False),
        ]

    return {
        "codec": option(str | None, "--codec", help=_codec_help()),
        "crf": option(int | None, "--crf", help=_crf_help()),
        "encoder_preset": option(str | None, "--encoder-preset", help=_encoder_preset_help()),
        "pix_fmt": option(str | None, "--pix-fmt", help=_pix_fmt_help()),
        "format": option(str | None, "--format", "-f", help=format_help),
        "side_by_side": option(
            bool, "--side-by-side", help="Write the input and the mask next to each other."
        ),
        "keep_timestamps": option(
            bool,
            "--keep-timestamps",
            help="Keep the input's timestamps (ffmpeg -copyts), so each mask has the time of "
            "its input frame; by default the output starts at 0, as ffmpeg's does.",
        ),
    }


def encoder_options(format_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the encoder options of ``transcode``; it receives them as ``settings``.

    Args:
        format_help: The help of ``--format``, which means the container of OUTPUT for
            ``transcode`` and of every output for ``batch``.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _with_options(fn, "settings", _encoder_annotations(format_help), _encode_settings)

    return decorate


def _encode_settings(given: dict[str, Any]) -> EncodeSettings:
    # The parameter is encoder_preset: --preset names a threshold preset.
    given["preset"] = given.pop("encoder_preset")
    return EncodeSettings(**{k: v for k, v in given.items() if v is not None})
