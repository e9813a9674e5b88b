"""Live tuning in ``preview``: the key actions, and real key presses in a window under Xvfb."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livethresh.binarize.registry import available_methods, method_defaults
from livethresh.config import ThresholdConfig, load_preset
from livethresh.errors import OutputError
from livethresh.frames import ProcessedFrame
from livethresh.preview import KEYS, LiveTuner, describe, key_rows, keys_markdown, make_folder
from livethresh.sinks.window import WindowSink
from tests.clips import Picture, make_video
from tests.helpers import document_frame, invoke


@pytest.fixture
def tuned(tmp_path):
    """A tuner on an unopened window; ``applied`` lists every config handed to the pipeline."""
    window = WindowSink()
    applied: list[ThresholdConfig] = []
    messages: list[str] = []
    tuner = LiveTuner(
        ThresholdConfig(), applied.append, window, folder=tmp_path, notify=messages.append
    )

    def press(*keys: str) -> None:
        for key in keys:
            window.handle_key(ord(key))

    return tuner, window, press, applied, messages


def test_keys_change_settings_and_each_change_reaches_the_pipeline(tuned):
    tuner, _, press, applied, _ = tuned
    press("]", "]", "+", "i", ".")
    assert tuner.config == ThresholdConfig(block_size=15, c=2.5, invert=True, blur=9)
    assert [c.block_size for c in applied] == [13, 15, 15, 15, 15]
    assert applied[-1] == tuner.config
    press("[", "-", "-", ",", ",", ",")
    assert (tuner.config.block_size, tuner.config.c, tuner.config.blur) == (13, 1.5, 3)
    press(",")
    assert tuner.config.blur == 0
    press(".")
    assert tuner.config.blur == 3


def test_methods_cycle_both_ways(tuned):
    tuner, _, press, _, _ = tuned
    methods = available_methods()
    start = methods.index(tuner.config.method)
    press("m")
    assert tuner.config.method == methods[(start + 1) % len(methods)]
    press("n", "n")
    assert tuner.config.method == methods[(start - 1) % len(methods)]


def test_every_key_is_typed_without_shift_and_no_two_bindings_share_one():
    """OpenCV's Qt reports capitals as lower-case letters: ``S`` (stabilize) arrived as ``s``
    (snapshot), and ``M``, ``B``, ``G`` never arrived at all."""
    chars = [char for key in KEYS for char in key.keys]
    assert len(chars) == len(set(chars))
    assert not [char for char in chars if char.isupper()]
    letters = {char for char in chars if char.isalpha()}
    assert not letters & {char.upper() for char in chars}


def test_a_capital_letter_does_what_its_letter_does(tuned):
    """The GTK and other backends report capitals as such: Shift changes nothing."""
    tuner, _, press, _, _ = tuned
    press("A")
    assert tuner.config.stabilize
    press("a", "G", "G", "f")
    assert not tuner.config.stabilize and tuner.config.stabilize_gate == 7


def test_the_key_table_is_the_one_in_help_readme_and_commands_md():
    root = Path(__file__).resolve().parent.parent
    for doc in ("README.md", "docs/commands.md"):
        assert keys_markdown() in (root / doc).read_text(encoding="utf-8"), doc
    result = invoke("preview", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    for keys, does in key_rows():
        assert f"{keys}: {does}" in text


def test_invalid_values_are_refused_with_a_message_and_not_applied(tuned):
    tuner, window, press, applied, messages = tuned
    tuner.change(block_size=3)
    count = len(applied)
    press("[")
    assert tuner.config.block_size == 3 and len(applied) == count
    assert "block_size" in messages[-1] and window.message == messages[-1]
    assert window.message in window.overlay_lines()


def test_threshold_and_k_keys(tuned):
    tuner, _, press, _, messages = tuned
    press("k")
    assert "k is not used by gaussian" in messages[-1]
    tuner.change(method="sauvola")
    press("k")
    assert tuner.config.k == pytest.approx(method_defaults("k")["sauvola"] + 0.05)
    tuner.change(method="fixed", threshold=250)
    press("t", "t")
    assert tuner.config.threshold == 255
    press("r")
    assert tuner.config.threshold == 250


def test_view_help_and_overlay(tuned):
    tuner, window, press, _, _ = tuned
    assert describe(tuner.config) == "gaussian  block 11  C 2  blur 7"
    press("v")
    assert window.side_by_side
    press("v", "h")
    assert not window.side_by_side and window.show_help
    lines = window.overlay_lines()
    assert describe(tuner.config) in lines
    assert len([line for line in lines if any(line.endswith(d) for _, d in key_rows())]) == len(
        key_rows()
    )
    press("h")
    assert "h: keys  o: hide this strip" in window.overlay_lines()
    press("o")
    assert not window.overlay


def test_snapshot_writes_input_and_mask(tuned, tmp_path):
    _, window, press, _, _ = tuned
    gray = document_frame(48, 64)
    mask = np.where(gray > 128, 255, 0).astype(np.uint8)
    window.current = ProcessedFrame(index=7, gray=gray, mask=mask)
    press("s")
    inputs = list(tmp_path.glob("*-000007-input.png"))
    masks = list(tmp_path.glob("*-000007-mask.png"))
    assert len(inputs) == len(masks) == 1
    assert np.array_equal(cv2.imread(str(inputs[0]), cv2.IMREAD_GRAYSCALE), gray)
    assert np.array_equal(cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE), mask)


def test_saved_preset_loads_back(tuned, tmp_path):
    tuner, _, press, _, messages = tuned
    press("]", "i", "m")
    press("p")
    saved = list(tmp_path.glob("livethresh-preset-*.toml"))
    assert len(saved) == 1 and str(saved[0]) in messages[-1]
    assert load_preset(str(saved[0])) == tuner.config


def xdotool(*args: str, display: str) -> str:
    done = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip()


@pytest.mark.slow
def test_real_key_presses_tune_preview_and_the_recording_follows(xvfb, tmp_path):
    """Drive ``livethresh preview --record`` with X key events, as a user would."""
    if shutil.which("xdotool") is None:
        message = "xdotool is not installed (Debian package xdotool); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    recording = tmp_path / "take.mkv"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livethresh",
            "preview",
            "testsrc2=size=320x240:rate=30",
            "--record",
            str(recording),
            "--save-dir",
            str(tmp_path),
            "--frames",
            "900",
        ],
        env={**os.environ, "DISPLAY": xvfb},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        window = xdotool("search", "--sync", "--name", "^livethresh$", display=xvfb)
        assert window, "the preview window never appeared"
        window = window.splitlines()[0]
        xdotool("windowfocus", "--sync", window, display=xvfb)
        time.sleep(0.5)
        for key in ("bracketright", "bracketright", "i", "a", "shift+m", "s", "p"):
            xdotool("key", "--window", window, key, display=xvfb)
            time.sleep(0.3)
        time.sleep(0.5)
        xdotool("key", "--window", window, "q", display=xvfb)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert len(list(tmp_path.glob("*-input.png"))) == 1
    assert len(list(tmp_path.glob("*-mask.png"))) == 1
    (preset,) = tmp_path.glob("livethresh-preset-*.toml")
    # Shift+m arrives as m (Qt) or M (other backends): either way, the next method.
    after_gaussian = available_methods()[available_methods().index("gaussian") + 1]
    assert load_preset(str(preset)) == ThresholdConfig(
        block_size=15, invert=True, stabilize=True, method=after_gaussian
    )
    assert f"last settings: {describe(load_preset(str(preset)))}" in stderr
    # The recording holds every frame shown, and follows the tuning: the pattern's flat areas
    # are white (255) before `i` and black after it.
    with av.open(str(recording)) as container:
        white = [np.mean(f.to_ndarray(format="gray") > 128) for f in container.decode(video=0)]
    assert len(white) > 20
    assert white[0] > 0.6 and white[-1] < 0.4


def test_saving_never_stops_the_stream_and_never_overwrites(tuned, tmp_path):
    tuner, window, press, _, messages = tuned
    press("p", "p")
    assert len(list(tmp_path.glob("livethresh-preset-*.toml"))) == 2
    tuner.folder = tmp_path / "gone"
    press("p")
    assert "could not write" in messages[-1]
    window.current = ProcessedFrame(
        index=1, gray=document_frame(8, 8), mask=np.zeros((8, 8), np.uint8)
    )
    press("s")
    assert "could not write" in messages[-1]


def preview_until_q(display: str, *args: str, wait: float = 3.0) -> tuple[int, str, str, bool]:
    """Run ``livethresh preview ARGS``, wait, note whether its window is still up, press q."""
    process = subprocess.Popen(
        [sys.executable, "-m", "livethresh", "preview", *args],
        env={**os.environ, "DISPLAY": display},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        window = xdotool("search", "--sync", "--name", "^livethresh$", display=display)
        assert window, "the preview window never appeared"
        window = window.splitlines()[0]
        time.sleep(wait)  # the clip (a third of a second) has long ended
        still_open = process.poll() is None
        for _ in range(10):  # a key sent while a replay opens its file may be lost: again
            xdotool("windowfocus", "--sync", window, display=display)
            xdotool("key", "--window", window, "q", display=display)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=2)
                break
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, stdout, stderr, still_open


@pytest.mark.slow
def test_a_file_that_ends_stays_on_its_last_frame_until_q_and_loop_plays_again(xvfb, tmp_path):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (Debian package xdotool)")
    clip = tmp_path / "clip.mkv"
    make_video(clip, Picture(frames=10))
    shots = tmp_path / "new" / "shots"  # --save-dir is created, with its parents
    code, stdout, stderr, still_open = preview_until_q(
        xvfb, str(clip), "--fast", "--save-dir", str(shots)
    )
    assert code == 0, stderr
    assert still_open, "the window closed as soon as the file ended"
    assert "10 frames" in stdout and "plays" not in stdout
    assert shots.is_dir()
    # Played at its own pace: a few plays in the wait, as a user would see them.
    code, stdout, stderr, still_open = preview_until_q(xvfb, str(clip), "--loop")
    assert code == 0 and still_open, stderr
    plays = int(stdout.split("(last of ")[1].split(" plays)")[0])
    assert plays >= 2


def test_the_save_folder_is_created_with_its_parents_and_a_file_is_refused(tmp_path):
    make_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        make_folder(tmp_path / "file")
