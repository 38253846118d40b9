"""Per-person profiles: names that stay in their folder, values always within the zone caps,
and a damaged profile that is set aside without stopping the session."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from voice_coach import profiles
from voice_coach.errors import UserError
from voice_coach.events import Heard, Start
from voice_coach.pressure import ZONES, Level, cap_for
from voice_coach.script import load_script
from voice_coach.session import SessionState, handle, new_session


def session_at(step_id: str, preferred: dict[str, Level]) -> SessionState:
    state, _ = handle(new_session(load_script("back-rub"), preferred=preferred), Start())
    while state.step.id != step_id:
        state, _ = handle(state, Heard("next", "next"))
    return state


@pytest.mark.parametrize("name", ["Sam", "Zoë", "Mary-Ann O'Neil", "sam.k", "  Kim  ", "x" * 64])
def test_good_names(name: str) -> None:
    assert profiles.check_name(name) == name.strip()


@pytest.mark.parametrize("name", ["", "   ", "..", "../sam", "a/b", "a\\b", ".hidden",
                                  "sam..x", "a\nb", "_x", "x" * 65, "/etc/passwd", "a\x00b"])
def test_bad_names_are_one_line_errors(name: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        profiles.save_profile(tmp_path, name, {"back": Level.MEDIUM})
    assert "\n" not in str(err.value)
    assert not any(tmp_path.rglob("*.json")) and not (tmp_path.parent / "passwd.json").exists()


def test_round_trip_same_person_whatever_the_case(tmp_path: Path) -> None:
    path = profiles.save_profile(tmp_path, "Sam", {"back": Level.MEDIUM, "shoulders": "firm"})
    assert path == tmp_path / "profiles" / "sam.json"
    assert profiles.load_profile(tmp_path, " SAM ") == (
        {"back": Level.MEDIUM, "shoulders": Level.FIRM}, None)
    stored = json.loads(path.read_text())
    assert stored["name"] == "Sam" and stored["preferred"] == {"back": "medium",
                                                                "shoulders": "firm"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_values_are_clamped_to_the_caps_on_save(tmp_path: Path) -> None:
    path = profiles.save_profile(tmp_path, "sam", {
        "neck": Level.DEEP, "lower_back": Level.FIRM, "back": Level.DEEP,
        "shoulders": Level.DEEP, "prep": Level.DEEP, "elbow": Level.DEEP})
    assert json.loads(path.read_text())["preferred"] == {
        "back": "medium", "shoulders": "deep", "lower_back": "light", "neck": "light"}


def test_hand_edited_values_are_clamped_on_load(tmp_path: Path) -> None:
    path = profiles.profile_path(tmp_path, "sam")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"preferred": {
        "neck": "deep", "spine": "medium", "lower_back": "FIRM", "back": "deep",
        "upper_back": "ultra", "shoulders": 9, "elbow": "deep"}}))
    preferred, warning = profiles.load_profile(tmp_path, "sam")
    assert warning is None
    assert preferred == {"neck": Level.LIGHT, "spine": Level.LIGHT, "lower_back": Level.LIGHT,
                         "back": Level.MEDIUM}
    assert all(level <= cap_for(zone) for zone, level in preferred.items())


def test_every_zone_and_level_stays_within_its_cap(tmp_path: Path) -> None:
    everything = {zone: Level.DEEP for zone in ZONES}
    profiles.save_profile(tmp_path, "sam", everything)
    loaded, _ = profiles.load_profile(tmp_path, "sam")
    assert loaded == {z: ZONES[z].cap for z in ZONES if z != "prep"}


@pytest.mark.parametrize("content", ['{"preferred": {"back": "medi', "[1, 2]",
                                     '{"preferred": 3}', "\x00\x00\x00"])
def test_damaged_profile_is_set_aside_and_the_session_still_starts(tmp_path: Path,
                                                                    content: str) -> None:
    path = profiles.profile_path(tmp_path, "sam")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    preferred, warning = profiles.load_profile(tmp_path, "sam")
    assert preferred == {}
    assert warning is not None and "\n" not in warning and "sam.json" in warning
    aside = list(path.parent.glob("sam.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == content
    # The session starts from the defaults...
    state = session_at("shoulders", preferred)
    assert state.level == Level.LIGHT
    # ...and the next save writes a good profile again.
    profiles.save_profile(tmp_path, "sam", {"shoulders": Level.FIRM})
    assert profiles.load_profile(tmp_path, "sam") == ({"shoulders": Level.FIRM}, None)


def test_a_loaded_profile_starts_each_zone_where_it_was_left(tmp_path: Path) -> None:
    profiles.save_profile(tmp_path, "sam", {"shoulders": Level.FIRM, "upper_back": Level.DEEP,
                                            "neck": Level.DEEP})
    preferred, _ = profiles.load_profile(tmp_path, "sam")
    assert session_at("shoulders", preferred).level == Level.FIRM
    assert session_at("beside-spine", preferred).level == Level.DEEP
    assert session_at("neck", preferred).level == Level.LIGHT  # the cap wins, whatever is stored


def test_remember_merges_with_what_was_there(tmp_path: Path) -> None:
    profiles.save_profile(tmp_path, "sam", {"back": Level.MEDIUM, "shoulders": Level.MEDIUM})
    profiles.remember(tmp_path, "Sam", {"shoulders": Level.DEEP})
    assert profiles.load_profile(tmp_path, "sam")[0] == {"back": Level.MEDIUM,
                                                         "shoulders": Level.DEEP}
