"""The method table: every method class has its line, and every line loads its method."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import livethresh.binarize
from livethresh.binarize.registry import (
    METHODS,
    Method,
    available_methods,
    method_class,
    method_defaults,
    method_descriptions,
)
from livethresh.config import ThresholdConfig
from livethresh.errors import ConfigError


def all_subclasses(cls: type[Method]) -> set[type[Method]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


def method_classes_in_the_package() -> set[type[Method]]:
    """Every concrete Method subclass of livethresh.binarize's modules, each module imported.

    A class without a ``name`` of its own is a base shared by several methods (LocalMean,
    LocalStatistics), not a method; test modules' own subclasses are not the package's.
    """
    package = livethresh.binarize
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
    return {
        cls
        for cls in all_subclasses(Method)
        if cls.__module__.startswith(package.__name__ + ".") and "name" in vars(cls)
    }


def not_in_the_table(classes: set[type[Method]]) -> set[str]:
    """The ``module:Class`` of each class whose name has no line, or a line pointing elsewhere."""
    where = {cls: f"{cls.__module__}:{cls.__qualname__}" for cls in classes}
    return {line for cls, line in where.items() if METHODS.get(cls.name) != line}


def test_every_method_class_has_its_line_in_the_table() -> None:
    classes = method_classes_in_the_package()
    assert len(classes) >= len(METHODS)  # the walk sees the methods
    missing = not_in_the_table(classes)
    assert not missing, f"add to livethresh.binarize.registry.METHODS: {sorted(missing)}"


@pytest.mark.parametrize("name", list(METHODS))
def test_every_line_loads_a_method_of_its_name(name: str) -> None:
    cls = method_class(name)
    assert issubclass(cls, Method)
    assert vars(cls).get("name") == name, f"{METHODS[name]} is named {cls.name!r}"
    assert vars(cls).get("description", "").strip(), f"{METHODS[name]} has no description"
    assert set(cls.defaults) <= set(cls.settings), "a default for a setting it does not read"


def test_the_walk_skips_bases_and_the_check_sees_a_class_without_its_line() -> None:
    from livethresh.binarize.document import LocalStatistics, Sauvola
    from livethresh.binarize.opencv import Gaussian, LocalMean

    classes = method_classes_in_the_package()
    assert {Gaussian, Sauvola} <= classes
    assert not {LocalMean, LocalStatistics} & classes

    class Unlisted(Method):
        name = "unlisted"

    class Misnamed(Method):
        name = "otsu"

    assert not_in_the_table({Gaussian, Unlisted, Misnamed}) == {
        f"{__name__}:{cls.__qualname__}" for cls in (Unlisted, Misnamed)
    }


def test_config_validates_against_the_table() -> None:
    assert available_methods() == list(METHODS)
    for name in METHODS:
        assert ThresholdConfig(method=name).method == name
    with pytest.raises(ConfigError, match=r"invalid method 'nope': must be one of fixed, otsu"):
        ThresholdConfig(method="nope")
    with pytest.raises(ConfigError, match="invalid method 'nope'"):
        method_class("nope")


def test_help_and_tuning_cover_every_method() -> None:
    assert list(method_descriptions()) == list(METHODS)
    assert method_defaults("k")["sauvola"] == method_class("sauvola").defaults["k"]
