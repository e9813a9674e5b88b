"""Live tuning: keys in the preview window change the threshold settings while video runs.

The seed article ends on "block size and C are hyperparameters to tune: try out different
values". :class:`LiveTuner` binds the keys of :data:`KEYS` on a
:class:`~livethresh.sinks.window.WindowSink`; each change is validated, then handed to the
pipeline (``Pipeline.set_config``), which builds the new binarizer outside the processing
thread and swaps it in on the next frame, so tuning never stalls the stream. The same key table
drives the window's help, ``preview --help``, the README and docs/commands.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from livethresh.binarize import available_methods, method_class, method_defaults
from livethresh.config import ThresholdConfig, to_toml
from livethresh.errors import ConfigError

logger = logging.getLogger(__name__)

#: How long a message (a saved file, a refused value) stays in the overlay, in seconds.
MESSAGE_SECONDS = 3.0


@dataclass(frozen=True)
class Key:
    """One binding: the characters that trigger it, the action's name and argument, and what
    it does (given on the first of a pair of opposite keys, which the help shows together).

    Every character is a lower-case letter or a symbol typed without Shift: OpenCV's Qt
    backend reports capital letters as lower-case ones, so a binding that needs Shift never
    arrives (``S`` took a snapshot instead of stabilizing). A letter's capital does the same as
    the letter, whatever the backend reports.
    """

    keys: str
    action: str
    argument: Any = None
    does: str = ""


#: Every key of the preview window: the window binds, the overlay, ``preview --help``, the
#: README and docs/commands.md all show this one table.
KEYS: tuple[Key, ...] = (
    Key("m", "cycle_method", 1, "method next / previous"),
    Key("n", "cycle_method", -1),
    Key("]", "step", ("block_size", 2), "block size (window) +2 / -2"),
    Key("[", "step", ("block_size", -2)),
    Key("+=", "step", ("c", 0.5), "C +0.5 / -0.5"),
    Key("-_", "step", ("c", -0.5)),
    Key(".>", "step_blur", 2, "pre-blur +2 / -2 (0 = off)"),
    Key(",<", "step_blur", -2),
    Key("i", "toggle_invert", None, "invert on / off"),
    Key("t", "step", ("threshold", 5), "fixed threshold +5 / -5"),
    Key("r", "step", ("threshold", -5)),
    Key("k", "step_k", 0.05, "k +0.05 / -0.05 (sauvola, niblack, wolf, nick, phansalkar...)"),
    Key("j", "step_k", -0.05),
    Key("a", "toggle_stabilize", None, "average over time (--stabilize) on / off"),
    Key("g", "step", ("stabilize_gate", 1), "stabilize gate +1 / -1 gray level"),
    Key("f", "step", ("stabilize_gate", -1)),
    Key("v", "toggle_view", None, "mask alone / input beside the mask"),
    Key("s", "snapshot", None, "snapshot (input and mask PNGs in --save-dir)"),
    Key("p", "save_preset", None, "save the settings as a preset TOML in --save-dir"),
    Key("o", "toggle_overlay", None, "status strip on / off"),
    Key("h", "toggle_help", None, "show / hide these keys"),
    Key("q\x1b", "quit", None, "quit"),
)

#: How characters that do not show themselves are written in the help.
KEY_NAMES = {"\x1b": "Esc"}


def key_groups() -> list[tuple[list[str], str, str]]:
    """The key help: per action or pair of opposite actions, the keys' names, how to join
    them (``" / "`` for a pair, ``", "`` for keys doing the same), and what they do.

    A pair names the first character of each of its two bindings (``m / n``).
    """
    groups: list[tuple[list[str], str, str]] = []
    for key in KEYS:
        names = [KEY_NAMES.get(char, char) for char in key.keys]
        if key.does:
            alike = key.action == "quit"  # the one binding whose every key is worth naming
            groups.append((names if alike else names[:1], ", " if alike else " / ", key.does))
        else:
            groups[-1][0].append(names[0])
    return groups


def key_rows() -> list[tuple[str, str]]:
    """The key help as ``(keys, what they do)`` text pairs, as the window's overlay shows."""
    return [(joiner.join(names), does) for names, joiner, does in key_groups()]


def keys_markdown() -> str:
    """The key table as Markdown, as the README and docs/commands.md show it."""
    lines = ["| key | does |", "|---|---|"]
    for names, joiner, does in key_groups():
        lines.append(f"| {joiner.join(f'`{name}`' for name in names)} | {does} |")
    return "\n".join(lines)


def keys_help() -> str:
    """The key table in one paragraph, for ``preview --help``."""
    return "; ".join(f"{keys}: {does}" for keys, does in key_rows())


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
                continue  # the window binds q, Q and Esc itself
            action = self._bound(getattr(self, key.action), key.argument)
            for char in key.keys:
                window.bind(char, action)
                if char.upper() != char:
                    window.bind(char.upper(), action)  # backends that report capitals
        window.status = lambda: describe(self.config)
        window.help_lines = [f"{keys:<7} {does}" for keys, does in key_rows()]

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

    def toggle_overlay(self) -> None:
        self.window.overlay = not self.window.overlay

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
