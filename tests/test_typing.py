"""The package type-checks under ``mypy --strict`` (settings in pyproject.toml's [tool.mypy])."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_package_passes_mypy_strict():
    if importlib.util.find_spec("mypy") is None:
        message = "mypy is not installed; pip install '.[test]' installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Run from the project root so that mypy reads pyproject.toml and checks the source tree.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "livethresh"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
