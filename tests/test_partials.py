"""``livethresh.partials``: which partial files a later run may clear (only those whose writer
is gone), and how a process deletes those it is writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from livethresh import files, partials


def test_only_partial_files_whose_writer_is_gone_are_leftovers(tmp_path: Path) -> None:
    out = tmp_path / "a.mp4"
    dead = tmp_path / partials.partial_name(out, "0123abcd")
    dead.write_bytes(b"a killed run's")
    others = [
        tmp_path / partials.partial_name(tmp_path / "b.mp4", "0123abcd"),  # another output's
        tmp_path / ".a.mp4.swp",  # not a partial file
        tmp_path / ".a.0123abcd.part.mkv",  # the same name in another container
    ]
    for path in others:
        path.write_bytes(b"keep")
    with files.atomic_output(out) as writing:
        writing.write_bytes(b"a running writer's")
        assert partials.leftover_partials([out]) == [dead]
        assert partials.remove_leftover_partials([out]) == [dead]
        assert writing.exists() and not dead.exists()
    assert out.read_bytes() == b"a running writer's"
    assert all(path.read_bytes() == b"keep" for path in others)


def test_abandon_partials_deletes_what_this_process_is_writing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), files.atomic_output(tmp_path / "a.mp4") as temp:
        temp.write_bytes(b"half")
        assert partials.abandon_partials() == [temp]
        assert not temp.exists()
    assert list(tmp_path.iterdir()) == []
    assert partials.abandon_partials() == []
