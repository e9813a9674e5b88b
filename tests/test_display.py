"""The window sink: key table and layout here, a real window under Xvfb in a subprocess.

OpenCV's Qt aborts the whole process when its X connection goes away, so every test that
opens a window runs in a child process pointed at a private Xvfb server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from livethresh.frames import ProcessedFrame
from livethresh.sinks import StopPipeline
from livethresh.sinks.display import x_display_problem
from livethresh.sinks.window import ESC, WindowSink


def run_child(code: str, display: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    if display is not None:
        env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


WINDOW_SCRIPT = """
    import json, sys
    import cv2
    from livethresh.config import ThresholdConfig
    from livethresh.sinks.window import WindowSink
    from livethresh.pipeline import Pipeline
    from livethresh.sources import open_source

    key = int(sys.argv[1])
    presses = iter([-1] * 5 + [key])
    visible = []

    def wait_key(ms):
        cv2.waitKey(ms)  # the real GUI event loop still runs
        visible.append(cv2.getWindowProperty("probe", cv2.WND_PROP_VISIBLE))
        return next(presses, -1)

    sink = WindowSink("probe", side_by_side=True, wait_key=wait_key)
    with open_source("testsrc2=size=160x120:rate=30", live=True) as source:
        stats = Pipeline(source, sink, ThresholdConfig()).run()  # endless: only a key ends it
    print(json.dumps({"written": stats.frames_written, "stopped": stats.stopped_early,
                      "visible": visible, "canvas": list(sink._canvas.shape)}))
"""


@pytest.mark.parametrize("key", [ord("q"), ESC], ids=["q", "esc"])
def test_window_is_shown_and_a_key_quits(xvfb: str, key: int) -> None:
    done = run_child(WINDOW_SCRIPT, xvfb, str(key))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["written"] == 6 and result["stopped"]
    assert len(result["visible"]) == 6 and min(result["visible"]) >= 1
    height, width = result["canvas"]
    assert width == 320 and height > 120  # input and mask side by side, the strip below


def test_preview_command_runs_a_pattern_in_a_window(xvfb: str) -> None:
    env = {**os.environ, "DISPLAY": xvfb}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "livethresh",
            "preview",
            "testsrc2=size=160x120",
            "--fast",  # paced live, a loaded machine would (rightly) drop frames
            "--frames",
            "5",
            "--side-by-side",
            "-m",
            "mean",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "5 frames" in done.stdout


def test_a_program_that_imported_av_first_gets_one_line_instead_of_a_hung_window(
    xvfb: str,
) -> None:
    """PyAV's wheel bundles X libraries under opencv-python's names: imported first, its copies
    would make OpenCV's first window hang."""
    script = (
        "import sys, av\n"
        "from livethresh.cli import main\n"
        "sys.argv = ['livethresh', 'preview', 'testsrc2=size=160x120', '--frames', '2']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DISPLAY": xvfb},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("livethresh: error: cannot open a window: lib")
    assert line.endswith(
        "because `av` was imported before `cv2`, and OpenCV's window would hang; "
        "import livethresh (or cv2) before av"
    )


def test_preview_without_a_display_is_one_clear_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "livethresh", "preview", "testsrc2", "--frames", "2"],
        env={k: v for k, v in os.environ.items() if k != "DISPLAY"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "livethresh: error: cannot open a window: DISPLAY is not set (no X server); use "
        "`livethresh bench` to run without one"
    ]


def test_display_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("X11 probe")
    monkeypatch.setenv("DISPLAY", "nonsense")
    assert "not a display name" in (x_display_problem() or "")
    # A local display number no X server holds: every server keeps a lock file while it runs,
    # and the Xvfb servers of other test modules pick their numbers at random.
    number = next(
        n
        for n in range(4242, 4342)
        if not any(os.path.exists(p) for p in (f"/tmp/.X{n}-lock", f"/tmp/.X11-unix/X{n}"))
    )
    monkeypatch.setenv("DISPLAY", f":{number}")
    assert "does not answer" in (x_display_problem() or "")
    # A TCP display whose port is bound but not listening refuses every connection.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        monkeypatch.setenv("DISPLAY", f"127.0.0.1:{port - 6000}")
        assert "does not answer" in (x_display_problem() or "")


def test_key_table_quits_and_accepts_new_bindings() -> None:
    sink = WindowSink()
    sink.handle_key(-1)  # no key: nothing happens
    for key in (ord("q"), ESC, ord("q") | 0x100000):  # modifier bits are ignored
        with pytest.raises(StopPipeline):
            sink.handle_key(key)
    pressed = []
    sink.bind("+", lambda: pressed.append("+"))
    sink.handle_key(ord("+"))
    sink.handle_key(ord("x"))  # unbound: ignored
    assert pressed == ["+"]


def frame(index: int, decoded_at: float = 0.0) -> ProcessedFrame:
    gray = np.full((40, 60), 100, np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[:, 30:] = 255
    return ProcessedFrame(index=index, gray=gray, mask=mask, decoded_at=decoded_at)


def test_layout_side_by_side_and_overlay() -> None:
    plain = WindowSink(side_by_side=True, overlay=False)
    canvas = plain._compose(frame(0))
    assert canvas.shape == (40, 120)
    assert (canvas[:, :60] == 100).all() and np.array_equal(canvas[:, 60:], frame(0).mask)
    assert plain._compose(frame(1)) is canvas  # reused, not reallocated
    alone = WindowSink(overlay=True)._compose(frame(0))
    assert alone.shape[0] > 40 and np.array_equal(alone[:40], frame(0).mask)
    assert alone[40:].any()  # the strip holds the text


def test_the_overlay_never_covers_the_picture():
    """Its text covered the page's title, and in side-by-side view the key help covered the
    input: the picture's pixels are the input and the mask, with every line of text on."""
    sink = WindowSink(side_by_side=True)
    sink.status = lambda: "gaussian  block 11  C 2  blur 7"
    sink.help_lines = [f"key {n}: something long enough to need a wide line" for n in range(15)]
    sink.show_help = True
    sink.message, sink.message_until = "saved a snapshot", float("inf")
    shown = frame(0)
    canvas = sink._compose(shown)
    assert np.array_equal(canvas[:40, :60], shown.gray)
    assert np.array_equal(canvas[:40, 60:], shown.mask)
    assert canvas[40:].any()
    sink.overlay = False  # key o: the picture alone
    assert np.array_equal(sink._compose(shown), np.hstack([shown.gray, shown.mask]))


def test_overlay_counts_drops_from_index_gaps() -> None:
    sink = WindowSink()
    for index in (0, 1, 4, 5, 9):
        sink._measure(frame(index))
    assert sink.dropped == 5
