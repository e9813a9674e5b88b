"""``livethresh batch``: planning, the local engine over a small archive made at run time (nested
folders, several containers, audio, a text file named .mp4, a truncated MP4), the outputs against
``transcode``'s, resume and the settings each output records, inputs that cannot be read, the
JSON report, Ctrl-C and SIGKILL in a real subprocess (no worker outlives a killed batch, and a
rerun clears what it left), and Ray on a two-node cluster of this machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from livethresh.batch import run_batch
from livethresh.batch.plan import (
    SETTINGS_TAG,
    find_videos,
    plan_batch,
    settings_changes,
    settings_record,
)
from livethresh.batch.task import FileJob, run_file
from livethresh.cli import app
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.errors import ConfigError
from livethresh.transcode import transcode
from tests.helpers import HANG
from tests.test_transcode import audio_packets, frame_times, make_video, video_frames

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """in/: a.mp4 (with audio), sub/b.mkv, sub/deeper/c.mov, fake.mp4 (text),
    sub/cut.mp4 (truncated), notes.txt and .hidden/h.mp4 (not searched)."""
    root = tmp_path_factory.mktemp("archive") / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    make_video(root / "a.mp4", frames=12, audio="aac")
    make_video(root / "sub" / "b.mkv", frames=10)
    make_video(root / "sub" / "deeper" / "c.mov", frames=8)
    (root / "fake.mp4").write_text("not a video\n")
    whole = make_video(root.parent / "whole.mp4", frames=10).read_bytes()
    (root / "sub" / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (root / "notes.txt").write_text("not searched\n")
    make_video(root / ".hidden" / "h.mp4", frames=2)
    return root


def batch_command(*args: object) -> list[str]:
    """``livethresh batch ARGS`` as a subprocess of this checkout's package."""
    return [sys.executable, "-m", "livethresh", "batch", *map(str, args)]


def invoke(*args: object):
    return runner.invoke(app, ["batch", *map(str, args)])


def report_of(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def by_input(report: dict) -> dict[str, dict]:
    return {item["input"]: item for item in report["inputs"]}


def by_name(report: dict) -> dict[str, dict]:
    return {Path(item["input"]).name: item for item in report["inputs"]}


# Planning


def test_plan_mirrors_folders_and_names_files_and_patterns(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    planned = plan_batch([str(archive), str(archive / "sub" / "b.mkv")], str(out))
    outputs = {Path(p.input).relative_to(archive).as_posix(): p.output for p in planned}
    assert outputs == {
        "a.mp4": str(out / "a.mp4"),
        "fake.mp4": str(out / "fake.mp4"),
        "sub/b.mkv": str(out / "sub" / "b.mp4"),  # named twice, planned once
        "sub/cut.mp4": str(out / "sub" / "cut.mp4"),
        "sub/deeper/c.mov": str(out / "sub" / "deeper" / "c.mp4"),
    }
    pattern = plan_batch([str(archive / "**" / "*.m*")], str(out), fmt="mkv")
    assert sorted(Path(p.output).name for p in pattern) == [
        "a.mkv",
        "b.mkv",
        "c.mkv",
        "cut.mkv",
        "fake.mkv",
    ]
    assert all(Path(p.output).parent == out for p in pattern)


def test_plan_reports_what_names_nothing_and_refuses_two_inputs_for_one_output(
    archive: Path, tmp_path: Path
) -> None:
    missing = plan_batch([str(tmp_path / "nope.mp4"), str(tmp_path / "*.webm")], str(tmp_path))
    assert [p.problem for p in missing] == [
        f"input {str(tmp_path / 'nope.mp4')!r} does not exist",
        f"pattern {str(tmp_path / '*.webm')!r} matches nothing",
    ]
    twin = tmp_path / "a.mkv"
    twin.write_bytes(b"")
    with pytest.raises(ConfigError, match="would both be written to"):
        plan_batch([str(archive / "a.mp4"), str(twin)], str(tmp_path / "out"))
    with pytest.raises(ConfigError, match="cannot write 'gif' files"):
        plan_batch([str(archive)], str(tmp_path / "out"), fmt="gif")


def test_an_output_folder_inside_the_input_folder_is_not_searched(tmp_path: Path) -> None:
    make_video(tmp_path / "a.mp4", frames=2)
    (tmp_path / "masks").mkdir()
    make_video(tmp_path / "masks" / "a.mp4", frames=2)
    assert find_videos(tmp_path, exclude=tmp_path / "masks") == [tmp_path / "a.mp4"]
    planned = plan_batch([str(tmp_path)], str(tmp_path / "masks"))
    assert [(p.input, p.skip) for p in planned] == [(str(tmp_path / "a.mp4"), True)]


def test_an_output_that_is_its_input_fails_alone(tmp_path: Path) -> None:
    make_video(tmp_path / "a.mp4", frames=2)
    report = run_batch([str(tmp_path / "a.mp4")], str(tmp_path), ThresholdConfig())
    assert [(f.status, f.error) for f in report.files] == [
        (
            "failed",
            f"its output {str(tmp_path / 'a.mp4')!r} is the input file; choose another "
            "--output-dir",
        )
    ]


def test_a_pattern_that_covers_the_output_folder_does_not_take_outputs_for_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    make_video(Path("in") / "a.mp4", frames=2)
    first = invoke("in/**/*.mp4", "-o", "in/out", "--json")
    assert first.exit_code == 0, first.stderr
    rerun = invoke("in/**/*.mp4", "-o", "in/out", "--json")
    assert rerun.exit_code == 0, rerun.stderr
    report = report_of(rerun)
    assert [(item["input"], item["status"]) for item in report["inputs"]] == [
        ("in/a.mp4", "skipped")
    ]


def test_a_symlink_loop_named_like_a_video_fails_alone(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    make_video(folder / "a.mp4", frames=2)
    (folder / "loop.mp4").symlink_to("loop.mp4")
    for args in ([folder], [folder / "a.mp4", folder / "loop.mp4"], [folder / "*.mp4"]):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        result = invoke(*args, "-o", out, "--json")
        assert result.exit_code == 2, result.stderr
        assert {Path(k): v["status"] for k, v in by_input(report_of(result)).items()} == {
            folder / "a.mp4": "done",
            folder / "loop.mp4": "failed",
        }
        errors = result.stderr.strip().splitlines()
        assert errors == [
            f"livethresh: error: {folder / 'loop.mp4'}: input {str(folder / 'loop.mp4')!r} is a "
            "symbolic link loop; fix or remove the link"
        ]


def unreadable(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Make listing ``folders`` fail as for a user without permission (tests run as root,
    whom ``chmod 000`` does not stop)."""
    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if Path(os.fspath(path)) in folders:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_subfolder_is_named_and_fails_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    make_video(folder / "a.mp4", frames=2)
    make_video(folder / "locked" / "b.mp4", frames=2)
    unreadable(monkeypatch, folder / "locked")
    result = invoke(folder, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 2
    report = report_of(result)
    assert (report["done"], report["failed"]) == (1, 1)
    assert result.stderr.strip().splitlines() == [
        f"livethresh: error: {folder / 'locked'}: folder {str(folder / 'locked')!r} cannot be "
        "read: Permission denied"
    ]


@pytest.mark.parametrize("case", ["unreadable", "empty"])
def test_a_folder_argument_with_nothing_to_read_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("no video here")
    if case == "unreadable":
        unreadable(monkeypatch, folder)
        why = f"folder {str(folder)!r} cannot be read: Permission denied"
    else:
        why = f"folder {str(folder)!r} holds no video file: folders are searched for .mp4"
    result = invoke(folder, "-o", tmp_path / "out")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"livethresh: error: {folder}: {why}")
    assert lines[1].startswith("batch: 1 failed of 1 files")


# The local engine


def test_archive_json_report_failures_and_exit_code(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke(archive, "-o", out, "--json", "--jobs", 2)
    assert result.exit_code == 2
    report = report_of(result)
    items = by_name(report)
    assert {name: item["status"] for name, item in items.items()} == {
        "a.mp4": "done",
        "b.mkv": "done",
        "c.mov": "done",
        "fake.mp4": "failed",
        "cut.mp4": "failed",
    }
    assert (report["done"], report["skipped"], report["failed"]) == (3, 0, 2)
    assert report["wall_s"] > 0
    assert items["a.mp4"]["frames"] == 12 and items["c.mov"]["frames"] == 8
    assert items["a.mp4"]["node"] and items["a.mp4"]["wall_s"] > 0
    assert "not a video" in items["fake.mp4"]["error"]
    assert "index (moov box)" in items["cut.mp4"]["error"]
    # One line per failure on stderr, then the report alone on stdout.
    errors = [line for line in result.stderr.splitlines() if line.startswith("livethresh: error")]
    assert len(errors) == 2 and all(str(archive) in line for line in errors)
    assert len(result.stdout.strip().splitlines()) == 1
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.mp4", "sub/b.mp4", "sub/deeper/c.mp4"]


def test_each_output_is_what_transcode_writes(archive: Path, tmp_path: Path) -> None:
    config = ThresholdConfig(method="mean", block_size=15)
    settings = EncodeSettings(codec="ffv1")
    report = run_batch(
        [str(archive / "a.mp4")],
        str(tmp_path / "out"),
        config,
        EncodeSettings(codec="ffv1", format="matroska"),
        jobs=1,
    )
    assert [f.status for f in report.files] == ["done"]
    batch_out = tmp_path / "out" / "a.mkv"
    transcode(str(archive / "a.mp4"), str(tmp_path / "ref.mkv"), config, settings)
    ref = tmp_path / "ref.mkv"
    assert frame_times(batch_out) == frame_times(ref)
    assert audio_packets(batch_out) == audio_packets(ref) == audio_packets(archive / "a.mp4")
    for ours, theirs in zip(video_frames(batch_out), video_frames(ref), strict=True):
        assert (ours.to_ndarray() == theirs.to_ndarray()).all()


def test_resume_skips_finished_outputs_and_y_redoes_them(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_batch([str(archive)], str(out), ThresholdConfig())
    assert first.count("done") == 3 and first.exit_code == 2
    (out / "sub" / "b.mp4").unlink()
    before = (out / "a.mp4").stat().st_mtime_ns
    again = run_batch([str(archive)], str(out), ThresholdConfig())
    statuses = {Path(f.input).name: f.status for f in again.files}
    assert statuses == {
        "a.mp4": "skipped",
        "b.mkv": "done",
        "c.mov": "skipped",
        "fake.mp4": "failed",
        "cut.mp4": "failed",
    }
    assert (out / "a.mp4").stat().st_mtime_ns == before
    redo = run_batch([str(archive)], str(out), ThresholdConfig(), overwrite=True)
    assert redo.count("done") == 3 and redo.count("skipped") == 0
    assert (out / "a.mp4").stat().st_mtime_ns != before


def container_tags(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {key.lower(): value for key, value in container.metadata.items()}


@pytest.mark.parametrize("fmt", ["mp4", "mkv"])
def test_a_rerun_with_other_settings_says_so_and_redoes_only_with_y(
    tmp_path: Path, fmt: str
) -> None:
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=3)
    out = tmp_path / "out"
    first = invoke(tmp_path / "in", "-o", out, "--format", fmt, "--method", "gaussian")
    assert first.exit_code == 0, first.stderr
    made = out / f"a.{fmt}"
    recorded = json.loads(container_tags(made)[SETTINGS_TAG])
    assert recorded["threshold"]["method"] == "gaussian"
    before = made.stat().st_mtime_ns

    other = invoke(tmp_path / "in", "-o", out, "--format", fmt, "--method", "otsu", "--json")
    assert other.exit_code == 2
    why = (
        f"its output {str(made)!r} was made with other settings (method gaussian -> otsu); "
        "pass -y/--overwrite to redo it"
    )
    assert other.stderr.strip().splitlines() == [
        f"livethresh: error: {tmp_path / 'in' / 'a.mp4'}: {why}"
    ]
    (item,) = report_of(other)["inputs"]
    assert (item["status"], item["error"]) == ("failed", why)  # the words of stderr
    assert made.stat().st_mtime_ns == before

    redo = invoke(tmp_path / "in", "-o", out, "--format", fmt, "--method", "otsu", "-y")
    assert redo.exit_code == 0, redo.stderr
    assert json.loads(container_tags(made)[SETTINGS_TAG])["threshold"]["method"] == "otsu"
    same = invoke(tmp_path / "in", "-o", out, "--format", fmt, "--method", "otsu", "--json")
    assert same.exit_code == 0, same.stderr
    assert report_of(same)["skipped"] == 1


def test_outputs_without_recorded_settings_are_kept_as_before(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=3)
    (tmp_path / "out").mkdir()
    transcode(str(tmp_path / "in" / "a.mp4"), str(tmp_path / "out" / "a.mp4"), ThresholdConfig())
    assert SETTINGS_TAG not in container_tags(tmp_path / "out" / "a.mp4")
    report = run_batch([str(tmp_path / "in")], str(tmp_path / "out"), ThresholdConfig("otsu"))
    assert [f.status for f in report.files] == ["skipped"]


def test_a_settings_change_names_only_what_both_records_have() -> None:
    def record(config: ThresholdConfig, settings: EncodeSettings, audio: bool) -> dict:
        return json.loads(settings_record(config, plan_encoding("a.mp4", settings), audio))

    old = record(ThresholdConfig(), EncodeSettings(), True)
    assert record(ThresholdConfig(), EncodeSettings(codec="libx264", crf=23), True) == old
    new = record(ThresholdConfig(block_size=31), EncodeSettings(crf=30), False)
    del old["threshold"]["despeckle"]  # as if recorded before that setting existed
    new["threshold"]["despeckle"] = 9
    assert settings_changes(old, new) == [
        "audio True -> False",
        "block_size 11 -> 31",
        "encoder options crf=23 preset=ultrafast -> crf=30 preset=ultrafast",
    ]
    assert settings_changes(old, old) == []


def test_the_json_report_words_each_error_as_its_stderr_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livethresh.batch as batch_module

    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=2)
    out = tmp_path / "out"
    real_plan = batch_module.plan_batch

    def plan_then_take_the_output(*args: object, **kwargs: object) -> list:
        planned = real_plan(*args, **kwargs)  # type: ignore[arg-type]
        out.mkdir()
        (out / "a.mp4").write_bytes(b"another program's file, made meanwhile")
        return planned

    monkeypatch.setattr(batch_module, "plan_batch", plan_then_take_the_output)
    result = invoke(tmp_path / "in", "-o", out, "--json", "--jobs", 1)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    (item,) = report_of(result)["inputs"]
    assert line == f"livethresh: error: {item['input']}: {item['error']}"
    assert "-y/--overwrite" in item["error"] and "overwrite=True" not in result.stdout
    assert (out / "a.mp4").read_bytes() == b"another program's file, made meanwhile"


def test_verbose_prints_one_line_per_file(archive: Path, tmp_path: Path) -> None:
    result = invoke(archive / "sub", "-o", tmp_path, "-v")
    lines = result.stderr.splitlines()
    assert result.exit_code == 2
    assert any(line.startswith("done ") and "b.mkv" in line for line in lines)
    assert any(line.startswith("failed ") and "cut.mp4" in line for line in lines)
    assert lines[-1].startswith("batch: 2 done, 1 failed of 3 files")


def test_on_a_terminal_one_bar_counts_files_and_frames(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import livethresh.cli.batch as batch_cli

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, color_system=None, width=120)
    monkeypatch.setattr(batch_cli, "err_console", terminal)
    result = invoke(archive / "sub", "-o", tmp_path, "-v")
    assert result.exit_code == 2
    shown = screen.getvalue()
    assert "batch" in shown and "3/3 files" in shown and " fps" in shown
    assert "done " in shown and "failed " in shown  # --verbose lines printed above the bar
    assert result.stderr.splitlines()[-1].startswith("batch: 2 done, 1 failed of 3 files")


def test_bad_settings_and_collisions_stop_before_any_file(archive: Path, tmp_path: Path) -> None:
    bad_codec = invoke(archive, "-o", tmp_path / "o1", "--codec", "nope")
    assert bad_codec.exit_code == 2
    assert bad_codec.stderr.strip().splitlines() == [
        "livethresh: error: unknown video encoder 'nope'; try libx264, ffv1, libvpx-vp9, mjpeg "
        "or mpeg4"
    ]
    twin = tmp_path / "a.mov"
    twin.write_bytes(b"")
    clash = invoke(archive / "a.mp4", twin, "-o", tmp_path / "o2")
    assert clash.exit_code == 2 and "would both be written to" in clash.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_a_worker_that_cannot_see_an_input_says_so_in_one_line(tmp_path: Path) -> None:
    job = FileJob(
        str(tmp_path / "gone.mp4"), str(tmp_path / "o.mp4"), ThresholdConfig(), EncodeSettings()
    )
    result = run_file(job, node="worker-2 (10.0.0.7, node 1234abcd)")
    assert result.status == "failed" and "\n" not in (result.error or "")
    assert result.error == (
        f"input {job.input!r} cannot be found on node worker-2 (10.0.0.7, node 1234abcd): every "
        "node must see the inputs and the output folder at the same paths (shared storage)"
    )


def test_a_stop_request_abandons_the_file_and_writes_nothing(archive: Path, tmp_path: Path) -> None:
    job = FileJob(
        str(archive / "a.mp4"), str(tmp_path / "a.mp4"), ThresholdConfig(), EncodeSettings()
    )
    result = run_file(job, should_stop=lambda: True)
    assert result.status == "interrupted"
    calls = []

    def stop_after_first_frames() -> bool:
        calls.append(1)
        return len(calls) > 1  # the first poll passes, the next (mid-file) stops

    result = run_file(job, should_stop=stop_after_first_frames)
    assert result.status == "interrupted"
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


# Ctrl-C and SIGTERM in a real subprocess


def long_clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    return [make_video(folder / f"clip{i}.mkv", size=(320, 240), frames=240) for i in range(count)]


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
    make_video(tmp_path / "in" / "a.mp4", frames=2)
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
