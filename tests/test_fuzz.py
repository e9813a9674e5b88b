"""A short, bounded fuzz run in CI; ``benchmarks/fuzz.py`` runs longer ones on demand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_short_fuzz_run_has_no_crash_and_no_hang():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "fuzz.py"),
            "--iterations",
            "1500",
            "--seed",
            "7",
            "--case-timeout",
            "30",
            "--budget",
            "150",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    report = json.loads(result.stdout)
    assert report["crashes"] == [] and report["hangs"] == [], result.stdout
    assert result.returncode == 0
    assert report["cases"] >= 300
    assert report["ok"] > 0 and report["refused"] > 0  # both paths were exercised


def test_mutator_is_reproducible_and_changes_the_input():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import random

        import fuzz
    finally:
        sys.path.pop(0)
    data = bytes(range(256)) * 4
    assert fuzz.mutate(data, random.Random(3)) == fuzz.mutate(data, random.Random(3))
    assert any(fuzz.mutate(data, random.Random(s)) != data for s in range(10))
