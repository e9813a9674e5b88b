"""What the batch test modules share: ``livethresh batch`` run in this process and as a
subprocess of this checkout's package, and its JSON report read back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from livethresh.cli import app

runner = CliRunner()


def batch_command(*args: object) -> list[str]:
    """``livethresh batch ARGS`` as a subprocess of this checkout's package."""
    return [sys.executable, "-m", "livethresh", "batch", *map(str, args)]


def invoke(*args: object):
    return runner.invoke(app, ["batch", *map(str, args)])


def report_of(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def by_input(report: dict) -> dict[str, dict]:
    return {item["input"]: item for item in report["inputs"]}


def by_name(report: dict) -> dict[str, dict]:
    return {Path(item["input"]).name: item for item in report["inputs"]}
