"""Live tuning: keys in the preview window change the threshold settings while video runs.

The seed article ends on "block size and C are hyperparameters to tune: try out different
values". :class:`LiveTuner` binds keys on a :class:`~livethresh.sinks.window.WindowSink`; each
change is validated, then handed to the pipeline (``Pipeline.set_config``), which builds the
new binarizer outside the processing thread and swaps it in on the next frame, so tuning never
stalls the stream. The same key table drives the window's help overlay and the README.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from livethresh.binarize import available_methods, method_class, method_defaults
from livethresh.config import ThresholdConfig, to_toml
from livethresh.encode.plan import EncodeSettings
from livethresh.errors import ConfigError, OutputError
from livethresh.files import check_output_path
from livethresh.pipeline import Pipeline
from livethresh.runs import RunOutcome
from livethresh.sinks.window import WindowSink
from livethresh.sources import open_source
from livethresh.sources.sequences import input_files
from livethresh.stats import Stats
from livethresh.transcode import TranscodeResult
from livethresh.transcode import record as record_to

logger = logging.getLogger(__name__)

#: How long a message (a saved file, a refused value) stays in the overlay, in seconds.
MESSAGE_SECONDS = 3.0


@dataclass(frozen=True)
class Key:
    """One binding: the key characters, the action's name and argument, and its help line.

    The help line is shown once per pair of opposite keys (on the first of the pair), so the
    whole table fits in the window.
    """

    keys: str
    action: str
    argument: Any = None
    help: str = ""


KEYS: tuple[Key, ...] = (
    Key("m", "cycle_method", 1, "m M   method: next / previous"),
    Key("M", "cycle_method", -1),
    Key("]", "step", ("block_size", 2), "] [   block size +2 / -2"),
    Key("[", "step", ("block_size", -2)),
    Key("+=", "step", ("c", 0.5), "+ -   C +0.5 / -0.5"),
    Key("-_", "step", ("c", -0.5)),
    Key("b", "step_blur", 2, "b B   blur +2 / -2 (0 = off)"),
    Key("B", "step_blur", -2),
    Key("i", "toggle_invert", None, "i     invert on / off"),
    Key("t", "step", ("threshold", 5), "t T   fixed threshold +5 / -5"),
    Key("T", "step", ("threshold", -5)),
    Key("k", "step_k", 0.05, "k K   k +0.05 / -0.05 (sauvola...)"),
    Key("K", "step_k", -0.05),
    Key("S", "toggle_stabilize", None, "S     stabilize on / off"),
    Key("g", "step", ("stabilize_gate", 1), "g G   stabilize gate +1 / -1"),
    Key("G", "step", ("stabilize_gate", -1)),
    Key("v", "toggle_view", None, "v     mask / side by side"),
    Key("s", "snapshot", None, "s     snapshot: input + mask PNG"),
    Key("p", "save_preset", None, "p     save settings as a preset"),
    Key("h", "toggle_help", None, "h     show / hide these keys"),
    Key("q", "quit", None, "q Esc quit"),
)


def describe(config: ThresholdConfig) -> str:
    """The settings that matter for ``config.method``, on one line (the method says which)."""
    return method_class(config.method).describe(config)


class LiveTuner:
    """Binds the tuning keys of :data:`KEYS` to a window and applies the changes.

    Args:
        config: The settings the run starts with.
        apply: Called with each new, valid config (``Pipeline.set_config``).
        window: The :class:`~livethresh.sinks.window.WindowSink` whose keys and overlay to use.
        folder: Where snapshots and saved presets go.
        notify: Called with a one-line message for the user (the CLI prints it).
    """

    def __init__(
        self,
        config: ThresholdConfig,
        apply: Callable[[ThresholdConfig], None],
        window: Any,
        folder: Path = Path("."),
        notify: Callable[[str], None] = logger.info,
    ) -> None:
        self.config = config
        self.apply = apply
        self.window = window
        self.folder = folder
        self.notify = notify
        for key in KEYS:
            if key.action == "quit":
                continue  # the window binds q and Esc itself
            action = getattr(self, key.action)
            for char in key.keys:
                window.bind(char, self._bound(action, key.argument))
        window.status = lambda: describe(self.config)
        window.help_lines = [key.help for key in KEYS if key.help]

    @staticmethod
    def _bound(action: Callable[..., None], argument: Any) -> Callable[[], None]:
        return (lambda: action(argument)) if argument is not None else action

    def say(self, message: str) -> None:
        """Show a message in the overlay for a few seconds and pass it to ``notify``."""
        self.window.message = message
        self.window.message_until = time.monotonic() + MESSAGE_SECONDS
        self.notify(message)

    def change(self, **changes: Any) -> bool:
        """Validate and apply a change; an invalid value is refused with a message."""
        try:
            config = self.config.replace(**changes)
        except ConfigError as exc:
            self.say(str(exc))
            return False
        if config != self.config:
            self.config = config
            self.apply(config)
        return True

    # -- actions -------------------------------------------------------------------------------

    def cycle_method(self, step: int) -> None:
        methods = available_methods()
        index = (methods.index(self.config.method) + step) % len(methods)
        self.change(method=methods[index])

    def step(self, setting_and_delta: tuple[str, float]) -> None:
        setting, delta = setting_and_delta
        value = getattr(self.config, setting) + delta
        if setting == "threshold":
            value = min(255.0, max(0.0, value))
        self.change(**{setting: value})

    def step_blur(self, delta: int) -> None:
        blur = self.config.blur
        # 0 (off) <-> 3, then odd steps: 3, 5, 7...
        new = (3 if delta > 0 else 0) if blur == 0 else blur + delta
        self.change(blur=0 if new < 3 else new)

    def step_k(self, delta: float) -> None:
        defaults = method_defaults("k")
        if self.config.method not in defaults:
            self.say(f"k is not used by {self.config.method}")
            return
        k = defaults[self.config.method] if self.config.k is None else self.config.k
        self.change(k=round(k + delta, 4))

    def toggle_invert(self) -> None:
        self.change(invert=not self.config.invert)

    def toggle_stabilize(self) -> None:
        self.change(stabilize=not self.config.stabilize)

    def toggle_view(self) -> None:
        self.window.side_by_side = not self.window.side_by_side

    def toggle_help(self) -> None:
        self.window.show_help = not self.window.show_help

    def snapshot(self) -> tuple[Path, Path] | None:
        """Write the current input and mask as PNGs; a failure is reported, never raised."""
        frame = self.window.current
        if frame is None:
            return None
        stem = self._unused_stem(f"livethresh-{time.strftime('%Y%m%d-%H%M%S')}-{frame.index:06d}")
        paths = (stem.with_name(stem.name + "-input.png"), stem.with_name(stem.name + "-mask.png"))
        for path, image in zip(paths, (frame.gray, frame.mask), strict=True):
            if not cv2.imwrite(str(path), image):
                self.say(f"could not write {path}: is --save-dir writable?")
                return None
        self.say(f"saved {paths[0]} and {paths[1].name}")
        return paths

    def save_preset(self) -> Path | None:
        """Write the current settings as a TOML preset that ``--preset PATH`` loads back.

        A failure (a full disk, a folder gone) is reported in the window and on the console; it
        never stops the stream or a recording.
        """
        path = self._unused_stem(f"livethresh-preset-{time.strftime('%Y%m%d-%H%M%S')}")
        path = path.with_name(path.name + ".toml")
        description = f"Tuned live: {describe(self.config)}"
        try:
            path.write_text(to_toml(self.config, description), encoding="utf-8")
        except OSError as exc:
            self.say(f"could not write {path}: {exc.strerror or exc}")
            return None
        self.say(f"saved preset {path}: use it with --preset {path}")
        return path

    def _unused_stem(self, stem: str) -> Path:
        """``folder/stem``, with ``-2``, ``-3``... added if files of that name already exist."""
        candidate, number = self.folder / stem, 1
        while any(self.folder.glob(f"{candidate.name}*")):
            number += 1
            candidate = self.folder / f"{stem}-{number}"
        return candidate


@dataclass
class PreviewResult(RunOutcome):
    """What a preview session did.

    Attributes:
        stats: The pipeline's statistics.
        config: The settings at the end, after any live tuning.
        recording: The recording's result when ``record`` was given, else None.
    """

    stats: Stats
    config: ThresholdConfig
    recording: TranscodeResult | None = None
    #: The signal that ended the recording early, if any (a window alone ends by its keys).
    signal: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.signal = self.recording.signal if self.recording is not None else None


def run_preview(
    source: str,
    config: ThresholdConfig,
    *,
    frames: int | None = None,
    side_by_side: bool = False,
    live: bool = True,
    size: tuple[int, int] | str | None = None,
    rate: float | None = None,
    input_format: str | None = None,
    record: Path | None = None,
    save_dir: Path = Path("."),
    overwrite: bool = False,
    notify: Callable[[str], None] = logger.info,
) -> PreviewResult:
    """Show a source's masks in a window with live tuning, optionally recording them.

    Args:
        source: Anything :func:`~livethresh.sources.open_source` reads.
        config: The settings the session starts with.
        frames: Stop after this many frames.
        side_by_side: Start with the input shown beside the mask.
        live: Play files and patterns at their native rate (False: as fast as they binarize).
        size, rate, input_format: What to ask a camera or pattern for.
        record: Also encode the masks to this file, as ``transcode`` does; the recording
            follows the tuning.
        save_dir: Folder for snapshots and saved presets.
        overwrite: Replace an existing recording.
        notify: Called with one-line messages for the user (saved files, refused values).

    Raises:
        OutputError: ``save_dir`` is not a folder, or the recording cannot be written.
        InputError: The source cannot be opened or read.
    """
    if not save_dir.is_dir():
        raise OutputError(f"--save-dir {str(save_dir)!r} is not a folder; create it first")
    if record is not None:
        check_output_path(record, input_files(source), overwrite)
    window = WindowSink(side_by_side=side_by_side)
    tuner = LiveTuner(config, lambda new: None, window, folder=save_dir, notify=notify)

    def attach(pipeline: Pipeline) -> None:
        tuner.apply = pipeline.set_config

    with open_source(source, live=live, size=size, rate=rate, input_format=input_format) as opened:
        if record is None:
            pipeline = Pipeline(opened, window, config, max_frames=frames)
            attach(pipeline)
            return PreviewResult(pipeline.run(), tuner.config)
        result = record_to(
            opened,
            str(record),
            config,
            EncodeSettings(),
            also=window,
            max_frames=frames,
            on_pipeline=attach,
            overwrite=overwrite,
        )
    return PreviewResult(result.stats, tuner.config, result)
