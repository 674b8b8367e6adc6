"""The `X x .` pattern notation, the sixteenth grid, swing and the style presets."""

from __future__ import annotations

import pytest

from performia.band.patterns import (
    ACCENT_VELOCITY,
    GHOST_VELOCITY,
    Hit,
    Pattern,
    bar_and_position,
    parse_pattern,
    sixteenths_in,
)
from performia.band.styles import STYLES, Style, style, style_names, swung_beat


def test_parse_reads_one_hit_per_sixteenth() -> None:
    kick = parse_pattern("X...X...X..xX...")
    assert len(kick) == 16
    assert kick.at(0) is Hit.ACCENT
    assert kick.at(1) is Hit.REST
    assert kick.at(11) is Hit.GHOST
    assert kick.onsets(16) == (0, 4, 8, 11, 12)
    assert kick.text == "X...X...X..xX..."


def test_spaces_and_bar_lines_are_ignored() -> None:
    assert parse_pattern("X... x... | X... ....") == parse_pattern("X...x...X.......")


def test_short_patterns_repeat_across_the_bar() -> None:
    eighths = parse_pattern("X.")
    assert [eighths.at(p).sounds for p in range(6)] == [True, False] * 3
    assert eighths.onsets(16) == (0, 2, 4, 6, 8, 10, 12, 14)


@pytest.mark.parametrize("text, bad", [("X..o", "'o'"), ("X-..", "'-'"), ("1...", "'1'")])
def test_bad_characters_are_named(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad) as error:
        parse_pattern(text)
    assert "accent" in str(error.value) and "ghost" in str(error.value)


@pytest.mark.parametrize("text", ["", "   ", "|"])
def test_empty_patterns_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_pattern(text)
    with pytest.raises(ValueError):
        Pattern(())


def test_accents_are_louder_than_ghosts() -> None:
    assert Hit.ACCENT.velocity == ACCENT_VELOCITY
    assert Hit.GHOST.velocity == GHOST_VELOCITY
    assert Hit.ACCENT.velocity > Hit.GHOST.velocity > Hit.REST.velocity == 0.0


def test_sixteenths_in_a_step() -> None:
    assert list(sixteenths_in(0.0, 0.25)) == [0]
    assert list(sixteenths_in(2.75, 0.25)) == [11]
    assert list(sixteenths_in(1.0, 1.0)) == [4, 5, 6, 7]
    assert list(sixteenths_in(0.1, 0.25)) == [1]       # off the grid: the next sixteenth
    assert list(sixteenths_in(0.3, 0.1)) == []
    with pytest.raises(ValueError):
        sixteenths_in(0.0, 0.0)


def test_bar_and_position() -> None:
    assert bar_and_position(0, 4) == (0, 0)
    assert bar_and_position(17, 4) == (1, 1)
    assert bar_and_position(12, 3) == (1, 0)


def test_straight_time_is_untouched() -> None:
    for k in range(64):
        assert swung_beat(k * 0.25, 0.5) == k * 0.25


def test_swing_delays_the_off_beat_eighth_only() -> None:
    swing = 0.62
    assert swung_beat(3.0, swing) == 3.0
    assert swung_beat(3.5, swing) == pytest.approx(3.62)
    assert swung_beat(3.25, swing) == pytest.approx(3.31)
    assert swung_beat(3.75, swing) == pytest.approx(3.81)
    grid = [swung_beat(k * 0.25, swing) for k in range(32)]
    assert grid == sorted(grid)                           # swing never reorders notes


def test_the_four_styles_exist_with_their_swing() -> None:
    assert set(style_names()) >= {"rock", "funk", "ballad", "jazz-swing"}
    assert style("jazz-swing").swing == pytest.approx(0.62)
    for name in ("rock", "funk", "ballad"):
        assert style(name).swing == 0.5
    for preset in STYLES.values():
        assert 0.0 <= preset.intensity <= 1.0
        assert preset.drums.snare.fill != preset.drums.snare.groove, preset.name


def test_unknown_style_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="rock.*funk.*ballad.*jazz-swing"):
        style("polka")


def test_styles_are_frozen_and_validated() -> None:
    rock = style("rock")
    with pytest.raises(AttributeError):
        rock.swing = 0.6  # type: ignore[misc]
    fields = {name: getattr(rock, name) for name in rock.__dataclass_fields__}
    with pytest.raises(ValueError, match="swing"):
        Style(**{**fields, "swing": 0.8})
    with pytest.raises(ValueError, match="intensity"):
        Style(**{**fields, "intensity": 1.5})
