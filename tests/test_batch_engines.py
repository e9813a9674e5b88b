"""The batch engines (``livethresh.batch.local``, ``livethresh.batch.ray_engine``) in a real
subprocess: Ctrl-C and SIGTERM, a worker that dies, SIGKILL (no worker outlives a killed batch,
and a rerun clears what it left), and Ray on a two-node cluster of this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.batch_runs import batch_command, by_name, invoke, report_of
from tests.clips import Picture, make_video
from tests.helpers import HANG
from tests.test_transcode import frame_times

ROOT = Path(__file__).resolve().parent.parent


def long_clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    return [
        make_video(folder / f"clip{i}.mkv", Picture(size=(320, 240), frames=240))
        for i in range(count)
    ]


def start_batch_writing(
    folder: Path, out: Path, *engine: object, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], list[str], dict[str, str]]:
    """Start ``batch FOLDER -o OUT ENGINE --json`` (slow settings; the engine's options default
    to ``--jobs 2``) in a subprocess and return once it is writing an output; also the command
    and environment, to run it again."""
    env = env or {**os.environ, "PYTHONPATH": str(ROOT)}
    command = batch_command(
        folder, "-o", out, *(engine or ("--jobs", 2)), "--json", "--method", "sauvola",
        "--block-size", 51,
    )  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".") for p in out.glob("*")) and time.monotonic() < deadline:
        time.sleep(0.02)
    return process, command, env


def stop_and_check(process: subprocess.Popen[str], sig: signal.Signals, out: Path) -> dict:
    """Send ``sig`` to a batch that is writing; check that it ends with the signal's status
    and leaves nothing half-written. Returns its report."""
    time.sleep(0.2)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + sig, stderr
    report = json.loads(stdout)
    assert report["signal"] == sig.name and report["interrupted"] >= 1
    # No temporary file left, and every final name is a complete file.
    finished = sorted(out.iterdir())
    assert all(not p.name.startswith(".") for p in finished)
    for path in finished:
        assert len(frame_times(path)) == 240
    return report


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_batch_and_a_rerun_completes_it(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    clips = long_clips(tmp_path / "in", 3)
    out = tmp_path / "out"
    process, command, env = start_batch_writing(tmp_path / "in", out)
    report = stop_and_check(process, sig, out)
    assert 128 + sig == code and report["done"] + report["interrupted"] == 3
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads(rerun.stdout)
    assert again["done"] == report["interrupted"] and again["skipped"] == report["done"]
    assert sorted(p.name for p in out.iterdir()) == [p.with_suffix(".mp4").name for p in clips]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux: /proc/PID/task/PID/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def test_a_worker_that_dies_takes_no_file_with_it(tmp_path: Path) -> None:
    long_clips(tmp_path / "in", 3)
    out = tmp_path / "out"
    process, _, _ = start_batch_writing(tmp_path / "in", out)
    # The pool's workers are the forkserver's children: kill one as the OOM killer would.
    workers = [
        pid
        for pid in descendants(process.pid)
        if any(
            pid in descendants(parent)
            for parent in descendants(process.pid)
            if b"forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes()
        )
    ]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "a worker process died; starting the pool again" in stderr
    report = json.loads(stdout)
    # A file finished while the pool went down is kept (skipped) rather than redone.
    assert report["done"] + report["skipped"] == 3 and report["failed"] == 0
    assert len(list(out.iterdir())) == 3
    for path in out.iterdir():
        assert not path.name.startswith(".") and len(frame_times(path)) == 240


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers via /proc")
def test_workers_exit_with_a_killed_batch_and_leave_no_partial_file(tmp_path: Path) -> None:
    long_clips(tmp_path / "in", 4)
    out = tmp_path / "out"
    process, command, env = start_batch_writing(tmp_path / "in", out)
    helpers = descendants(process.pid)  # the forkserver, its workers, the resource tracker
    assert len(helpers) >= 3
    process.kill()  # SIGKILL, as the OOM killer or a CI timeout: no handler runs
    process.wait(10)
    deadline = time.monotonic() + 30
    try:
        while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in helpers if alive(pid)] == []
        # Nothing holds the killed batch's output pipes open any more.
        assert process.stdout is not None and process.stdout.read() == ""
    finally:
        for pid in [pid for pid in helpers if alive(pid)]:
            os.kill(pid, signal.SIGKILL)
        process.communicate()
    left = sorted(out.rglob("*"))
    assert [p.name for p in left if p.name.startswith(".")] == []
    for path in left:  # what a worker finished before the kill is complete
        assert len(frame_times(path)) == 240
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=HANG)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert (report["done"], report["skipped"]) == (4 - len(left), len(left))


def test_a_rerun_clears_the_partial_files_of_its_outputs_and_nothing_else(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", Picture(frames=2))
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [out / ".a.0123abcd.part.mp4", out / ".a.89abcdef.part.mp4"]
    kept = [
        out / ".b.0123abcd.part.mp4",  # an output this batch does not plan
        out / ".a.0123abcd.part.mkv",  # another container's
        out / ".a.0123abcd.kept.mp4",  # a finished file kept aside
        out / "a.part.mp4",
    ]
    for path in leftovers + kept:
        path.write_bytes(b"written by a killed run")
    result = invoke(tmp_path / "in", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert report_of(result)["done"] == 1
    assert "removed 2 unfinished files left by a run that was killed" in result.stderr
    assert sorted(out.iterdir()) == sorted([out / "a.mp4", *kept])


# Ray on a two-node cluster of this machine


@pytest.mark.slow
def test_ray_engine_runs_files_on_both_nodes_of_a_cluster(tmp_path: Path) -> None:
    """One cluster for both: Ctrl-C while the first output is written, then the rerun."""
    pytest.importorskip("ray")
    from tests.ray_cluster import local_cluster

    long_clips(tmp_path / "in", 6)
    (tmp_path / "in" / "fake.mp4").write_text("text")
    out = tmp_path / "out"
    with local_cluster(nodes=2, cpus=1) as (address, env):
        # Ctrl-C: the running tasks are cancelled, their files discarded, the rest reported.
        ray = ("--ray-address", address)
        process, command, _ = start_batch_writing(tmp_path / "in", out, *ray, env=env)
        first = stop_and_check(process, signal.SIGINT, out)
        assert first["done"] + first["failed"] + first["interrupted"] == 7
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped"] == first["done"] and report["done"] + report["skipped"] == 6
    done = [item for item in report["inputs"] if item["status"] == "done"]
    assert all(item["frames"] == 240 for item in done)
    # The node names carry each node's own loopback address.
    assert {item["node"].split("(")[1].split(",")[0] for item in done} == {"127.0.0.2", "127.0.0.3"}
    assert by_name(report)["fake.mp4"]["status"] == "failed"
    assert result.stderr.count("livethresh: error:") == 1
