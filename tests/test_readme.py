"""The README's library example runs as written (media generated here, in a temporary folder)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import pytest

from livethresh.synthetic import document_photo, write_document_clip

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


@pytest.mark.slow
def test_the_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = python_blocks("Library")
    page, _ = document_photo(240, 320)
    cv2.imwrite(str(tmp_path / "page.jpg"), page)
    write_document_clip(tmp_path / "talk.mp4", frames=15)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["mask"].shape == page.shape  # type: ignore[attr-defined]
    assert os.path.getsize(tmp_path / "masks.mp4") > 0
    exec(compile(code, "README.md", "exec"), namespace)  # twice: overwrite=True
