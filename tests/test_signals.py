"""The run policy (``livethresh.runs``): exit codes, and signals ending every job cleanly.

SIGHUP is what a terminal or an SSH session that drops sends to the whole process group, so
the jobs get it here in real subprocesses of their own session, as they would then; Ctrl-C
and SIGTERM have their tests beside each job (``test_transcode.py``, ``test_batch_engines.py``,
``test_serve_cli.py``). A second and a third signal, which the guard handles for every job, are
tried here: during the shutdown, during the write of a frame, and while the output is finalized.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest

from livethresh.batch import BatchReport
from livethresh.preview import PreviewResult
from livethresh.runs import STOP_SIGNALS, RunOutcome, exit_code, stop_on_signals
from livethresh.serve.session import ServeResult
from livethresh.transcode import TranscodeResult
from tests.clips import Picture, make_video, video_frames
from tests.helpers import HANG, digest, noise_frame, start_cli, wait_for_partial_output

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
        make_video(inputs / f"clip{index}.mkv", Picture(size=(320, 240), frames=120))
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


# -- a second and a third signal ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("gap", [0.0, 0.01, 0.03, 0.1])
def test_second_ctrl_c_during_finalization_does_not_corrupt_the_output(
    tmp_path: Path, gap: float
) -> None:
    """SIGINT, then another one ``gap`` seconds later: during the shutdown, the encoder's flush,
    MP4's faststart rewrite (about 10 MB of lossless noise moved behind the index), the rename
    or the report. Whichever it hits, the file is whole and the exit code is 130.
    """
    source = tmp_path / "noise.mkv"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "gray"
        for index in range(300):
            noise = noise_frame(480, 640, index % 7)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noise, format="gray")))
        container.mux(stream.encode(None))
    before = digest(source)
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livethresh",
            "transcode",
            source,
            out,
            "--json",
            "--crf",
            "0",
            "--method",
            "mean",
            "-b",
            "3",
            "--blur",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    wait_for_partial_output(tmp_path, 8_000_000, child)
    child.send_signal(signal.SIGINT)
    time.sleep(gap)
    child.send_signal(signal.SIGINT)
    try:
        stdout, stderr = child.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("transcode hung after two Ctrl-C")
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    stats = json.loads(stdout)
    assert stats["interrupted"] == "SIGINT"
    frames = video_frames(out)  # decodes from start to end: the file is whole
    assert 0 < len(frames) == stats["frames"] < 300
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == len(frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mkv", "out.mp4"]
    assert digest(source) == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_signal_forces_the_stop_only_until_finalization_begins() -> None:
    stops: list[int] = []
    finalizing = False
    received: list[int] = []
    with stop_on_signals(lambda: stops.append(1), received, lambda: finalizing):
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 5
        while not stops and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == [signal.SIGINT] and stops == [1]  # the graceful stop
        finalizing = True
        os.kill(os.getpid(), signal.SIGTERM)  # noted, not raised: the trailer is being written
        time.sleep(0.05)
        finalizing = False
        with pytest.raises(KeyboardInterrupt):  # while waiting for threads: forced
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    # The run was ended by a signal: its caller is exiting, and a further one must not cut that.
    try:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    with stop_on_signals(lambda: None, [], lambda: False):
        pass  # a run that no signal ended gives the previous handlers back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def run_as_transcode_does(sink: Any) -> tuple[Any, BaseException | None, list[int]]:
    """200 small frames into ``sink`` under transcode's signal guard; the handlers are put
    back afterwards. Returns the stats, the error and the signals received."""
    from livethresh.config import ThresholdConfig
    from livethresh.pipeline import Pipeline
    from livethresh.runs import RunControl, run_to_the_end, stop_on_signals
    from tests.helpers import ArraySource

    pipeline = Pipeline(ArraySource(200), sink, ThresholdConfig(), queue_size=2)
    control, received = RunControl(), list[int]()
    control.attach(pipeline, sink)
    try:
        with stop_on_signals(control.stop, received, control.finalizing, writing=control.writing):
            stats, error = run_to_the_end(pipeline, sink, received)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    return stats, error, received


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_signal_during_a_write_leaves_the_count_equal_to_the_frames_written() -> None:
    """Two Ctrl-C while the sink writes a frame: the first stops the run, the second waits for
    the frame to be counted, so the run reports every frame the output holds."""
    from tests.helpers import RecordingSink

    class InterruptedTwice(RecordingSink):
        closing = False

        def write(self, frame: Any) -> None:
            super().write(frame)  # the frame is in the output now
            if frame.index == 5:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # both handlers run here, inside the write

    sink = InterruptedTwice()
    stats, error, received = run_as_transcode_does(sink)
    assert received == [signal.SIGINT] and error is None
    assert 6 <= stats.frames_written == len(sink.indices) < 200


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_third_signal_ends_a_write_that_hangs() -> None:
    """The second Ctrl-C waits for the frame being written; a write that hangs would keep it
    waiting, so a third one forces the stop at once."""
    from tests.helpers import RecordingSink

    class Hanging(RecordingSink):
        closing = False

        def write(self, frame: Any) -> None:
            if frame.index == 5:
                for _ in range(3):
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.05)  # each handler runs here, inside the write
                time.sleep(30)  # the hang the third signal cuts short
            super().write(frame)

    sink = Hanging()
    started = time.monotonic()
    stats, error, received = run_as_transcode_does(sink)
    assert time.monotonic() - started < 10
    assert received == [signal.SIGINT] and error is None
    assert stats.frames_written == len(sink.indices) == 5
