"""What every benchmark shares: rotating rounds, child-process runs that report JSON, peak RSS,
medians and ratios, and a line that says on what machine the numbers were taken.

The machine is noisy (2 cores, other jobs), so a benchmark never trusts one run: each round
runs every variant once, in an order that rotates round by round so that noise hits them alike,
and the report gives medians and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

Sample = dict[str, Any]


def rotating_rounds(
    variants: dict[str, Callable[[], Sample]], rounds: int, *, progress: bool = True
) -> dict[str, list[Sample]]:
    """Run every variant once per round, the order rotated each round; samples by variant."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(variants[name]())
        if progress:
            print(f"round {index + 1}/{rounds} done", file=sys.stderr)
    return samples


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None) -> Sample:
    """Run ``python ARGV...`` in a fresh process; its last stdout line is a JSON object.

    The child's own peak RSS (from ``wait4``, so not mixed with other children's) is added as
    ``peak_rss_mib``.

    Raises:
        SystemExit: The child failed (its stderr is shown).
    """
    child = subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    streams: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda n=name, s=stream: streams.__setitem__(n, s.read()))
        for name, stream in (("out", child.stdout), ("err", child.stderr))
    ]
    for reader in readers:
        reader.start()
    # wait4 reaps this child alone and returns its own resource usage.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{streams['err']}")
    sample: Sample = json.loads(streams["out"].strip().splitlines()[-1])
    sample.setdefault("peak_rss_mib", usage.ru_maxrss / 1024)
    return sample


def peak_rss_mib() -> float:
    """This process's peak resident memory, for a child to report about itself."""
    import resource

    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(samples: list[Sample], key: str) -> float:
    """The median of one measured value over the rounds."""
    return float(statistics.median(float(s[key]) for s in samples))


def ratios(medians: dict[str, float], baseline: str) -> dict[str, float]:
    """Each variant's median divided by the baseline's (same run, same rounds)."""
    return {name: value / medians[baseline] for name, value in medians.items()}


def machine() -> str:
    """One line: cores, load, Python and the libraries the numbers depend on."""
    import av
    import cv2
    import numpy

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({platform.machine()}), load {load:.1f}, "
        f"Python {platform.python_version()}, OpenCV {cv2.__version__}, PyAV {av.__version__}, "
        f"numpy {numpy.__version__}"
    )
