"""A plain (non-editable) install ships the presets and the console script works from it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("livethresh-*.whl"))


@pytest.mark.slow
def test_wheel_contains_package_presets_and_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    presets = {Path(n).name for n in names if n.startswith("livethresh/configs/")}
    assert {p.name for p in (ROOT / "configs").glob("*.toml")} == presets
    assert "livethresh/py.typed" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "livethresh = livethresh.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_contains_the_browser_views_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    page = {f"livethresh/serve/static/{name}" for name in ("index.html", "app.js", "style.css")}
    assert page <= names


@pytest.mark.slow
def test_wheel_contains_the_learned_methods_network(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "livethresh/binarize/weights/learned.onnx" in names


@pytest.mark.slow
def test_presets_load_by_name_from_an_installed_copy(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import livethresh, livethresh.config as c, livethresh.presets as p; "
        "print(livethresh.__file__); print(c.load_preset('document').block_size); "
        "print([str(d) for d in p.preset_dirs()])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": ""},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    module, block, dirs = result.stdout.splitlines()
    assert module.startswith(str(target))
    shipped = tomllib.loads((ROOT / "configs" / "document.toml").read_text(encoding="utf-8"))
    assert block == str(shipped["block_size"])  # the installed copy's preset, read by name
    assert str(ROOT) not in dirs
