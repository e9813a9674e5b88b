"""The bench command (and preview's argument handling): output, JSON, errors, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clips import Coding, Picture, Timing, make_video
from tests.helpers import as_from_a_terminal, invoke, noise_frame


def test_bench_json_has_the_documented_keys() -> None:
    result = invoke(
        *["bench", "testsrc2=size=160x120", "--frames", "12", "--json", "-m", "mean", "-b", "15"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] == 12 and data["dropped"] == 0
    assert data["fps"] > 0 and data["wall_s"] > 0
    assert set(data["latency_ms"]) >= {"p50", "p95", "p99"}


def test_bench_default_source_needs_nothing_installed() -> None:
    result = invoke(*["bench", "--frames", "3"])
    assert result.exit_code == 0, result.output
    assert "testsrc2=size=1920x1080:rate=30: 1920x1080 yuv420p 30 fps" in result.stdout
    assert "3 frames in" in result.stdout


def test_bench_reads_a_whole_file_and_paces_it_with_live(tmp_path: Path) -> None:
    path = make_video(
        tmp_path / "clip.mp4",
        Picture(lumas=[noise_frame(32, 48, s) for s in range(8)]),
        coding=Coding(lossless=True),
        timing=Timing(fps=60),
    )
    result = invoke(*["bench", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 8
    result = invoke(*["bench", str(path), "--live", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] + data["dropped"] == 8  # a live run may drop, but counts it
    assert data["wall_s"] >= 0.9 * 7 / 60  # paced: the last frame is due 7 periods in
    result = invoke(*["bench", str(path), "--live"])
    assert result.exit_code == 0, result.output
    assert "live (oldest frame dropped when behind)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bench", "missing.mp4"], "input 'missing.mp4' does not exist"),
        (["bench", "lavfi:nosuchfilter"], "cannot open 'lavfi:nosuchfilter'"),
        (["bench", "testsrc2", "--size", "big"], "invalid size 'big'"),
        (["bench", "testsrc2", "--block-size", "4"], "invalid block_size 4"),
        (["preview", "missing.mp4"], "input 'missing.mp4' does not exist"),
    ],
)
def test_bad_sources_and_settings_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_bench_frames_must_be_positive() -> None:
    result = invoke(*["bench", "--frames", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# The real command, with the null sink announcing when the run has started.
READY_THEN_BENCH = """
import sys
from livethresh import sinks
from livethresh.cli import main

opened = sinks.NullSink.open
def announce(self, info):
    opened(self, info)
    print("ready", flush=True)
sinks.NullSink.open = announce
sys.argv = ["livethresh", *sys.argv[1:]]
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_live_run_cleanly() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            READY_THEN_BENCH,
            "bench",
            "testsrc2=size=320x240:rate=30",
            "--live",
            "--frames",
            "1000000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"  # the pipeline is running
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    try:
        _, stderr = child.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("bench did not stop after Ctrl-C")
    assert child.returncode == 130
    assert stderr.strip() == "livethresh: error: interrupted"
