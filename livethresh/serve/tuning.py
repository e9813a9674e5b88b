"""Live tuning from the browser: settings as JSON in and out, and what the page's controls need.

The page builds its controls from :func:`method_table` (served as ``/api/methods``): which
settings exist and their kind, come from :class:`~livethresh.config.ThresholdConfig`'s fields;
which method uses which, and each method's own defaults, from the method table. A new
setting or method therefore appears on the page without touching its JavaScript. Changes go
through :func:`~livethresh.config.apply_changes`, the validation of the command line and the
presets, so a refused value reads as it would on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import reprlib
import typing
from typing import Any

from livethresh.binarize import available_methods, method_class
from livethresh.config import ThresholdConfig, apply_changes
from livethresh.errors import ConfigError

#: How the page draws a setting beyond what its type says: slider ranges a hand needs (any
#: valid value may still be typed), a list of choices, a label. Validation stays in the config.
CONTROL_HINTS: dict[str, dict[str, Any]] = {
    "block_size": {"label": "block size", "min": 3, "max": 101, "step": 2},
    "c": {"label": "C", "min": -20, "max": 20, "step": 0.5},
    "threshold": {"min": 0, "max": 255, "step": 1},
    "blur": {"choices": [0, 1, *range(3, 32, 2)]},
    "k": {"min": -1, "max": 1, "step": 0.01},
    "r": {"label": "R", "min": 1, "max": 255, "step": 0.5},
    "p": {"min": 0, "max": 5, "step": 0.1},
    "q": {"min": 0, "max": 50, "step": 0.5},
    "t": {"label": "t (%)", "min": 0, "max": 99, "step": 0.5},
    "stabilize_gate": {"label": "stabilize gate", "min": 1, "max": 32, "step": 1},
    "min_edges": {"label": "min edges", "min": 1, "max": 400, "step": 1},
    # An area in pixels or "auto": typed as text, normalised by the config.
    "despeckle": {"kind": "text", "label": "despeckle (px or auto)"},
    "auto_scale": {"label": "auto scale"},
}


class BadRequest(ValueError):
    """The request body is not a JSON object (an HTTP 400, not a refused value)."""


def control_table() -> list[dict[str, Any]]:
    """One control per setting, in the config's order: name, kind (choice, bool, int, float,
    text), whether it may be unset (null), its help line and the hints above."""
    types = typing.get_type_hints(ThresholdConfig)
    controls = []
    for field in dataclasses.fields(ThresholdConfig):
        kinds = [t for t in typing.get_args(types[field.name]) or [types[field.name]]]
        kind = next((k for k in (bool, int, float) if k in kinds), str)
        control: dict[str, Any] = {
            "name": field.name,
            "kind": {bool: "bool", int: "int", float: "float"}.get(kind, "text"),
            "label": field.name,
            "optional": type(None) in kinds,
            "help": field.metadata.get("help", ""),
            **CONTROL_HINTS.get(field.name, {}),
        }
        if field.name == "method":
            control["kind"], control["choices"] = "choice", available_methods()
        controls.append(control)
    return controls


def method_table() -> dict[str, Any]:
    """The methods with the settings each reads and its own defaults, and the controls."""
    methods = []
    for name in available_methods():
        method = method_class(name)
        methods.append(
            {
                "name": name,
                "description": method.description,
                "settings": list(method.settings),
                "defaults": dict(method.defaults),
            }
        )
    return {"methods": methods, "controls": control_table()}


def changed_config(config: ThresholdConfig, body: bytes) -> ThresholdConfig:
    """``config`` with the partial JSON object ``body`` applied and validated.

    Raises:
        BadRequest: ``body`` is not a JSON object (or is nested too deeply to read).
        ConfigError: An unknown setting or an invalid value, worded as on the command line;
            a value that makes the validation itself fail too.
    """
    try:
        changes = json.loads(body)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the body is not valid settings: its JSON is nested too deeply") from None
    if not isinstance(changes, dict):
        raise BadRequest('the body must be a JSON object of settings, e.g. {"block_size": 15}')
    try:
        return apply_changes(config, changes)
    except ConfigError:
        raise
    except Exception as exc:
        # A value the validation did not foresee: refused like any invalid one, never a 500.
        raise ConfigError(_refusal(config, changes, exc)) from None


def _refusal(config: ThresholdConfig, changes: dict[str, Any], exc: Exception) -> str:
    """Why ``changes`` were refused, naming the setting whose value raised ``exc``."""
    for name, value in changes.items():
        try:
            config.replace(**{name: value})
        except Exception as refused:
            if isinstance(refused, ConfigError):
                return str(refused)
            return f"invalid {name} {reprlib.repr(value)}: {refused}"
    return f"invalid settings {reprlib.repr(changes)}: {exc}"
