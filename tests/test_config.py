"""Settings validation, presets and the defaults < preset < command-line layering."""

from __future__ import annotations

import pytest

from livethresh.config import (
    ThresholdConfig,
    load_preset,
    read_preset,
    resolve,
    to_toml,
)
from livethresh.errors import ConfigError
from livethresh.presets import iter_presets


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"block_size": 4}, r"invalid block_size 4: must be an odd integer from 3 to 255"),
        ({"block_size": 1}, r"invalid block_size 1"),
        ({"block_size": 11.0}, r"invalid block_size 11.0"),
        ({"block_size": True}, r"invalid block_size True"),
        ({"blur": 4}, r"invalid blur 4: must be 0 \(no blur\) or an odd integer from 1 to 63"),
        ({"blur": -1}, r"invalid blur -1"),
        ({"blur": 10001}, r"invalid blur 10001: .* from 1 to 63"),
        (
            {"block_size": 10001, "method": "mean"},
            r"invalid block_size 10001: must be an odd integer from 3 to 1001$",
        ),
        (
            {"block_size": 257},
            r"invalid block_size 257: must be an odd integer from 3 to 255 with gaussian",
        ),
        ({"method": "sharpen"}, r"invalid method 'sharpen': must be one of fixed, otsu, mean"),
        ({"c": float("nan")}, r"invalid c nan: must be a finite number"),
        ({"c": "2"}, r"invalid c '2'"),
        ({"threshold": 256}, r"invalid threshold 256: must be a number from 0 to 255"),
        ({"invert": 1}, r"invalid invert 1: must be true or false"),
    ],
)
def test_bad_values_name_setting_value_and_what_is_allowed(changes, message):
    with pytest.raises(ConfigError, match=message):
        ThresholdConfig(**changes)


def test_config_error_is_also_a_value_error():
    with pytest.raises(ValueError):
        ThresholdConfig(block_size=2)


def test_defaults_are_the_article_pipeline():
    assert load_preset("article") == ThresholdConfig()
    config = ThresholdConfig()
    assert (config.method, config.block_size, config.blur) == ("gaussian", 11, 7)


def test_presets_article_and_document_ship_and_load_by_name():
    names = dict(iter_presets())
    assert {"article", "document"} <= set(names)
    for name in names:
        load_preset(name)
        assert read_preset(name)[1], f"preset {name} has no description"


def test_layering_defaults_preset_command_line():
    doc = load_preset("document")
    assert doc != ThresholdConfig()
    layered = resolve(preset="document", overrides={"block_size": 15, "c": None})
    assert layered.block_size == 15
    assert layered.c == doc.c  # None means "not given": the preset's value stays


def test_preset_by_path_and_round_trip(tmp_path):
    config = ThresholdConfig(method="mean", block_size=25, c=-3.5, invert=True, blur=0)
    path = tmp_path / "mine.toml"
    path.write_text(to_toml(config, description='my "scene"'))
    assert load_preset(str(path)) == config
    assert read_preset(str(path))[1] == 'my "scene"'


def test_preset_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown preset 'nope': use one of .*article"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_preset(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("block_size = 3\ncolour = 'red'\n")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_preset(str(bad))
    broken = tmp_path / "broken.toml"
    broken.write_text("block_size = = 3\n")
    with pytest.raises(ConfigError, match="cannot read preset"):
        load_preset(str(broken))
    even = tmp_path / "even.toml"
    even.write_text("block_size = 8\n")
    with pytest.raises(ConfigError, match="invalid block_size 8"):
        load_preset(str(even))


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve(overrides={"colour": 1})


def test_costly_settings_are_bounded_at_their_measured_limits():
    """The limits themselves pass; the cheap methods take wide windows the gaussian one may not."""
    assert ThresholdConfig(blur=63).blur == 63
    assert ThresholdConfig(block_size=255).block_size == 255
    assert ThresholdConfig(method="sauvola", block_size=1001).block_size == 1001
    with pytest.raises(ConfigError, match="from 3 to 255 with gaussian"):
        ThresholdConfig(method="sauvola", block_size=1001).replace(method="gaussian")


NUMERIC_SETTINGS = (
    "block_size",
    "c",
    "threshold",
    "blur",
    "k",
    "r",
    "p",
    "q",
    "t",
    "stabilize_gate",
    "min_edges",
    "despeckle",
)
STRANGE_NUMBERS = (
    float("nan"),
    float("inf"),
    float("-inf"),
    10**400,
    -(10**400),
    1e308,
    "²",
    "٣",
    "1e3",
    " 7 ",
)


@pytest.mark.parametrize("name", NUMERIC_SETTINGS)
def test_every_numeric_setting_is_accepted_or_refused_with_a_config_error(name):
    """Unicode digits, NaN, infinities and huge numbers never escape as another exception."""
    for value in STRANGE_NUMBERS:
        try:
            config = ThresholdConfig(method="su" if name == "min_edges" else "phansalkar")
            config.replace(**{name: value})
        except ConfigError as exc:
            assert len(str(exc).splitlines()) == 1 and len(str(exc)) < 200, str(exc)


@pytest.mark.parametrize("value", ["²", "٣", "10" * 200, "-5", "1.5"])
def test_despeckle_takes_ascii_digits_only(value):
    with pytest.raises(ConfigError, match=r"invalid despeckle .*: must be 0 or off, an area"):
        ThresholdConfig(despeckle=value)
    assert ThresholdConfig(despeckle=" 25 ").despeckle == 25


def test_a_preset_with_a_huge_number_is_refused_in_one_line(tmp_path):
    preset = tmp_path / "huge.toml"
    preset.write_text(f"p = {10**400}\n")
    with pytest.raises(ConfigError, match=r"invalid p 1000.*characters\): must be a finite"):
        resolve(preset=str(preset))
