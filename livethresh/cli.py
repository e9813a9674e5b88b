"""The ``livethresh`` command line: thin typer commands that build a config and call the library.

Every command shares the threshold options (added by :func:`threshold_options`) and the error
handling of :func:`command`: a :class:`LivethreshError` becomes one line on stderr and exit
code 2, Ctrl-C exits with 130, and no traceback is shown unless ``--debug`` is given.
"""

import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import cv2
import typer
from rich.console import Console

from livethresh import __version__
from livethresh.config import ThresholdConfig, resolve
from livethresh.errors import LivethreshError, OutputError
from livethresh.images import read_gray, write_image
from livethresh.threshold import Binarizer, method_defaults, method_descriptions

app = typer.Typer(
    name="livethresh",
    help="Real-time adaptive binarization of camera and video frames.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
THRESHOLD_PANEL = "Threshold options"


def fail(message: str) -> None:
    """Print one error line on stderr, unwrapped and without markup."""
    err_console.print(f"livethresh: error: {message}", markup=False, highlight=False,
                      soft_wrap=True)


def command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a command whose errors end as one clear line and a documented exit code."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LivethreshError as exc:
            if _state["debug"]:
                raise
            fail(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            fail("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _state["debug"]:
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
            raise typer.Exit(1) from None

    return app.command()(run)


# The threshold options every command takes: name -> (annotation, setting it feeds).
_methods_help = "; ".join(f"{k}: {v}" for k, v in method_descriptions().items())
_DEFAULTS = ThresholdConfig()


def _defaults_help(setting: str) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in method_defaults(setting).items())


THRESHOLD_OPTIONS: dict[str, tuple[Any, str | None]] = {
    "preset": (
        Annotated[str | None, typer.Option(
            "--preset", help="Preset name (see `livethresh presets`) or path to a .toml file.",
            rich_help_panel=THRESHOLD_PANEL)],
        None,
    ),
    "method": (
        Annotated[str | None, typer.Option(
            "--method", "-m", help=f"Thresholding method. {_methods_help}.",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "method",
    ),
    "block_size": (
        Annotated[int | None, typer.Option(
            "--block-size", "--window", "-b",
            help="Odd neighbourhood (window) size of the local methods, >= 3.",
            rich_help_panel=THRESHOLD_PANEL)],
        "block_size",
    ),
    "offset": (
        Annotated[float | None, typer.Option(
            "--offset", "-C", help="C: constant subtracted from the local mean (may be < 0).",
            rich_help_panel=THRESHOLD_PANEL)],
        "c",
    ),
    "blur": (
        Annotated[int | None, typer.Option(
            "--blur", help="Odd Gaussian pre-blur kernel size; 0 = no blur.",
            rich_help_panel=THRESHOLD_PANEL)],
        "blur",
    ),
    "invert": (
        Annotated[bool | None, typer.Option(
            "--invert/--no-invert", help="Mark dark pixels (ink) as 255 instead of bright ones.",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "invert",
    ),
    "threshold": (
        Annotated[float | None, typer.Option(
            "--threshold", "-t", help="Global threshold of the fixed method, 0-255.",
            rich_help_panel=THRESHOLD_PANEL)],
        "threshold",
    ),
    "k": (
        Annotated[float | None, typer.Option(
            "--k", "-k", help="k of the document methods, -1 to 1; unset, each method's "
            f"own ({_defaults_help('k')}).",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "k",
    ),
    "r": (
        Annotated[float | None, typer.Option(
            "--r", help="R: range of the local deviation in gray levels, > 0; unset, each "
            f"method's own ({_defaults_help('r')}; wolf: the frame's largest deviation).",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "r",
    ),
    "p": (
        Annotated[float | None, typer.Option(
            "--p", help=f"Phansalkar's p, >= 0 (default {_DEFAULTS.p:g}).",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "p",
    ),
    "q": (
        Annotated[float | None, typer.Option(
            "--q", help=f"Phansalkar's q, >= 0 (default {_DEFAULTS.q:g}).",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "q",
    ),
    "t_percent": (
        Annotated[float | None, typer.Option(
            "--t-percent", help="Bradley-Roth's t: percent below the local mean, 0 to < 100 "
            f"(default {_DEFAULTS.t:g}).",
            rich_help_panel=THRESHOLD_PANEL, show_default=False)],
        "t",
    ),
}


def threshold_options(fn: Callable[..., Any] | None = None, *,
                      speed_presets: frozenset[str] = frozenset()) -> Callable[..., Any]:
    """Give a command the shared threshold options; it receives them as ``config``.

    The options are appended to the command's signature, so typer shows and parses them like
    any other; the wrapper layers defaults < ``--preset`` < explicit options with
    :func:`livethresh.config.resolve` before calling the command.

    Args:
        fn: The command (when used as a plain ``@threshold_options``).
        speed_presets: Encoder speed presets (``ultrafast`` ... ``veryslow``) that ``--preset``
            also accepts, as in FFmpeg; such a value is passed to the command as its
            ``encoder_preset`` (unless that is given too) instead of naming a threshold preset.
            Their names never clash with the threshold presets'.
    """
    if fn is None:
        return functools.partial(threshold_options, speed_presets=speed_presets)
    annotations = {name: ann for name, (ann, _) in THRESHOLD_OPTIONS.items()}
    if speed_presets:
        annotations["preset"] = Annotated[str | None, typer.Option(
            "--preset", help="Threshold preset name (see `livethresh presets`) or path to a "
            ".toml file; or an encoder speed preset (ultrafast ... veryslow), like "
            "--encoder-preset.", rich_help_panel=THRESHOLD_PANEL)]
    signature = inspect.signature(fn)
    own = [p for name, p in signature.parameters.items() if name != "config"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
        for name, ann in annotations.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, None) for name in THRESHOLD_OPTIONS}
        if given["preset"] in speed_presets:
            kwargs["encoder_preset"] = kwargs.get("encoder_preset") or given["preset"]
            given["preset"] = None
        overrides = {
            setting: given[name] for name, (_, setting) in THRESHOLD_OPTIONS.items() if setting
        }
        config = resolve(preset=given["preset"], overrides=overrides)
        return fn(*args, config=config, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {
        **{k: v for k, v in fn.__annotations__.items() if k != "config"},
        **annotations,
    }
    return wrapper


#: x264/x265 speed presets, which ``transcode --preset`` accepts as FFmpeg users expect.
ENCODER_SPEED_PRESETS = frozenset({
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
    "veryslow", "placebo",
})


class _LogFormat(logging.Formatter):
    """Log records as the CLI's other lines: ``livethresh: warning: ...`` (plus the logger's
    name with ``--debug``)."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        where = f" [{record.name}]" if self.debug else ""
        return f"livethresh: {record.levelname.lower()}{where}: {record.getMessage()}"


def _version(value: bool) -> None:
    if value:
        console.print(f"livethresh {__version__}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Log details and show tracebacks on errors.")] = False,
) -> None:
    """Real-time adaptive binarization of camera and video frames."""
    _state["debug"] = debug
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat(debug))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler],
                        force=True)
    # Parallelism is chosen by livethresh (bands, pipeline stages), not by OpenCV's own pool,
    # which on 2 cores fights the decoder and the other stages for the same cores.
    cv2.setNumThreads(1)


def cpu_threads() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", "-y", help="Replace OUTPUT if it exists (only once the new file is complete).")]


@command
@threshold_options
def image(
    input: Annotated[Path, typer.Argument(help="Image to binarize: anything OpenCV reads.",
                                          show_default=False)],
    output: Annotated[Path, typer.Argument(help="Mask to write; its extension picks the format.",
                                           show_default=False)],
    overwrite: OverwriteOpt = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Binarize a still image.

    Example: livethresh image page.jpg mask.png --method gaussian --block-size 11 -C 2 --blur 7
    """
    gray = read_gray(input)
    with Binarizer(config, gray.shape, threads=cpu_threads()) as binarize:
        mask = binarize(gray)
        write_image(output, mask, overwrite=overwrite, inputs=[input])
    console.print(f"wrote {output}", markup=False, highlight=False)


@command
def demo(
    outdir: Annotated[Path, typer.Argument(help="Folder for the demo's files.")] = Path(
        "livethresh-demo"),
) -> None:
    """Run the main job on built-in footage: no camera or file needed.

    Renders a page of text under uneven, moving light, writes a PNG comparing global Otsu with
    adaptive thresholding, and transcodes a clip of the page into a binarized video.

    Example: livethresh demo /tmp/demo
    """
    from livethresh.demo import run_demo

    with console.status("Rendering a page under moving light and binarizing it..."):
        out = run_demo(outdir)
    lines = [
        f"comparison:  {out.comparison}  (input | global Otsu | adaptive: the article's point)",
        f"page, mask:  {out.page}, {out.mask}",
        f"input clip:  {out.clip}  (a shadow sweeps across the page)",
        f"binarized:   {out.result.summary()}",
        "",
        "Try next:",
        f"  livethresh preview {out.clip} --side-by-side      tune it live (press h for keys)",
        f"  livethresh image {out.page} mask.png --method sauvola",
        f"  livethresh transcode {out.clip} out.mp4 --preset document --side-by-side",
        "  livethresh presets                         scenes with ready-made settings",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@command
def presets() -> None:
    """List the presets with a one-line description and their values.

    Example: livethresh presets
    """
    from rich.table import Table

    from livethresh.config import iter_presets, read_preset

    table = Table(show_header=True, header_style="bold")
    for heading in ("preset", "description", "settings"):
        table.add_column(heading)
    for name, path in iter_presets():
        values, description = read_preset(str(path))
        settings = " ".join(f"{key}={value}" for key, value in values.items())
        table.add_row(name, description, settings)
    console.print(table)
    console.print("Use one with --preset NAME, or --preset path/to/file.toml.", highlight=False)


@command
def devices() -> None:
    """List the cameras, with the formats and sizes they offer where the platform can tell.

    Example: livethresh devices
    """
    from livethresh.devices import list_cameras

    cameras = list_cameras()
    if not cameras:
        console.print("No cameras found. Try a test pattern instead: livethresh preview testsrc2",
                      markup=False, highlight=False)
        return
    for camera in cameras:
        name = f"  {camera.name}" if camera.name != camera.source else ""
        console.print(f"{camera.source}  ({camera.backend}){name}", markup=False, highlight=False)
        for fmt in camera.formats:
            kind = "compressed" if fmt.compressed else "raw"
            sizes = [f"{size} ({', '.join(fmt.rates[size])} fps)" if fmt.rates.get(size)
                     else size for size in fmt.sizes]
            console.print(f"    {fmt.pix_fmt:10} {kind:10} {', '.join(sizes)}",
                          markup=False, highlight=False, soft_wrap=True)
        if camera.note:
            console.print(f"    {camera.note}", markup=False, highlight=False)


SourceSizeOpt = Annotated[str | None, typer.Option(
    "--size", help="WIDTHxHEIGHT to ask a camera or pattern for, e.g. 1280x720.",
    show_default=False)]
SourceRateOpt = Annotated[float | None, typer.Option(
    "--rate", min=0.001, help="Frames per second to ask a camera or pattern for.",
    show_default=False)]
InputFormatOpt = Annotated[str | None, typer.Option(
    "--input-format", help="Camera pixel format or codec, e.g. mjpeg or yuyv422.",
    show_default=False)]
FramesOpt = Annotated[int | None, typer.Option(
    "--frames", "-n", min=1, help="Stop after reading this many frames.", show_default=False)]
#: bench's default SOURCE: an FFmpeg test pattern, so it runs with no camera and no file.
BENCH_SOURCE = "testsrc2=size=1920x1080:rate=30"
#: Frames bench reads from a source that never ends (pattern, camera, live stream).
BENCH_ENDLESS_FRAMES = 300


def _open_source(source: str, live: bool | None, size: str | None, rate: float | None,
                 input_format: str | None) -> Any:
    from livethresh.sources import open_source, parse_size

    return open_source(source, live=live, size=parse_size(size) if size else None, rate=rate,
                       input_format=input_format)


@command
@threshold_options
def preview(
    source: Annotated[str, typer.Argument(
        help="Camera index or device, video file, URL, or lavfi pattern (e.g. testsrc2).")] = "0",
    frames: FramesOpt = None,
    side_by_side: Annotated[bool, typer.Option(
        "--side-by-side", help="Show the input beside the mask (key v toggles).")] = False,
    live: Annotated[bool, typer.Option(
        "--live/--fast", help="Play files and patterns at their native frame rate (--fast: as "
        "fast as they binarize).")] = True,
    size: SourceSizeOpt = None,
    rate: SourceRateOpt = None,
    input_format: InputFormatOpt = None,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Also write the masks to this video file, as transcode does; it "
        "follows the live tuning.", show_default=False)] = None,
    save_dir: Annotated[Path, typer.Option(
        "--save-dir", help="Folder for snapshots (key s) and saved presets (key p).")] = Path("."),
    overwrite: OverwriteOpt = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Show the masks of a camera, file, stream or test pattern in a window, and tune them live.

    Keys: m/M method, ]/[ block size, +/- C, b/B blur, i invert, t/T fixed threshold, k/K k,
    v mask or side by side, s snapshot, p save preset, h help, q or Esc quit.

    Example: livethresh preview testsrc2 --side-by-side --method mean -C 5 --record take1.mp4
    """
    from livethresh.display import WindowSink
    from livethresh.encoder import EncodeSettings
    from livethresh.outputs import check_output_path
    from livethresh.pipeline import Pipeline
    from livethresh.transcode import DEFAULT_ENCODER_THREADS
    from livethresh.transcode import record as record_to
    from livethresh.tuning import LiveTuner, describe

    if not save_dir.is_dir():
        raise OutputError(f"--save-dir {str(save_dir)!r} is not a folder; create it first")
    if record is not None:
        inputs = [Path(source)] if Path(source).is_file() else []
        check_output_path(record, inputs, overwrite)
    window = WindowSink(side_by_side=side_by_side)

    def say(message: str) -> None:
        err_console.print(message, markup=False, highlight=False, soft_wrap=True)

    tuner = LiveTuner(config, lambda new: None, window, folder=save_dir, notify=say)

    def attach(pipeline: Pipeline) -> None:
        tuner.apply = pipeline.set_config

    with _open_source(source, live, size, rate, input_format) as opened:
        if record is None:
            pipeline = Pipeline(opened, window, config, max_frames=frames)
            attach(pipeline)
            stats = pipeline.run()
        else:
            settings = EncodeSettings(threads=DEFAULT_ENCODER_THREADS)
            result = record_to(opened, str(record), config, settings, also=window,
                               max_frames=frames, on_pipeline=attach)
            stats = result.stats
            say(result.summary())
    console.print(stats.summary(), markup=False, highlight=False, soft_wrap=True)
    if tuner.config != config:
        say(f"last settings: {describe(tuner.config)} (key p saves them as a preset)")
    if record is not None and result.signal:
        raise typer.Exit(result.exit_code)


@command
@threshold_options
def bench(
    source: Annotated[str, typer.Argument(
        help="What to read: file, URL, camera or lavfi pattern.")] = BENCH_SOURCE,
    live: Annotated[bool, typer.Option(
        "--live", help="Pace a file or pattern at its native frame rate, as a camera would "
        "deliver it; stale frames are then dropped rather than queued.")] = False,
    frames: Annotated[int | None, typer.Option(
        "--frames", "-n", min=1, help="Stop after reading this many frames (default: the "
        f"whole file, or {BENCH_ENDLESS_FRAMES} from a source that never ends).",
        show_default=False)] = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object with the stats on stdout, nothing else.")] = False,
    size: SourceSizeOpt = None,
    rate: SourceRateOpt = None,
    input_format: InputFormatOpt = None,
    *,
    config: ThresholdConfig,
) -> None:
    """Measure decode + binarize throughput and latency, with the masks discarded.

    Example: livethresh bench clip.mp4 --live --json
    """
    import json

    from livethresh.pipeline import Pipeline
    from livethresh.sinks import NullSink

    with _open_source(source, live or None, size, rate, input_format) as opened:
        info = opened.info
        if frames is None and info.kind != "file" and (info.is_live or info.kind == "lavfi"):
            frames = BENCH_ENDLESS_FRAMES
        stats = Pipeline(opened, NullSink(), config, max_frames=frames).run()
    if json_output:
        print(json.dumps(stats.to_dict()))
        return
    rate_text = f"{float(info.frame_rate):g} fps" if info.frame_rate else "unknown rate"
    mode = "live (oldest frame dropped when behind)" if info.is_live else "as fast as possible"
    console.print(f"{info.name}: {info.width}x{info.height} {info.pix_fmt} {rate_text}, {mode}",
                  markup=False, highlight=False,
                  soft_wrap=True)
    console.print(stats.summary(), markup=False, highlight=False, soft_wrap=True)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in stats.stage_ms_per_frame().items())
    console.print(f"busy ms per frame: {stages}", markup=False, highlight=False,
                  soft_wrap=True)


class _TranscodeProgress:
    """A rich progress bar on stderr: frames, fps and ETA of a transcode."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn("{task.fields[fps]:>6.1f} fps"),
                             TimeRemainingColumn(), console=err_console, transient=True)
        self._task: Any = None
        self._started = 0.0

    def start(self, info: Any) -> None:
        import time

        total = info.frame_count
        if total is None and info.duration and info.frame_rate:
            total = round(info.duration * info.frame_rate)
        self._started = time.perf_counter()
        self._task = self._bar.add_task("transcoding", total=total, fps=0.0)

    def update(self, frames: int) -> None:
        import time

        if self._task is not None:
            elapsed = time.perf_counter() - self._started
            self._bar.update(self._task, completed=frames,
                             fps=frames / elapsed if elapsed > 0 else 0.0)

    def __enter__(self) -> "_TranscodeProgress":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


@command
@threshold_options(speed_presets=ENCODER_SPEED_PRESETS)
def transcode(
    input: Annotated[str, typer.Argument(help="Video file to binarize.", show_default=False)],
    output: Annotated[str, typer.Argument(
        help="Output file (.mp4 .mkv .webm .mov .avi .ts), - for stdout, or a udp://, "
        "rtmp:// or srt:// URL.", show_default=False)],
    codec: Annotated[str | None, typer.Option(
        "--codec", help="Video encoder: libx264 (default; libvpx for .webm), ffv1 for exact "
        "(lossless) masks in .mkv, libvpx-vp9, mjpeg...", show_default=False)] = None,
    crf: Annotated[int | None, typer.Option(
        "--crf", help="Constant quality of x264/x265/vpx: lower is better and larger "
        "(x264 default 23).", show_default=False)] = None,
    encoder_preset: Annotated[str | None, typer.Option(
        "--encoder-preset", help="Encoder speed preset, ultrafast (default) ... veryslow; "
        "--preset accepts these names too.", show_default=False)] = None,
    pix_fmt: Annotated[str | None, typer.Option(
        "--pix-fmt", help="Encoded pixel format (default yuv420p; gray for ffv1). Odd sizes "
        "are padded by one pixel with yuv420p; gray keeps them.", show_default=False)] = None,
    format: Annotated[str | None, typer.Option(
        "--format", "-f", help="Container, overriding the extension; for - : mpegts "
        "(default), matroska or yuv4mpegpipe.", show_default=False)] = None,
    side_by_side: Annotated[bool, typer.Option(
        "--side-by-side", help="Write the input and the mask next to each other.")] = False,
    no_audio: Annotated[bool, typer.Option(
        "--no-audio", help="Drop the audio (by default every audio stream is copied).")] = False,
    overwrite: OverwriteOpt = False,
    frames: FramesOpt = None,
    json_output: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object with the stats and the output on stdout.")] = False,
    *,
    config: ThresholdConfig,
) -> None:
    """Binarize a video into a new one, keeping its timestamps and audio.

    Example: livethresh transcode talk.mp4 masks.mp4 --method mean -C 5
    """
    import json
    import signal
    from contextlib import nullcontext

    from livethresh.encoder import EncodeSettings
    from livethresh.errors import ConfigError
    from livethresh.transcode import DEFAULT_ENCODER_THREADS
    from livethresh.transcode import transcode as run_transcode

    if json_output and output == "-":
        raise ConfigError("--json prints on stdout, which carries the video when OUTPUT is -; "
                          "drop --json or write to a file")
    settings = EncodeSettings(codec=codec, crf=crf, preset=encoder_preset, pix_fmt=pix_fmt,
                              format=format, side_by_side=side_by_side,
                              threads=DEFAULT_ENCODER_THREADS)
    progress = _TranscodeProgress() if err_console.is_terminal and not json_output else None
    with progress or nullcontext():
        result = run_transcode(
            input, output, config, settings, audio=not no_audio, overwrite=overwrite,
            max_frames=frames, on_start=progress.start if progress else None,
            on_progress=progress.update if progress else None)
    if result.signal:
        # The output is in place: a further Ctrl-C must not cut the report or the exit code.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    if json_output:
        print(json.dumps(result.to_dict()))
    else:
        err_console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)
    if result.signal:
        raise typer.Exit(result.exit_code)


def _is_usage_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the command-line parser's usage error (click's, as vendored by typer)."""
    return any(cls.__name__ == "UsageError" for cls in type(exc).__mro__)


def main() -> None:
    """Console-script entry point: usage errors, too, become one line and exit code 2."""
    try:
        result = app(prog_name="livethresh", standalone_mode=False)
    except Exception as exc:
        if not _is_usage_error(exc) or _state["debug"]:
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(EXIT_BAD_INPUT)
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "livethresh"
        fail(f"{exc.format_message()} (see `{where} --help`)")  # type: ignore[attr-defined]
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        fail("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(result if isinstance(result, int) else 0)
