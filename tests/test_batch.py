"""``livethresh batch`` with the local engine, over a small archive made at run time (nested
folders, several containers, audio, a text file named .mp4, a truncated MP4): the outputs
against ``transcode``'s, inputs that cannot be read, the JSON report, progress, and bad settings
refused before any file."""

from __future__ import annotations

from pathlib import Path

import pytest

from livethresh.batch import run_batch
from livethresh.batch.task import FileJob, run_file
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings
from livethresh.transcode import transcode
from tests.batch_runs import by_name, invoke, report_of
from tests.clips import Picture, make_video, video_frames
from tests.test_transcode import audio_packets, frame_times


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


def test_the_json_report_words_each_error_as_its_stderr_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import livethresh.batch as batch_module

    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", Picture(frames=2))
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
