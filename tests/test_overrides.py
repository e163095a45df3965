"""The one KEY=VALUE grammar of --set, -O and benchmark variants."""

from __future__ import annotations

import pytest

from boxpromptiml.errors import ConfigError
from boxpromptiml.overrides import parse_override, parse_overrides, parse_value, split_items


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("-1e-3", -0.001),
        ("True", True),
        ("false", False),
        ("none", None),
        ("null", None),
        ("[0.01, 0.3]", [0.01, 0.3]),
        ("0.01,0.3", [0.01, 0.3]),
        ("60,95", [60, 95]),
        ('{"camera": 0.8, "blur": 0}', {"camera": 0.8, "blur": 0}),
        ('"quoted"', "quoted"),
        ("resize", "resize"),
        ("splice,copymove", "splice,copymove"),  # not all numbers: the text
        ("", ""),
    ],
)
def test_values_without_a_known_type(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_the_settings_type_decides_ambiguous_text() -> None:
    assert parse_value("none", like="center") == "none"  # a text setting keeps its text
    assert parse_value("0,1,2", like="") == "0,1,2"
    assert parse_value('"a b"', like="x") == "a b"
    assert parse_value("6", like=1.0) == 6.0 and isinstance(parse_value("6", like=1.0), float)
    assert parse_value("6", like=1) == 6 and isinstance(parse_value("6", like=1), int)
    for text, value in [("1", True), ("yes", True), ("on", True), ("0", False), ("off", False)]:
        assert parse_value(text, like=False) is value
    assert parse_value("3", like=None) == 3 and parse_value("none", like=None) is None


def test_overrides_and_their_errors() -> None:
    like = {"noise_norm": "none", "lr": 5e-4}
    got = parse_overrides(["lr=1", " noise_norm = none", "epochs=2", "lr=0.1"], "--set", like)
    assert got == {"lr": 0.1, "noise_norm": "none", "epochs": 2}
    assert parse_override("a.b=2", "-O") == ("a.b", 2)
    for bad in ["novalue", "=3"]:
        with pytest.raises(ConfigError, match=r"-O .*expected KEY=VALUE"):
            parse_override(bad, "-O")
    assert parse_overrides(None) == {}


def test_split_items_keeps_ranges_and_json_together() -> None:
    assert split_items("dim=16,noise=8") == ["dim=16", "noise=8"]
    assert split_items("area=0.01,0.3,noise=8,") == ["area=0.01,0.3", "noise=8"]
    assert split_items('synth={"camera": 0.8, "blur": 0},seed=1') == [
        'synth={"camera": 0.8, "blur": 0}',
        "seed=1",
    ]
    assert split_items("") == []


def test_recipe_and_synth_commands_read_the_same_grammar() -> None:
    import argparse

    from boxpromptiml.commands.recipe import _settings
    from boxpromptiml.commands.synth import _parse_sets

    args = argparse.Namespace(
        recipe="general",
        config=None,
        set=["noise_norm=none", "pos_weight=4", "num_scales=2", 'synth={"camera": 0.5}'],
    )
    got = _settings(args)
    assert got == {"noise_norm": "none", "pos_weight": 4.0, "num_scales": 2,
                   "synth": {"camera": 0.5}}  # fmt: skip
    assert isinstance(got["pos_weight"], float)
    assert _parse_sets(["jpeg-quality=60,95", "blur=0", 'shapes={"blob": 1}']) == {
        "jpeg_quality": (60, 95),
        "blur": 0,
        "shapes": {"blob": 1},
    }
    with pytest.raises(ConfigError, match="not a number"):
        _parse_sets(["blur=strong"])
    with pytest.raises(ConfigError, match="did you mean noise"):
        _parse_sets(["nosie=1"])
