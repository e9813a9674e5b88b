"""Preset files: where they are found by name, how they are read, how settings are written.

A preset is a TOML file of threshold settings plus a one-line ``description``. The ones shipped
with livethresh live in the package's ``configs`` folder (the repository's ``configs/`` when
run from a checkout); any other is given by its path. Which keys a preset may hold, and what
their values may be, is :mod:`livethresh.config`'s to check.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from livethresh.errors import ConfigError


def preset_dirs() -> list[Path]:
    """Folders searched for presets by name: the copy shipped in the package, then the repo's."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "configs", here.parent / "configs") if d.is_dir()]


def iter_presets() -> Iterator[tuple[str, Path]]:
    """Yield ``(name, path)`` for every preset found by name, first folder winning."""
    seen: set[str] = set()
    for folder in preset_dirs():
        for path in sorted(folder.glob("*.toml")):
            if path.stem not in seen:
                seen.add(path.stem)
                yield path.stem, path


def find_preset(name_or_path: str) -> Path:
    """Locate a preset given as a name (``article``) or as a path to a TOML file.

    Raises:
        ConfigError: Nothing of that name or path exists.
    """
    candidate = Path(name_or_path).expanduser()
    looks_like_path = candidate.suffix == ".toml" or len(candidate.parts) > 1
    if candidate.is_dir():
        raise ConfigError(
            f"preset {name_or_path!r} is a directory; give a preset's .toml file or a preset name"
        )
    if looks_like_path or candidate.is_file():
        if candidate.is_file():
            return candidate
        raise ConfigError(f"preset file {name_or_path!r} does not exist")
    for name, path in iter_presets():
        if name == name_or_path:
            return path
    known = ", ".join(name for name, _ in iter_presets()) or "none found"
    raise ConfigError(
        f"unknown preset {name_or_path!r}: use one of {known}, or the path of a .toml file"
    )


def load_toml(path: Path) -> dict[str, Any]:
    """A preset file's contents, as TOML gives them.

    Raises:
        ConfigError: The file cannot be read or is not valid TOML.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read preset {str(path)!r}: {exc}") from exc


def render_toml(values: Mapping[str, Any], description: str = "") -> str:
    """Settings as a preset file's text; TOML has no null, so an unset setting is left out."""
    lines = [f"description = {_toml_value(description)}"] if description else []
    lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(value)
