"""The session core, driven by events alone: transitions as a table, caps as a property."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_coach.commands import NAMES
from voice_coach.events import (
    CancelSpeech,
    Chime,
    DeviceProblem,
    Duck,
    Finish,
    Heard,
    MusicGain,
    PressureSet,
    Say,
    SpeechDone,
    Start,
    StepStarted,
    Tick,
)
from voice_coach.pressure import ZONES, Level, cap_for
from voice_coach.script import Cue, Script, Step, load_script
from voice_coach.session import Phase, SessionState, handle, new_session


def started(name="back-rub", **kw) -> SessionState:
    state, _ = handle(new_session(load_script(name), **kw), Start())
    return state


def run(state: SessionState, *events):
    effects = []
    for event in events:
        state, out = handle(state, event)
        effects.extend(out)
    return state, effects


def heard(command: str, text: str | None = None) -> Heard:
    return Heard(command, text or command)


def at_step(step_id: str, **kw) -> SessionState:
    state = started(**kw)
    while state.step.id != step_id:
        state, _ = run(state, heard("next"))
    return state


# phase, step, command -> expected phase, expected step (the transition diagram as a table)
TRANSITIONS = [
    ("preparing", "prepare", "next", "running", "oil"),
    ("preparing", "prepare", "back", "preparing", "prepare"),
    ("preparing", "prepare", "pause", "paused", "prepare"),
    ("preparing", "prepare", "stop", "finished", "prepare"),
    ("running", "oil", "next", "running", "long-strokes"),
    ("running", "oil", "back", "preparing", "prepare"),
    ("running", "oil", "pause", "paused", "oil"),
    ("running", "oil", "resume", "running", "oil"),
    ("running", "oil", "repeat", "running", "oil"),
    ("running", "oil", "harder", "running", "oil"),
    ("running", "oil", "stop", "finished", "oil"),
    ("running", "finish", "next", "finished", "finish"),
    ("paused", "oil", "resume", "running", "oil"),
    ("paused", "oil", "next", "running", "long-strokes"),
    ("paused", "oil", "pause", "paused", "oil"),
    ("paused", "oil", "stop", "finished", "oil"),
]


@pytest.mark.parametrize("phase, step_id, command, want_phase, want_step", TRANSITIONS)
def test_transition_table(phase, step_id, command, want_phase, want_step):
    state = at_step(step_id)
    if phase == "paused":
        state, _ = run(state, heard("pause"))
    assert state.phase.value == phase
    state, _ = run(state, heard(command))
    assert (state.phase.value, state.step.id) == (want_phase, want_step)


def test_start_greets_and_reads_the_checklist_then_waits():
    state, effects = handle(new_session(load_script("quick")), Start())
    says = [e for e in effects if isinstance(e, Say)]
    assert "Welcome" in says[0].text and "towel" in says[1].text
    assert state.phase is Phase.PREPARING
    state, _ = run(state, *[Tick(30.0)] * 20)  # ten minutes: the checklist waits for "next"
    assert state.step.id == "prepare"


def test_steps_advance_when_their_time_runs_out():
    state = at_step("oil")
    state, effects = run(state, Tick(89.0))
    assert state.step.id == "oil"
    state, effects = run(state, Tick(1.0))
    assert state.step.id == "long-strokes"
    assert any(isinstance(e, StepStarted) for e in effects)


def test_paused_time_does_not_count():
    state, _ = run(at_step("oil"), heard("pause"), Tick(600.0), heard("resume"))
    assert state.step.id == "oil" and state.step_elapsed_s == 0.0


def test_harder_climbs_to_the_zone_cap_and_explains():
    state = at_step("long-strokes")  # zone "back", capped at medium
    state, effects = run(state, heard("harder"))
    assert state.level is Level.MEDIUM
    state, effects = run(state, heard("harder"))
    assert state.level is Level.MEDIUM
    assert PressureSet("medium", 5, "back", "cap") in effects
    assert Chime("refuse") in effects
    assert any(isinstance(e, Say) and "medium at most" in e.text for e in effects)


@pytest.mark.parametrize("step_id, cap", [("lower-back", Level.LIGHT), ("neck", Level.LIGHT),
                                          ("beside-spine", Level.DEEP),
                                          ("shoulders", Level.DEEP)])
def test_zone_caps(step_id, cap):
    state = at_step(step_id)
    state, _ = run(state, *[heard("harder")] * 6)
    assert state.level is cap


def test_softer_at_the_floor_says_so():
    state, effects = run(at_step("oil"), heard("softer"))
    assert state.level is Level.LIGHT
    assert PressureSet("light", 3, "back", "floor") in effects


def test_pain_words_drop_to_light_at_once_and_cut_speech():
    state = at_step("shoulders")
    state, _ = run(state, *[heard("harder")] * 3)
    assert state.level is Level.DEEP and state.speaking
    state, effects = run(state, heard("softer", "ouch"))
    assert state.level is Level.LIGHT
    assert effects.index(CancelSpeech()) < next(i for i, e in enumerate(effects)
                                                if isinstance(e, Say))
    assert PressureSet("light", 3, "shoulders", "pain") in effects


def test_pressure_preference_is_remembered_per_zone_and_capped_elsewhere():
    state = at_step("beside-spine")
    state, _ = run(state, heard("harder"), heard("harder"))  # light -> firm
    state, effects = run(state, heard("next"))  # lower back: capped to light
    assert state.level is Level.LIGHT
    assert PressureSet("light", 3, "lower_back", "zone") in effects
    state, _ = run(state, heard("back"))
    assert state.level is Level.FIRM


def test_prep_pressure_sets_the_starting_preference_within_caps():
    state, _ = run(started(), heard("harder"), heard("harder"), heard("harder"), heard("harder"))
    assert state.general is Level.DEEP
    state, effects = run(state, heard("next"))  # oil: this step is light only
    assert PressureSet("light", 3, "back", "cap") in effects


def test_check_in_when_a_new_zone_starts():
    state = at_step("lower-back")  # no custom check-in; new zone
    state, effects = run(state, Tick(40.0))
    assert any(isinstance(e, Say) and e.kind == "checkin" and "lower back" in e.text
               for e in effects)


def test_music_louder_quieter_is_a_chime_without_words():
    state, effects = run(at_step("oil"), heard("louder"))
    assert MusicGain(3.0) in effects and not any(isinstance(e, Say) for e in effects)
    state, effects = run(state, *[heard("quieter")] * 20)
    assert state.music_db == -24.0


def test_slower_stretches_the_steps():
    state, _ = run(at_step("oil"), heard("slower"))
    assert state.step_duration_s == pytest.approx(90 * 1.25)


def test_time_and_help_answer_briefly():
    state, effects = run(at_step("oil"), heard("time"))
    assert any(isinstance(e, Say) and "left in this step" in e.text for e in effects)
    state, effects = run(state, heard("help"))
    assert any(isinstance(e, Say) and "harder or softer" in e.text for e in effects)


def test_music_ducks_while_speaking_and_comes_back():
    state = new_session(load_script("quick"))
    state, effects = handle(state, Start())
    assert Duck(-14.0, 250) in effects
    for utterance in sorted(state.speaking):
        state, effects = handle(state, SpeechDone(utterance))
    assert Duck(0.0, 250) in effects


def test_stop_finishes_and_nothing_happens_after():
    state, effects = run(at_step("oil"), heard("stop"))
    assert Finish("stopped") in effects and state.phase is Phase.FINISHED
    assert handle(state, heard("next")) == (state, [])
    for utterance in sorted(state.speaking):  # the closing words still play out
        state, effects = handle(state, SpeechDone(utterance))
    assert not state.speaking and Duck(0.0, 250) in effects


def test_whole_session_runs_in_simulated_time():
    state = started("back-rub")
    state, _ = run(state, heard("next"))
    effects = []
    while state.phase is not Phase.FINISHED:
        state, out = handle(state, Tick(0.05))
        effects.extend(out)
    assert Finish("completed") in effects
    assert state.clock_s == pytest.approx(load_script("back-rub").total_duration_s - 90, abs=0.2)
    assert [e.step_id for e in effects if isinstance(e, StepStarted)][-1] == "finish"


# ---------------------------------------------------------------- property: caps always hold

ZONE_NAMES = [z for z in ZONES if z != "prep"]


@st.composite
def scripts(draw) -> Script:
    n = draw(st.integers(1, 6))
    steps = []
    for i in range(n):
        duration = draw(st.floats(5, 300))
        steps.append(Step(
            id=f"s{i}", title=f"S{i}", zone=draw(st.sampled_from(list(ZONES))),
            duration_s=duration, say="Say.", wait_for_next=draw(st.booleans()),
            max_pressure=draw(st.none() | st.sampled_from(list(Level))),
            cues=(Cue(duration / 2, "cue"),) if draw(st.booleans()) else ()))
    return Script("gen", "Generated", "", tuple(steps))


events = st.one_of(
    st.builds(Heard, st.sampled_from(NAMES), st.sampled_from(["", "ouch", "that hurts"])),
    st.builds(Tick, st.floats(0, 400)),
    st.builds(SpeechDone, st.integers(0, 50)),
)
any_script = st.one_of(scripts(), st.sampled_from(["back-rub", "shoulders", "quick"]).map(
    load_script))


@settings(max_examples=300, deadline=None)
@given(any_script, st.none() | st.sampled_from(list(Level)), st.lists(events, max_size=80))
def test_no_sequence_takes_pressure_past_a_cap(script, start, evs):
    state, effects = handle(new_session(script, start_pressure=start), Start())
    for event in evs:
        state, out = handle(state, event)
        effects.extend(out)
        if state.step.zone != "prep":
            assert state.level <= cap_for(state.step.zone, state.step.max_pressure)
        assert Level.LIGHT <= state.level <= Level.DEEP
    for e in effects:
        if isinstance(e, PressureSet):
            assert 3 <= e.value <= 7
            if e.zone != "prep":
                assert Level.parse(e.level) <= ZONES[e.zone].cap


def test_a_bad_remembered_preference_is_clamped():
    state = new_session(load_script("back-rub"), preferred={"neck": Level.DEEP})
    state = replace(state)
    state, _ = handle(state, Start())
    while state.step.id != "neck":
        state, _ = handle(state, heard("next"))
    assert state.level is Level.LIGHT


def test_a_lost_microphone_is_announced_and_the_timers_go_on():
    state, effects = run(at_step("oil"), DeviceProblem("microphone", False, "gone"))
    assert any(isinstance(e, Say) and "can't hear" in e.text for e in effects)
    state, _ = run(state, Tick(90.0))
    assert state.step.id == "long-strokes"
    state, effects = run(state, DeviceProblem("microphone", True))
    assert any(isinstance(e, Say) and "hear you again" in e.text for e in effects)


def test_a_lost_speaker_holds_the_session_until_the_sound_is_back():
    state, _ = run(at_step("oil"), DeviceProblem("speaker", False, "unplugged"))
    assert state.phase is Phase.PAUSED
    state, _ = run(state, Tick(300.0))
    assert state.step.id == "oil" and state.step_elapsed_s == 0.0
    state, effects = run(state, DeviceProblem("speaker", True))
    assert state.phase is Phase.RUNNING
    assert any(isinstance(e, Say) and "sound is back" in e.text for e in effects)


def test_a_speaker_gone_for_good_ends_the_session_cleanly():
    state, _ = run(at_step("oil"), DeviceProblem("speaker", False))
    state, effects = run(state, *[Tick(60.0)] * 10)
    assert state.phase is Phase.FINISHED and Finish("speaker lost") in effects
