"""Script loading and validation: built-ins validate; broken files give one line naming the
file, the step and the field."""

from pathlib import Path

import pytest

from voice_coach.pressure import ZONES, Level
from voice_coach.script import ScriptError, builtin_names, load_script, parse_script

GOOD_STEP = """
[[steps]]
id = "one"
title = "One"
zone = "back"
duration_s = 60
say = "Do the thing."
"""
HEAD = '[script]\nid = "mine"\ntitle = "Mine"\n'


@pytest.mark.parametrize("name", ["back-rub", "shoulders", "quick"])
def test_builtin_scripts_validate(name):
    script = load_script(name)
    assert script.steps[0].zone == "prep" and script.steps[0].wait_for_next
    assert all(step.zone in ZONES for step in script.steps)


def test_builtin_durations_match_their_promise():
    minutes = {n: load_script(n).total_duration_s / 60 for n in builtin_names()}
    assert 18 <= minutes["back-rub"] <= 24
    assert 8 <= minutes["shoulders"] <= 12
    assert 4 <= minutes["quick"] <= 6


def test_back_rub_keeps_every_safety_rule():
    text = " ".join(
        " ".join([s.say, s.checkin or "", *s.pressure_text.values(), *(c.say for c in s.cues)])
        for s in load_script("back-rub").steps).lower()
    for rule in ["one hand on them", "towel", "never press into the spine or any bone",
                 "never the front or the sides of the neck", "only ever gets light pressure",
                 "body weight", "knuckles", "thumbs", "more or less", "ease off"]:
        assert rule in text, rule


def test_pressure_wording_follows_the_level():
    step = next(s for s in load_script("back-rub").steps if s.id == "beside-spine")
    assert "knuckles" in step.text_for(Level.DEEP) and "knuckles" not in step.text_for(Level.LIGHT)
    lower = next(s for s in load_script("back-rub").steps if s.id == "lower-back")
    assert lower.text_for(Level.DEEP) == lower.text_for(Level.LIGHT)  # nearest lighter wording


@pytest.mark.parametrize("body, where, field", [
    (GOOD_STEP + "colour = 'red'\n", "step 'one'", "unknown field 'colour'"),
    (GOOD_STEP.replace('say = "Do the thing."\n', ""), "step 'one'", "missing field 'say'"),
    (GOOD_STEP.replace("duration_s = 60", "duration_s = -5"), "step 'one'", "duration_s"),
    (GOOD_STEP.replace("duration_s = 60", 'duration_s = "long"'), "step 'one'", "duration_s"),
    (GOOD_STEP.replace("duration_s = 60", "duration_s = 99999"), "step 'one'", "duration_s"),
    (GOOD_STEP.replace('zone = "back"', 'zone = "feet"'), "step 'one'", "unknown zone 'feet'"),
    (GOOD_STEP + "max_pressure = 'crushing'\n", "step 'one'", "max_pressure"),
    (GOOD_STEP + "[steps.pressure]\nhuge = 'x'\n", "step 'one'", "pressure.huge"),
    (GOOD_STEP + "[[steps.cues]]\nat_s = 600\nsay = 'late'\n", "step 'one'", "cues.at_s"),
    (GOOD_STEP + GOOD_STEP, "step 'one'", "used by an earlier step"),
    ("", "[script]", "missing table"),
])
def test_broken_scripts_name_file_step_and_field(tmp_path: Path, body, where, field):
    path = tmp_path / "mine.toml"
    path.write_text((HEAD if where != "[script]" else "") + body)
    with pytest.raises(ScriptError) as err:
        load_script(str(path))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and where in message and field in message


def test_malformed_toml_and_missing_file_are_one_line(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(HEAD + "[[steps]\n")
    with pytest.raises(ScriptError, match="not valid TOML"):
        load_script(str(bad))
    with pytest.raises(ScriptError, match="no such script"):
        load_script(str(tmp_path / "absent.toml"))
    with pytest.raises(ScriptError, match="built-in: back-rub"):
        load_script("no-such-routine")


def test_users_own_file_loads(tmp_path: Path):
    path = tmp_path / "mine.toml"
    path.write_text(HEAD + GOOD_STEP)
    script = load_script(str(path))
    assert script.id == "mine" and script.total_duration_s == 60


def test_parse_script_is_pure_text():
    script = parse_script(HEAD + GOOD_STEP, "inline")
    assert script.source == "inline"
