"""The preview session: a source's masks in a window, tuned live, optionally recorded.

The keys and what they do are :mod:`livethresh.tuning`'s; here the session runs the pipeline
into the window, holds the last frame of a file that ends (or plays it again), and records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livethresh.binarize.binarizer import Binarizer
from livethresh.config import ThresholdConfig
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
from livethresh.tuning import KEYS, Key, LiveTuner, describe, key_rows, keys_help, keys_markdown

__all__ = [
    "KEYS",
    "Key",
    "LiveTuner",
    "PreviewResult",
    "describe",
    "hold_last_frame",
    "key_rows",
    "keys_help",
    "keys_markdown",
    "make_folder",
    "run_preview",
]

logger = logging.getLogger(__name__)


@dataclass
class PreviewResult(RunOutcome):
    """What a preview session did.

    Attributes:
        stats: The pipeline's statistics.
        config: The settings at the end, after any live tuning.
        recording: The recording's result when ``record`` was given, else None.
        plays: How many times the source was played (``loop`` plays a file again).
    """

    stats: Stats
    config: ThresholdConfig
    recording: TranscodeResult | None = None
    plays: int = 1
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
    loop: bool = False,
    notify: Callable[[str], None] = logger.info,
) -> PreviewResult:
    """Show a source's masks in a window with live tuning, optionally recording them.

    When a file or pattern ends by itself, its last frame stays in the window, still tuned by
    the keys, until ``q``, Esc or the window is closed; with ``loop`` it plays again instead.

    Args:
        source: Anything :func:`~livethresh.sources.open_source` reads.
        config: The settings the session starts with.
        frames: Stop after this many frames.
        side_by_side: Start with the input shown beside the mask.
        live: Play files and patterns at their native rate (False: as fast as they binarize).
        size, rate, input_format: What to ask a camera or pattern for.
        record: Also encode the masks to this file, as ``transcode`` does; the recording
            follows the tuning.
        save_dir: Folder for snapshots and saved presets; created (with its parents) if it
            does not exist.
        overwrite: Replace an existing recording.
        loop: Play the source again each time it ends, until ``q`` (not with ``record``).
        notify: Called with one-line messages for the user (saved files, refused values).

    Raises:
        OutputError: ``save_dir`` cannot be created, or the recording cannot be written.
        ConfigError: ``loop`` with ``record``.
        InputError: The source cannot be opened or read.
    """
    if loop and record is not None:
        raise ConfigError("--loop cannot be used with --record: a recording plays a source once")
    make_folder(save_dir)
    if record is not None:
        check_output_path(record, input_files(source), overwrite)
    window = WindowSink(side_by_side=side_by_side)
    window.keep_open = True
    tuner = LiveTuner(config, lambda new: None, window, folder=save_dir, notify=notify)

    def attach(pipeline: Pipeline) -> None:
        tuner.apply = pipeline.set_config

    def ended_by_itself(stats: Stats) -> bool:
        return not stats.stopped_early and (frames is None or stats.frames_read < frames)

    plays = 0
    try:
        while True:
            plays += 1
            with open_source(
                source, live=live, size=size, rate=rate, input_format=input_format
            ) as opened:
                if record is None:
                    pipeline = Pipeline(opened, window, tuner.config, max_frames=frames)
                    attach(pipeline)
                    stats, recording = pipeline.run(), None
                else:
                    recording = record_to(
                        opened,
                        str(record),
                        config,
                        EncodeSettings(),
                        also=window,
                        max_frames=frames,
                        on_pipeline=attach,
                        overwrite=overwrite,
                    )
                    stats = recording.stats
            if not ended_by_itself(stats) or (recording is not None and recording.exit_code):
                break
            if not loop:
                hold_last_frame(window, tuner)
                break
    finally:
        window.destroy()
    return PreviewResult(stats, tuner.config, recording, plays)


def make_folder(folder: Path) -> None:
    """Create a folder with its parents, if needed, or say in one line why it cannot be.

    Raises:
        OutputError: It is a file, or cannot be created.
    """
    if folder.is_dir():
        return
    if folder.exists():
        raise OutputError(f"--save-dir {str(folder)!r} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create --save-dir {str(folder)!r}: {exc.strerror or exc}"
        ) from exc


def hold_last_frame(window: WindowSink, tuner: LiveTuner) -> None:
    """Keep the last frame in the window until ``q``; a tuning key re-binarizes it."""
    last = window.last
    if last is None:
        return

    def rebinarize(config: ThresholdConfig) -> None:
        with Binarizer(config, last.gray.shape) as binarize:
            np.copyto(last.mask, binarize(last.gray))

    tuner.apply = rebinarize
    window.hold()
