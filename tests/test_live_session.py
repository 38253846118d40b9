"""End to end on the virtual devices: a real spoken session (speech over music out, the
recogniser listening in) while a synthetic voice speaks into the virtual microphone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voice_coach.cli_live import heard_by_time, heard_in_order, match, match_by_time
from voice_coach.selfdrive import Cue, Spoken, run
from voice_coach.virtual_audio import RoomEcho

pytestmark = pytest.mark.audio


def commands_of(outcome) -> list[str]:
    return [h["command"] for h in outcome.heard()]


# Verdicts on silence, on running speech and on the rest of an utterance already judged: too
# many to print, and never how a command is heard or misheard.
ROUTINE_VERDICTS = ("no utterance here", "running speech", "part of an utterance already judged")


def show_what_was_heard(outcome, trace: Path) -> None:
    """Printed, so that a failing run shows what each command was heard from, by which engine
    and why, and what else was weighed: a run that fails once in several is traced by this."""
    for line in outcome.heard():
        print("heard", {k: line.get(k) for k in ("t", "command", "text", "engine", "confidence",
                                                 "at_s", "over_echo_db")})
    if trace.exists():
        for row in map(json.loads, trace.read_text().splitlines()):
            if not row["reason"].startswith(ROUTINE_VERDICTS):
                print("verdict", row)


RECALL_GAP = ("the bundled listener (pocketsphinx, Whisper's second opinion) still misses some "
              "commands over music: about 1 in 6 with music 10 dB under the voice on `voice-coach "
              "bench listen` (issue 4)")


def expect_all_heard(spoken: list[str], heard: list[str], most_missed: int) -> None:
    """Never a command that was not said, nor out of order; up to `most_missed` misses are
    the known recall gap, reported as an expected failure rather than hidden."""
    missed, false = match(spoken, heard)
    assert false == 0, f"heard {heard} for {spoken}"
    assert missed <= most_missed, f"heard {heard} for {spoken}"
    if missed:
        pytest.xfail(f"missed {missed} of {spoken} (heard {heard}): {RECALL_GAP}")


def test_spoken_commands_over_music_are_applied_in_order(tmp_path: Path, verdict_trace: Path):
    # In the coach's pauses. The checklist ends "Say next when you're ready." at ~18.3 s: a
    # "next" said over its last words is within a second of the coach's own "next" and is
    # taken for its echo (recent_speech.NEAR_BEFORE_S); a person answers after it. After
    # "next" the oil step's instructions take ~17 s.
    cues = [Cue(19.5, "next"), Cue(40, "softer"), Cue(47, "louder"), Cue(54, "pause"),
            Cue(63, "resume"), Cue(69, "stop")]  # "Paused..." takes the coach ~6 s
    outcome = run("quick", cues, 75, tmp_path, music_snr_db=10, timeout_s=115)
    show_what_was_heard(outcome, verdict_trace)
    heard = commands_of(outcome)
    applied = [line["type"] for line in outcome.log]
    if "louder" in heard:
        assert "music_gain" in applied
    if "stop" in heard:  # it ended the session, and the program exited cleanly
        assert "finish" in applied and outcome.returncode == 0, (heard, outcome.stderr[-800:])
    else:  # an unheard "stop" is a miss like any other: the session ran on until killed
        assert outcome.returncode in (0, -9), (heard, outcome.stderr[-800:])
    expect_all_heard(["next", "softer", "louder", "pause", "resume", "stop"], heard, 3)


def test_the_coach_does_not_hear_itself(tmp_path: Path):
    """Two minutes of the coach's own speech and music fed back into the microphone, as by a
    speaker in a room, with nobody speaking: no command may fire."""
    with RoomEcho():
        outcome = run("back-rub", [Cue(1, "next")], 120, tmp_path, music_snr_db=None,
                      extra_args=["--pressure", "medium"], timeout_s=120)
    # The one real "next" may or may not be caught over the echo; nothing else may appear.
    heard = commands_of(outcome)
    for line in outcome.log:  # shown when it fails: what was heard, and what the coach said
        if line["type"] in ("heard", "say", "speech_done"):
            print(line)
    assert heard in ([], ["next"]), heard
    assert sum(line["type"] == "step_started" for line in outcome.log) >= 2 or not heard


def test_a_command_mid_sentence_is_applied(tmp_path: Path, verdict_trace: Path):
    # At 3 s the coach is still reading the checklist (about 15 s of speech).
    outcome = run("quick", [Cue(3, "next"), Cue(9, "stop")], 16, tmp_path,
                  music_snr_db=10, timeout_s=60)
    show_what_was_heard(outcome, verdict_trace)
    heard = commands_of(outcome)
    if heard:  # whichever was heard first cut short the greeting and checklist (~17 s)
        cancels = [line for line in outcome.log if line["type"] == "cancel_speech"]
        assert cancels and cancels[0]["t"] < (10 if heard[0] == "next" else 15), outcome.log
    expect_all_heard(["next", "stop"], heard, 1)


def test_a_session_whose_stop_went_unheard_is_stopped_from_the_keyboard(tmp_path: Path):
    # What the demo does after its last words: without it, a missed "stop" left the session
    # running by its timer, saying it could not hear the microphone. Keyboard only here, so
    # nothing is heard and the typed "stop" must end the session.
    outcome = run("quick", [], 2, tmp_path, extra_args=["--engine", "keys"], timeout_s=60,
                  type_stop_after_s=1)
    assert outcome.typed_stop and outcome.returncode == 0, outcome.stderr[-800:]
    assert any(line["type"] == "finish" for line in outcome.log)
    typed = [line for line in outcome.log if line["type"] == "heard"]
    assert [(h["command"], h["engine"]) for h in typed] == [("stop", "keys")]
    assert outcome.heard() == []  # the microphone heard nothing: the typed one is not counted


def test_match_counts_misses_and_false_commands():
    assert match(["next", "softer", "stop"], ["next", "stop"]) == (1, 0)
    assert match(["next"], ["next", "harder"]) == (0, 1)
    assert match([], []) == (0, 0)


def test_heard_in_order_marks_each_spoken_command():
    assert heard_in_order(["next", "softer", "stop"], ["next", "stop"]) == [True, False, True]
    assert heard_in_order(["next", "back"], ["harder", "back"]) == [False, True]
    assert heard_in_order(["stop"], []) == [False]


def test_chime_delays_count_late_chimes_and_skip_missed_commands():
    """Chimes found in a recording (the real detector, on the mixer's own chimes): a chime 4 s
    late still counts with its delay; a missed command's 'next chime' is not measured."""
    import numpy as np

    from voice_coach.cli_live import chime_delays
    from voice_coach.mixer import make_chime
    from voice_coach.selfdrive import RATE, Outcome, Spoken

    rec = (np.random.default_rng(0).standard_normal(RATE * 40) * 0.01).astype(np.float32)
    for at in (5.3, 19.0, 31.0):
        chime = make_chime("ack")
        rec[int(at * RATE):int(at * RATE) + len(chime)] += chime
    spoken = [Spoken(4.0, 5.0, "next", "next"), Spoken(14.0, 15.0, "softer", "softer"),
              Spoken(29.0, 30.0, "stop", "stop")]
    outcome = Outcome(0, [], "", "", spoken, recording=rec, track_start_in_recording_s=0.0)
    delays = chime_delays(outcome, [True, True, False])
    assert [None if d is None else round(d, 2) for d in delays] == [0.3, 4.0, None]


def test_chimes_are_found_where_they_start_even_over_the_end_of_a_cut_off_sentence():
    """The bench's chime detector on real speech (flite) over the bench music: a chime laid
    over the last 0-85 ms of the sentence it cuts off (as the player now plays it), of each
    kind, is found within 2 ms of its start; the voice and music alone give none."""
    import numpy as np

    from voice_coach import bench_data
    from voice_coach.mixer import make_chime
    from voice_coach.resampling import resample
    from voice_coach.selfdrive import RATE, chime_onsets

    voice = resample(bench_data.speak("Glide your palms slowly up beside the spine.", "slt")
                     .astype(np.float32) / 32768, 16000, RATE) * 0.3
    rec = resample(bench_data.music(40, 3), 16000, RATE)[:40 * RATE] * 0.05
    starts = []
    for n, (kind, overlap_ms) in enumerate([("ack", 0), ("ack", 30), ("step", 64),
                                            ("refuse", 85), ("end", 64), ("ack", 85)]):
        said = RATE + n * 6 * RATE
        cut = said + len(voice) // 2
        rec[said:cut] += voice[:cut - said]
        start = cut - overlap_ms * RATE // 1000
        chime = make_chime(kind)
        rec[start:start + len(chime)] += chime
        starts.append(start / RATE)
    rec[37 * RATE:37 * RATE + len(voice)] += voice[:3 * RATE]  # a sentence, no chime
    found = chime_onsets(rec)
    assert len(found) == len(starts), found
    assert np.max(np.abs(np.array(found) - starts)) < 0.002, found


def test_behind_is_the_delivery_gap_beyond_the_sessions_smallest():
    from voice_coach.cli_live import behind

    heard = [{"t": 12.0, "at_s": 10.0}, {"t": 33.5, "at_s": 30.0}, {"t": 52.2, "at_s": 50.0}]
    assert [round(x, 2) for x in behind(heard)] == [0.0, 1.5, 0.2]
    assert behind([]) == []  # a session that heard nothing


def test_the_live_bench_matches_heard_commands_by_time():
    spoken = [Spoken(10, 10.5, "softer", "softer"), Spoken(20, 20.4, "ouch", "softer"),
              Spoken(30, 30.4, "next", "next")]
    # A false "softer" before the "ouch" was said, the "ouch" heard, the "next" missed and a
    # "harder" heard later that nobody said.
    heard = [{"t": 11.2, "command": "softer"}, {"t": 15.0, "command": "softer"},
             {"t": 21.0, "command": "softer"}, {"t": 31.0, "command": "harder"}]
    assert heard_by_time(spoken, heard) == ([True, True, False], 2)
    assert match_by_time(spoken, heard)[1] == [heard[1], heard[3]]  # the bench prints these
    # A command heard long after it was said (more than CHIME_WAIT_S) is not that one.
    assert heard_by_time(spoken[:1], [{"t": 25.0, "command": "softer"}]) == ([False], 1)
    assert heard_by_time(spoken, []) == ([False] * 3, 0)


def test_the_microphones_music_is_not_the_sessions_own_track():
    """The end-to-end tests' microphone bed must not be a copy of what the session plays: the
    echo canceller would take it for an echo (and could put the coach's voice into what the
    recogniser hears). Its highest normalised correlation with the bundled track, at any lag
    within a second, stays low."""
    import numpy as np

    from voice_coach import bench_data
    from voice_coach.resampling import resample
    from voice_coach.selfdrive import RATE, command_track

    track, _spoken = command_track([Cue(1.0, "next")], 12.0, music_snr_db=10)
    ours = resample(bench_data.music(12.0), bench_data.RATE, RATE)[:len(track)]
    # From 2 s on, past the command ("next" ends before 1.5 s): the bed alone.
    bed, ours = track[2 * RATE:].astype(np.float64), ours[2 * RATE:].astype(np.float64)
    n = 1 << (2 * len(bed) - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(bed, n) * np.conj(np.fft.rfft(ours, n)), n)
    lags = np.concatenate([corr[:RATE], corr[-RATE:]])
    assert np.max(np.abs(lags)) / (np.linalg.norm(bed) * np.linalg.norm(ours)) < 0.2
