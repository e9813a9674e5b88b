"""transcode --split stopped or failing: every worker ends, no piece is left, one clear line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.clips import make_split_clip
from tests.helpers import assert_one_line, start_cli


def pieces(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".split-" in p.name]


def wait_for_segments(folder: Path, process: subprocess.Popen[bytes]) -> list[int]:
    """The two worker processes, once both are writing their pieces."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = _workers(process.pid)
        if len(running) == 2 and len(pieces(folder)) == 2:
            return running
        time.sleep(0.01)
    process.kill()
    pytest.fail("the segments never started writing")


#: Two segments, of about a second of work each here.
SLOW = ("--split", "2", "--method", "sauvola")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to be stopped in the middle: the signal goes as soon as both workers
    have started their pieces."""
    return make_split_clip(
        tmp_path_factory.mktemp("long") / "day.mp4",
        frames=600,
        size=(320, 240),
        gop=30,
        lossless=False,
    )


def test_ctrl_c_and_sigterm_stop_every_worker_and_leave_no_piece(
    long_clip: Path, tmp_path: Path
) -> None:
    """Both runs at once (the test's time is one run's): SIGINT ends with 130, SIGTERM 143."""
    runs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        folder = tmp_path / sig.name
        folder.mkdir()
        runs[sig] = (folder, start_cli("transcode", long_clip, folder / "out.mp4", *SLOW))
    workers: list[int] = []
    waiting = dict(runs)
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for sig, (folder, process) in list(waiting.items()):
            running = _workers(process.pid)
            if len(running) == 2 and len(pieces(folder)) == 2:
                workers += running
                process.send_signal(sig)  # both segments are writing their pieces
                del waiting[sig]
        time.sleep(0.01)
    assert not waiting, "the segments never started writing"
    for sig, (folder, process) in runs.items():
        _, stderr = process.communicate(timeout=30)
        line = assert_one_line(stderr.decode(), process.returncode, 128 + sig, "pieces removed")
        assert f"stopped by {sig.name}" in line
        assert list(folder.iterdir()) == []
    assert len(workers) == 4
    assert not [pid for pid in workers if _running(pid)]


def test_a_failing_segment_fails_the_run_naming_its_time_range(
    long_clip: Path, tmp_path: Path
) -> None:
    """A worker killed (as the kernel's out-of-memory killer does) fails its segment."""
    process = start_cli("transcode", long_clip, tmp_path / "out.mp4", *SLOW)
    workers = wait_for_segments(tmp_path, process)
    os.kill(workers[-1], signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    line = assert_one_line(stderr.decode(), process.returncode, 2, "its worker process died")
    assert re.search(r"segment [12] of 2 \(\d+\.\d{3}-\d+\.\d{3} s\) failed", line), line
    assert list(tmp_path.iterdir()) == []


def _workers(parent: int) -> list[int]:
    """The segment workers: the children of the command's forkserver."""
    table: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            table[int(entry.name)] = (
                int(stat.rsplit(")", 1)[1].split()[1]),
                (entry / "cmdline").read_bytes(),
            )
        except (OSError, ValueError):
            continue
    servers = {
        pid for pid, (ppid, line) in table.items() if ppid == parent and b"forkserver" in line
    }
    return sorted(pid for pid, (ppid, _) in table.items() if ppid in servers)


def _running(pid: int) -> bool:
    """Whether ``pid`` is still a live process (not gone, not a zombie)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
