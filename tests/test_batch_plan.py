"""Planning a batch (``livethresh.batch.plan``): inputs to outputs (folders mirrored, files and
patterns named, what names nothing, outputs kept out of the inputs, unreadable folders), and
resume: finished outputs skipped, the settings each output records, a rerun with other settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest

from livethresh.batch import run_batch
from livethresh.batch.plan import (
    SETTINGS_TAG,
    find_videos,
    plan_batch,
    settings_changes,
    settings_record,
)
from livethresh.config import ThresholdConfig
from livethresh.encode.plan import EncodeSettings, plan_encoding
from livethresh.errors import ConfigError
from livethresh.transcode import transcode
from tests.batch_runs import by_input, invoke, report_of
from tests.clips import Picture, make_video


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
    make_video(tmp_path / "a.mp4", Picture(frames=2))
    (tmp_path / "masks").mkdir()
    make_video(tmp_path / "masks" / "a.mp4", Picture(frames=2))
    assert find_videos(tmp_path, exclude=tmp_path / "masks") == [tmp_path / "a.mp4"]
    planned = plan_batch([str(tmp_path)], str(tmp_path / "masks"))
    assert [(p.input, p.skip) for p in planned] == [(str(tmp_path / "a.mp4"), True)]


def test_an_output_that_is_its_input_fails_alone(tmp_path: Path) -> None:
    make_video(tmp_path / "a.mp4", Picture(frames=2))
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
    make_video(Path("in") / "a.mp4", Picture(frames=2))
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
    make_video(folder / "a.mp4", Picture(frames=2))
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
    make_video(folder / "a.mp4", Picture(frames=2))
    make_video(folder / "locked" / "b.mp4", Picture(frames=2))
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


# Resume and the settings each output records


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
    make_video(tmp_path / "in" / "a.mp4", Picture(frames=3))
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
    make_video(tmp_path / "in" / "a.mp4", Picture(frames=3))
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
