"""Load: 10,000 frames through the live pipeline with flat memory and no leaked threads or fds.

The CI run uses small frames so that it takes seconds; ``benchmarks/soak.py`` without options
is the full-size run (see the README for its numbers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc (Linux)")
def test_ten_thousand_live_frames_keep_memory_flat_and_leak_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "soak.py"),
            "--frames",
            "10000",
            "--size",
            "64x48",
            "--rate",
            "2000",
            "--runs",
            "20",
            "--max-growth-mb",
            "4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["failures"] == [], report
    assert done.returncode == 0
    assert report["frames_read"] == 10_000
    assert report["frames_written"] + report["dropped"] == 10_000  # every frame accounted for
    assert report["frames_written"] > 1000  # the sink really saw the run, not just drops
    assert report["rss_growth_mb"] <= 4
    assert report["threads_after"] == report["threads_before"]
    assert report["fds_after"] == report["fds_before"] == report["fds_after_runs"]


def test_soak_detects_a_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """The leak checks can fail: an extra open file shows up as a leaked descriptor."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import soak
    finally:
        sys.path.pop(0)
    leaked = []
    real_run_once = soak.run_once

    def leaky(*args: object) -> object:
        leaked.append(open(__file__))  # noqa: SIM115 - the leak under test
        return real_run_once(*args)

    monkeypatch.setattr(soak, "run_once", leaky)
    try:
        report = soak.soak(frames=200, size="32x24", rate=2000, warmup=50, sample_every=10, runs=2)
    finally:
        for handle in leaked:
            handle.close()
    assert any("file descriptors" in problem for problem in report.leaks)
