"""``livethresh.files``: what reaches the disk before an output takes its name, where a finished
output goes when another file took its place meanwhile, and what the commands say when the
output's folder is missing, locked or renamed, its disk full, or its reader gone."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import av
import cv2
import pytest

from livethresh import ThresholdConfig, files, partials
from livethresh.errors import OutputError
from livethresh.transcode import transcode
from tests.clips import Coding, Picture, Tone, make_video, video_frames
from tests.helpers import (
    HANG,
    assert_one_line,
    digest,
    document_frame,
    invoke,
    run_cli,
    start_cli,
    wait_for_partial_output,
)


def record_disk_steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record ``os.fsync`` (of a file, by name, or of a folder), ``os.replace`` and ``os.link``
    as ``atomic_output`` calls them, in order."""
    steps: list[tuple[str, str]] = []
    real_fsync, real_replace, real_link = os.fsync, os.replace, os.link

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            steps.append(("fsync folder", os.readlink(f"/proc/self/fd/{fd}")))
        else:
            steps.append(("fsync file", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        steps.append(("replace", Path(src).name))
        real_replace(src, dst)

    def link(src: str | Path, dst: str | Path) -> None:
        steps.append(("link", Path(src).name))
        real_link(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    monkeypatch.setattr(files.os, "link", link)
    return steps


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names descriptors via /proc")
@pytest.mark.parametrize(("overwrite", "rename"), [(True, "replace"), (False, "link")])
def test_an_output_is_on_disk_before_its_name_and_its_name_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overwrite: bool, rename: str
) -> None:
    out = tmp_path / "out.mkv"
    if overwrite:
        out.write_bytes(b"old")
    steps = record_disk_steps(monkeypatch)
    with files.atomic_output(out, overwrite=overwrite) as temp:
        temp.write_bytes(b"masks")
    assert out.read_bytes() == b"masks"
    assert steps == [
        ("fsync file", temp.name),  # the data, under the temporary name
        (rename, temp.name),  # then the final name
        ("fsync folder", str(tmp_path)),  # then the folder entry that holds it
    ]


def test_a_failed_write_syncs_and_renames_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = record_disk_steps(monkeypatch)
    with pytest.raises(RuntimeError), files.atomic_output(tmp_path / "out.mkv") as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("the encoder broke")
    assert steps == [] and list(tmp_path.iterdir()) == []


def test_a_finished_output_kept_beside_a_taken_place_is_no_partial_file(tmp_path: Path) -> None:
    out = tmp_path / "a.mp4"
    appeared = "appeared while livethresh was writing"
    with pytest.raises(OutputError, match=appeared) as caught, files.atomic_output(out) as temp:
        temp.write_bytes(b"ours")
        out.write_bytes(b"theirs")
    (kept,) = [p for p in tmp_path.iterdir() if p != out]
    assert kept.name.startswith(".a.") and kept.name.endswith(".kept.mp4")
    assert kept.read_bytes() == b"ours" and str(kept) in str(caught.value)
    assert partials.remove_leftover_partials([out]) == [] and kept.exists()
    assert partials.abandon_partials() == []  # this process writes nothing any more


# -- outputs through the commands: missing, locked, full, gone, renamed, raced -----------------


def test_output_in_a_missing_folder(clip: Path, tmp_path: Path) -> None:
    result = invoke("transcode", clip, tmp_path / "no" / "such" / "out.mp4")
    assert_one_line(result.stderr, result.exit_code, 2, "does not exist; create it first")


def test_output_folder_not_writable(clip: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root may write in any folder whatever its mode: use one no one can create files in.
        target = Path("/proc/masks.mp4")
        message = "cannot create a file in '/proc'"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        target = locked / "masks.mp4"
        message = "is not writable"
    result = invoke("transcode", clip, target)
    assert_one_line(result.stderr, result.exit_code, 2, message)
    assert not target.exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_device_is_written_in_place_and_fails_cleanly(clip: Path, tmp_path: Path) -> None:
    device = os.stat("/dev/full")
    # A device is written in place (a rename would replace the device node itself), so it
    # needs no -y; /dev/full answers every write with ENOSPC.
    result = invoke("transcode", clip, "/dev/full", "--format", "matroska")
    assert_one_line(
        result.stderr, result.exit_code, 2, "No space left on device", "free some space"
    )
    link = tmp_path / "masks.mkv"
    link.symlink_to("/dev/full")
    result = invoke("transcode", clip, link, "-y")  # through a symlink: the same
    assert_one_line(result.stderr, result.exit_code, 2, "No space left on device")
    assert link.is_symlink() and os.readlink(link) == "/dev/full"
    after = os.stat("/dev/full")
    assert (after.st_ino, after.st_rdev) == (device.st_ino, device.st_rdev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mkv", "masks.mkv"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_still_image_on_a_full_device_fails_cleanly(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    cv2.imwrite(str(page), document_frame(64, 64))
    link = tmp_path / "mask.png"
    link.symlink_to("/dev/full")
    result = invoke("image", page, link, "-y")
    assert_one_line(
        result.stderr, result.exit_code, 2, "No space left on device", "free some space"
    )
    assert link.is_symlink() and os.readlink(link) == "/dev/full"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_stdout_on_a_full_disk(clip: Path) -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "livethresh", "transcode", clip, "-"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=HANG,
        )
    assert_one_line(
        done.stderr, done.returncode, 2, "cannot write the output", "No space left on device"
    )


def test_stdout_reader_that_goes_away(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mkv", Picture(size=(320, 240), frames=200))
    child = subprocess.Popen(
        [sys.executable, "-m", "livethresh", "transcode", source, "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.read(1000)
    child.stdout.close()  # like `| head -c 1000`
    try:
        stderr = child.stderr.read().decode()
        child.wait(timeout=HANG)
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("transcode hung after its reader went away")
    assert_one_line(
        stderr, child.returncode, 2, "Broken pipe", "the reader of the output went away"
    )


def limit_file_size() -> None:
    """In the child: files may not grow past 200 kB, as on a disk that fills up mid-run.

    Python ignores SIGXFSZ, so a write past the limit fails with EFBIG like ENOSPC would.
    """
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_disk_filling_up_mid_run_leaves_no_broken_file(tmp_path: Path, suffix: str) -> None:
    source = make_video(
        tmp_path / "in.mkv",
        Picture(size=(320, 240), frames=60),
        coding=Coding(codec="ffv1", pix_fmt="gray"),
    )
    before = digest(source)
    out = tmp_path / f"out{suffix}"
    out.write_bytes(b"the previous version")
    done = run_cli("transcode", source, out, "-y", "--codec", "ffv1", preexec_fn=limit_file_size)
    assert_one_line(
        done.stderr,
        done.returncode,
        2,
        "cannot ",
        "File too large",
        "free some space or write to another disk",
    )
    # The half-written file is not put in place: the old one stays, and no temporary is left.
    assert out.read_bytes() == b"the previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", out.name]
    assert digest(source) == before


def test_symlinked_output_writes_where_the_link_points(clip: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.bin"  # the container comes from OUTPUT's name, not the target's
    real.write_bytes(b"old")
    link = tmp_path / "masks.mp4"
    link.symlink_to(real.name)
    result = invoke("transcode", clip, link, "-y")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and len(video_frames(real)) == 10
    with av.open(str(real)) as container:
        assert "mp4" in container.format.name


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_a_renamed_output_folder_leaves_no_partial_file_and_is_named(
    tmp_path: Path, name: str
) -> None:
    folder, moved = tmp_path / "results", tmp_path / "elsewhere"
    folder.mkdir()

    def rename_once(frames: int) -> None:
        if folder.exists():
            folder.rename(moved)

    with pytest.raises(OutputError) as caught:
        transcode(
            "testsrc2=size=64x48",
            str(folder / name),
            ThresholdConfig(),
            max_frames=10,
            on_progress=rename_once,
            handle_signals=False,
        )
    assert f"output folder {str(folder)!r} was renamed or removed" in str(caught.value)
    assert list(moved.iterdir()) == []


def test_an_output_that_appears_mid_write_is_never_replaced(tmp_path: Path) -> None:
    """Without overwrite, the finished file is not renamed over one that appeared meanwhile."""
    from livethresh.files import atomic_output

    out = tmp_path / "mask.png"
    appeared = "appeared while livethresh was writing it"
    with pytest.raises(OutputError, match=appeared) as caught, atomic_output(out) as temp:
        temp.write_bytes(b"ours")
        out.write_bytes(b"theirs")  # another program creates OUTPUT meanwhile
    assert out.read_bytes() == b"theirs"
    (kept,) = [p for p in tmp_path.iterdir() if p != out]
    assert kept.read_bytes() == b"ours" and str(kept) in str(caught.value)
    with atomic_output(out, overwrite=True) as temp:  # allowed: replaced by the finished file
        temp.write_bytes(b"replaced")
    assert out.read_bytes() == b"replaced"


def test_without_hard_links_the_no_replace_rename_keeps_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File systems with no hard links (FAT, some shares) use renameat2(RENAME_NOREPLACE)."""

    def no_links(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", no_links)
    out = tmp_path / "out.bin"
    with files.atomic_output(out) as temp:
        temp.write_bytes(b"first")
    assert out.read_bytes() == b"first"
    temp = tmp_path / ".out.x.part.bin"
    temp.write_bytes(b"second")
    assert files._place_without_replacing(temp, out) is False
    assert out.read_bytes() == b"first" and temp.read_bytes() == b"second"


@pytest.mark.slow
def test_a_file_created_at_output_during_a_transcode_survives(tmp_path: Path) -> None:
    """The run that finds its OUTPUT taken at the end exits 2 in one line and keeps its file."""
    source = make_video(
        tmp_path / "in.mkv", Picture(size=(320, 240), frames=400), audio=Tone("aac")
    )
    out = tmp_path / "out.mkv"
    process = start_cli("transcode", source, out, "--encoder-preset", "veryslow")
    wait_for_partial_output(tmp_path, 20_000, process)
    out.write_bytes(b"someone else's file")
    _, stderr = process.communicate(timeout=120)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, stderr
    assert "appeared while livethresh was writing it" in lines[0]
    assert out.read_bytes() == b"someone else's file"
    (kept,) = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert str(kept) in lines[0] and len(video_frames(kept)) == 400


@pytest.mark.slow
def test_simultaneous_transcodes_to_one_new_path_keep_every_result(tmp_path: Path) -> None:
    """Four runs race for one new OUTPUT: exactly one reports it wrote it; the others exit 2."""
    source = make_video(tmp_path / "in.mp4", Picture(size=(320, 240), frames=120))
    out = tmp_path / "out.mp4"
    runs = [start_cli("transcode", source, out) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in runs]  # type: ignore[union-attr]
    assert sorted(code for code, _ in results) == [0, 2, 2, 2], results
    raced = 0
    for code, stderr in results:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in stderr
        if code == 2:
            # Found at the start (refused before writing) or appeared meanwhile (kept aside).
            assert "already exists" in lines[0] or "appeared while" in lines[0], lines
            raced += "appeared while" in lines[0]
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    assert len(kept) == raced
    for path in [out, *kept]:
        assert len(video_frames(path)) == 120  # every result is finished and playable
