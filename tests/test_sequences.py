"""Image sequences as inputs (``frames/%04d.png``, ``'frames/*.png'``): no output may be one of
their files, a numbered sequence with gaps is read past them, with a warning, and every command
reads one at its rate."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livethresh.sources import open_source
from livethresh.sources.sequences import continue_past_gaps, input_files
from livethresh.sources.spec import parse_spec
from tests.helpers import assert_one_line, document_frame, invoke, one_line

#: The options that make ``transcode`` write one PNG file: what could replace a frame.
PNG_OUTPUT = ("-y", "--format", "apng", "--codec", "apng", "--pix-fmt", "gray")


def write_frames(folder: Path, names: dict[str, int]) -> Path:
    """PNG files of 48x64 pixels, each a flat gray ``level``."""
    folder.mkdir(exist_ok=True)
    for name, level in names.items():
        cv2.imwrite(str(folder / name), np.full((48, 64), level, np.uint8))
    return folder


def levels(spec: str) -> list[int]:
    """The gray level of each frame of a sequence, as the source reads them."""
    with open_source(spec) as source:
        return [int(np.asarray(frame.to_ndarray(format="gray"))[0, 0]) for frame in source.frames()]


@pytest.mark.parametrize("pattern", ["%04d.png", "*.png"])
def test_an_output_that_is_a_file_of_the_input_sequence_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    folder = write_frames(tmp_path / "seq", {f"{n:04d}.png": 10 * n for n in (1, 2, 3)})
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    for output in (folder / "0003.png", folder / "." / "0002.png"):
        result = invoke("transcode", folder / pattern, output, *PNG_OUTPUT)
        line = assert_one_line(result.stderr, result.exit_code, 2)
        assert line == (
            f"livethresh: error: output {str(output)!r} is one of the 3 input files; choose "
            "another output path"
        )
    os.link(folder / "0001.png", tmp_path / "linked.png")  # the same file by another name
    result = invoke("transcode", folder / pattern, tmp_path / "linked.png", *PNG_OUTPUT)
    line = assert_one_line(result.stderr, result.exit_code, 2, "one of the 3 input files")
    assert f"(as {str(folder / '0001.png')!r})" in line
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_the_files_of_an_input_are_what_it_reads(tmp_path: Path) -> None:
    folder = write_frames(tmp_path / "seq", {"0001.png": 1, "0002.png": 2, "0009.png": 9})
    (folder / "notes.png").write_bytes(b"")  # not a number the pattern writes
    (folder / "01.png").write_bytes(b"")  # not written by %04d
    assert input_files(str(folder / "%04d.png")) == [
        folder / "0001.png",
        folder / "0002.png",
        folder / "0009.png",
    ]
    assert input_files(str(folder / "0*.png")) == [
        folder / "0001.png",
        folder / "0002.png",
        folder / "0009.png",
        folder / "01.png",
    ]
    assert input_files(str(folder / "0001.png")) == [folder / "0001.png"]
    assert input_files("testsrc2") == input_files("udp://127.0.0.1:5000") == []


def test_a_numbered_sequence_with_a_gap_is_read_past_it_with_a_warning(tmp_path: Path) -> None:
    folder = write_frames(tmp_path / "seq", {f"{n:04d}.png": 10 * n for n in (1, 2, 5, 6)})
    result = invoke("transcode", folder / "%04d.png", tmp_path / "out.mkv", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"livethresh: warning: image sequence '{folder}/%04d.png' has gaps, the first at "
        f"{folder}/0003.png: its 4 files are read in number order, one frame each"
    ]
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert container.streams.video[0].frames in (0, 4)
        assert len(list(container.decode(video=0))) == 4


@pytest.mark.parametrize(
    ("pattern", "numbers"),
    [
        ("%04d.png", [0, 1, 2, 7, 9, 10, 11]),
        ("f%d.png", [1, 2, 5, 9, 10, 12, 100, 101]),  # by number, not by name: f100 after f12
        ("[x] {%03d}.png", [3, 4, 8, 1000]),  # glob characters in the name are literal
    ],
)
def test_the_files_of_a_sequence_with_gaps_come_in_number_order(
    tmp_path: Path, pattern: str, numbers: list[int]
) -> None:
    folder = write_frames(tmp_path / "s", {pattern % n: 2 * n % 256 for n in numbers})
    (folder / "f01.png").write_bytes(b"not a frame of f%d.png")
    assert levels(str(folder / pattern)) == [2 * n % 256 for n in numbers]


def test_a_sequence_without_gaps_is_left_to_ffmpeg(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_frames(tmp_path / "seq", {f"{n:04d}.png": n for n in (1, 2, 3)})
    spec = parse_spec(str(folder / "%04d.png"))
    with caplog.at_level(logging.WARNING):
        assert continue_past_gaps(spec) is spec
    assert caplog.records == []


def test_a_gap_a_glob_cannot_follow_is_named_where_the_sequence_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = write_frames(tmp_path / "seq", {f"{n}_{n}.png": n for n in (1, 2, 4)})
    spec = parse_spec(str(folder / "%d_%d.png"))
    with caplog.at_level(logging.WARNING):
        assert continue_past_gaps(spec) is spec
    assert [record.getMessage() for record in caplog.records] == [
        f"image sequence '{folder}/%d_%d.png' stops at its first gap, {folder}/3_3.png: 2 of "
        "its 3 files are read; number the files without gaps to read them all"
    ]


# -- read by every command ---------------------------------------------------------------------


@pytest.fixture
def frames_folder(tmp_path: Path) -> Path:
    """Twelve numbered PNG frames starting at 1, as exported by an editor."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in range(1, 13):
        cv2.imwrite(str(folder / f"{number:04d}.png"), document_frame(48, 64, seed=number))
    return folder


@pytest.mark.parametrize(("pattern", "rate"), [("%04d.png", 10), ("*.png", None)])
def test_an_image_sequence_transcodes_at_its_rate(
    frames_folder: Path, tmp_path: Path, pattern: str, rate: int | None
) -> None:
    out = tmp_path / "out.mkv"
    args = ["transcode", frames_folder / pattern, out, "--json"]
    result = invoke(*args, *(["--rate", rate] if rate else []))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["frames"] == 12
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(f.time) for f in container.decode(stream)]
    step = 1 / (rate or 25)  # FFmpeg's default rate for a sequence
    assert len(times) == 12
    assert times == pytest.approx([i * step for i in range(12)], abs=1e-3)


def test_bench_reads_an_image_sequence(frames_folder: Path) -> None:
    result = invoke("bench", frames_folder / "%04d.png", "--rate", "5")
    assert result.exit_code == 0, result.output
    assert "64x48" in result.stdout and "5 fps" in result.stdout
    assert "12 frames" in result.stdout


def test_a_sequence_without_its_first_frame_is_a_clear_error(
    frames_folder: Path, tmp_path: Path
) -> None:
    line = one_line(invoke("transcode", frames_folder / "%03d.png", tmp_path / "out.mkv"))
    assert f"image sequence '{frames_folder}/%03d.png' has no first frame: none of " in line
    assert f"{frames_folder}/000.png ... {frames_folder}/004.png exists" in line
    line = one_line(invoke("bench", frames_folder / "*.jpg"))
    assert "no file matches the image sequence" in line
    assert not (tmp_path / "out.mkv").exists()
