"""``livethresh.files``: what reaches the disk before an output takes its name, and where a
finished output goes when another file took its place meanwhile."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livethresh import files, partials
from livethresh.errors import OutputError


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
