"""The run policy (``livethresh.runs``): exit codes, and signals ending every job cleanly.

SIGHUP is what a terminal or an SSH session that drops sends to the whole process group, so
the jobs get it here in real subprocesses of their own session, as they would then; Ctrl-C
and SIGTERM have their tests beside each job (``test_transcode.py``, ``test_batch.py``,
``test_serve_cli.py``, ``test_reliability.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livethresh.batch import BatchReport
from livethresh.preview import PreviewResult
from livethresh.runs import STOP_SIGNALS, RunOutcome, exit_code, stop_on_signals
from livethresh.serve.session import ServeResult
from livethresh.transcode import TranscodeResult
from tests.helpers import HANG, make_video, start_cli, video_frames, wait_for_partial_output

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def hang_up(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Send SIGHUP to the process's whole group, as a dropped session does; its output."""
    os.killpg(process.pid, signal.SIGHUP)
    try:
        stdout, stderr = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the job hung after SIGHUP")
    return stdout.decode(), stderr.decode()


def test_exit_codes_are_one_policy() -> None:
    assert exit_code(None) == 0
    assert exit_code(None, failed=True) == 2
    assert [exit_code(s) for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)] == [
        129,
        130,
        143,
    ]
    assert exit_code(signal.SIGINT, failed=True) == 130  # a signal says more than a failure
    assert set(STOP_SIGNALS) == {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def test_every_job_takes_its_exit_code_from_the_run_policy() -> None:
    for result in (TranscodeResult, ServeResult, BatchReport, PreviewResult):
        assert issubclass(result, RunOutcome)
        assert "exit_code" not in vars(result)  # defined once, in livethresh.runs
    assert BatchReport(signal=signal.SIGHUP).exit_code == 129


def test_the_guard_takes_sighup_as_it_takes_sigterm() -> None:
    stops: list[int] = []
    received: list[int] = []
    try:
        with stop_on_signals(lambda: stops.append(1), received):
            os.kill(os.getpid(), signal.SIGHUP)
            deadline = time.monotonic() + 5
            while not stops and time.monotonic() < deadline:
                time.sleep(0.01)
        assert received == [signal.SIGHUP] and stops == [1]
        # The run is over and its process on its way out: later signals cannot cut that.
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in STOP_SIGNALS)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_sighup_ends_transcode_with_its_output_finalized(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    # A pattern runs until it is stopped: the hang-up always lands mid-run.
    process = start_cli(
        "transcode", "testsrc2=size=320x240:rate=30", out, "--json", start_new_session=True
    )
    wait_for_partial_output(tmp_path, 2_000, process)
    stdout, stderr = hang_up(process)
    assert process.returncode == 129, stderr
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["interrupted"] == "SIGHUP"
    frames = video_frames(out)  # decodes to the end: the trailer (and MP4's index) is written
    assert 0 < len(frames) == report["frames"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary file left


def test_sighup_stops_a_batch_as_ctrl_c_does(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(2):
        make_video(inputs / f"clip{index}.mkv", size=(320, 240), frames=120)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "livethresh", "batch", inputs, "-o", out, "--jobs", "1", "--json",
         "--method", "sauvola", "--block-size", "51"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".") for p in out.glob("*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    stdout, stderr = hang_up(process)
    assert process.returncode == 129, stderr
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["signal"] == "SIGHUP" and report["interrupted"] >= 1
    assert report["done"] + report["interrupted"] == 2
    # No temporary file left, and every final name is a complete file.
    for path in out.iterdir():
        assert not path.name.startswith(".")
        assert len(video_frames(path)) == 120
