"""The install story: the README's commands, what CI runs, and the lock of tested versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
LOCK = ROOT / ".ci" / "constraints.txt"


def quick_start() -> list[str]:
    """The shell commands of the README's Quick start, in order."""
    body = README.split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return [
        line
        for block in re.findall(r"```bash\n(.*?)```", body, re.S)
        for line in block.splitlines()
    ]


def locked() -> dict[str, str]:
    """Package name -> the version .ci/constraints.txt pins."""
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_virtual_environment_comes_before_the_first_install() -> None:
    commands = quick_start()
    first_install = next(i for i, line in enumerate(commands) if "pip install" in line)
    assert any("-m venv" in line for line in commands[:first_install]), commands


def test_ci_runs_the_readmes_pinned_test_command_exactly() -> None:
    pinned = [line for line in quick_start() if "-c .ci/constraints.txt" in line]
    assert len(pinned) == 1 and "pytest" in pinned[0], pinned
    assert CI.rstrip().splitlines()[-1] == pinned[0]


def test_the_readme_also_tests_the_newest_releases() -> None:
    assert any("--upgrade" in line and "pytest" in line for line in quick_start())


def test_the_lock_pins_every_dependency_within_its_declared_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = locked()
    for text in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in .ci/constraints.txt: regenerate it (README)"
        assert requirement.specifier.contains(pins[name]), (name, pins[name], requirement)
