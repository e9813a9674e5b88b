"""What each video encoder takes: quality range, speed presets, threads and quiet logging.

FFmpeg checks ``crf`` and ``preset`` only when the encoder opens, after the input is open and
the output created, and it reports a bad value in the library's own words (``avcodec_open2
("libx265") returned ...``). The table here lets :func:`~livethresh.encode.plan.plan_encoding`
refuse a bad value before any I/O, in one line that names the valid ones. The ranges are the
ones the encoders accept in the FFmpeg that PyAV bundles (tried value by value).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from livethresh.errors import ConfigError

#: x264's and x265's speed presets, fastest first.
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


# Defaults, measured on 1080p binary masks (see benchmarks/bench_transcode.py and the README):
# x264 ultrafast in yuv420p encodes a mask in about 5 ms at about 13 KiB, plays everywhere, and
# is 2.6x faster than superfast for 30 % more bytes.
DEFAULT_PRESET = "ultrafast"


@dataclass(frozen=True)
class EncoderKnobs:
    """The quality and speed settings one encoder has.

    Attributes:
        crf: The lowest and highest ``crf`` it accepts.
        default_crf: The ``crf`` used when none is given.
        presets: The ``preset`` values it accepts; empty when it has no preset.
        default_preset: The preset used when none is given.
    """

    crf: tuple[int, int]
    default_crf: int
    presets: tuple[str, ...] = ()
    default_preset: str | None = None


#: Encoders with a constant-quality ``crf`` (and maybe a speed ``preset``).
ENCODER_KNOBS = {
    "libx264": EncoderKnobs((0, 51), 23, X26X_PRESETS, DEFAULT_PRESET),
    "libx265": EncoderKnobs((0, 51), 28, X26X_PRESETS, DEFAULT_PRESET),
    # VP8 refuses a crf below its lowest quantizer, 4.
    "libvpx": EncoderKnobs((4, 63), 10),
    "libvpx-vp9": EncoderKnobs((0, 63), 32),
    "libsvtav1": EncoderKnobs((0, 63), 35, tuple(str(n) for n in range(14)), "12"),
}


#: Options that make a codec fast enough for video rates, set unless the user overrides them.
CODEC_TUNING: dict[str, dict[str, str]] = {
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "b": "8M"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "b": "0"},
}


#: Environment variable that sets SVT-AV1's log level (1: errors only), read when it opens.
SVT_LOG_VARIABLE = "SVT_LOG"


SVT_ERRORS_ONLY = "1"


def check_knobs(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The ``crf`` and ``preset`` options for ``codec``, checked against what it accepts.

    Returns:
        The options to pass to the encoder (defaults filled in).

    Raises:
        ConfigError: The encoder has no such setting, or the value is out of its range.
    """
    knobs = ENCODER_KNOBS.get(codec)
    if knobs is None:
        if crf is not None:
            raise ConfigError(
                f"encoder {codec!r} has no --crf; it applies to {', '.join(ENCODER_KNOBS)}"
            )
        if preset is not None:
            raise ConfigError(f"encoder {codec!r} has no --encoder-preset; {with_presets()}")
        return {}
    options = {"crf": str(knobs.default_crf if crf is None else crf)}
    low, high = knobs.crf
    if crf is not None and not low <= crf <= high:
        raise ConfigError(f"invalid --crf {crf} for {codec}: use {low} to {high}")
    if not knobs.presets:
        if preset is not None:
            raise ConfigError(f"encoder {codec!r} has no --encoder-preset; {with_presets()}")
        return options
    if preset is not None and preset not in knobs.presets:
        numbered = knobs.presets[0].isdigit()
        allowed = f"0 to {knobs.presets[-1]}" if numbered else ", ".join(knobs.presets)
        raise ConfigError(f"invalid --encoder-preset {preset!r} for {codec}: use {allowed}")
    options["preset"] = preset or knobs.default_preset or knobs.presets[0]
    return options


def with_presets() -> str:
    """Which encoders have a speed preset, for messages."""
    names = [name for name, knobs in ENCODER_KNOBS.items() if knobs.presets]
    return f"it applies to {', '.join(names)}"


def quiet_threaded_options(codec: str, threads: int, options: dict[str, str]) -> dict[str, str]:
    """Options that keep an encoder's own logging to errors and hold it to ``threads``.

    x265 and SVT-AV1 log through their own loggers, not FFmpeg's: x265 prints about 20 lines of
    banner and statistics per run and SVT-AV1 as many, at their default (info) level. Their
    warnings are notes on their own tuning ("disabling lookahead-slices" below 720p, a preset
    mapped to another), not something a livethresh user can act on, so only errors are kept.
    x265 also sizes its thread pool from the cores, not from FFmpeg's thread count, so
    ``pools`` and ``frame-threads`` pass the count on; SVT-AV1 takes it as ``lp``. Parameters
    the caller gave in ``options`` come last and win.
    """
    if codec == "libx265":
        params = ["log-level=error"]
        if threads > 0:
            params += [f"pools={threads}", f"frame-threads={min(threads, 16)}"]
        return {"x265-params": _join_params(params, options.get("x265-params"))}
    if codec == "libsvtav1" and threads > 0:
        return {"svtav1-params": _join_params([f"lp={threads}"], options.get("svtav1-params"))}
    return {}


def quiet_encoder_library(codec: str) -> None:
    """Keep SVT-AV1's own log to errors, unless the user set its level (``SVT_LOG``).

    SVT-AV1 reads its level from the environment when an encoder opens; FFmpeg has no option
    for it. See :func:`quiet_threaded_options` for why only errors are kept.
    """
    if codec == "libsvtav1":
        os.environ.setdefault(SVT_LOG_VARIABLE, SVT_ERRORS_ONLY)


def _join_params(ours: list[str], theirs: str | None) -> str:
    return ":".join([*ours, theirs] if theirs else ours)
