"""RecentSpeech: the coach's words stay recent while queued or playing and a few seconds after."""

import numpy as np

from voice_coach import commands
from voice_coach.recent_speech import (
    KEEP_S,
    NEAR_AFTER_S,
    NEAR_BEFORE_S,
    TIMED_KEEP_S,
    RecentSpeech,
    word_spans,
    words_near,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_words_are_recent_until_a_while_after_they_end():
    clock = Clock()
    recent = RecentSpeech(clock)
    recent.said(1, "Glide up the back, then move on.")
    recent.said(2, "Ask about pressure.")
    assert commands.mentions(recent.text(), "next")
    assert recent.text(finished_only=True) == ""  # still playing
    recent.ended(1)
    clock.now = KEEP_S - 0.1
    assert commands.mentions(recent.text(), "next")
    assert recent.text(finished_only=True) == "Glide up the back, then move on."
    clock.now = KEEP_S + 0.1
    assert not commands.mentions(recent.text(), "next")
    assert recent.text() == "Ask about pressure."
    recent.ended(2)
    recent.ended(7)  # never said (a cancelled id): nothing to forget
    clock.now = 3 * KEEP_S
    assert recent.text() == ""


def test_mentions_needs_whole_words_of_a_phrase():
    assert commands.mentions("Just say next.", "next")
    assert commands.mentions("a little LESS pressure", "softer")
    assert not commands.mentions("the nextdoor neighbour", "next")
    assert not commands.mentions("pressure", "softer")  # "less" alone is one: "a little less"
    assert not commands.mentions("anything", "no-such-command")


def test_a_command_over_the_coach_is_its_own_voice_only_if_it_just_said_it():
    from voice_coach.engines.base import Detection
    from voice_coach.listener import maybe_own_voice

    def heard(command, text):
        return Detection(command, text, 1.0, 0.9, "test")

    said = "Ask whether they would like it harder, then move on."
    assert maybe_own_voice(heard("harder", "harder"), said)
    assert maybe_own_voice(heard("next", "go on"), said)  # "move on" is next too
    assert not maybe_own_voice(heard("louder", "louder"), said)
    assert not maybe_own_voice(heard("next", "next"), said)  # barge-in by name: always yours
    assert not maybe_own_voice(heard("softer", "ouch"), "If it hurts, say ouch.")  # pain words
    assert maybe_own_voice(heard("louder", "louder"), None)  # words unknown: barge-in only
    # A phrase the recogniser completed from one of the coach's words (bench live --room-echo).
    assert maybe_own_voice(heard("resume", "keep going"), "Keep the room warm.")
    assert not maybe_own_voice(heard("resume", "keep going"), "Warm the oil first.")
    assert maybe_own_voice(heard("slower", "slow down"), "Go slow over the shoulder blades.")
    assert not maybe_own_voice(heard("slower", "slower"), "Go slow over the shoulder blades.")
    assert not maybe_own_voice(heard("back", "go back"), "Go on to the neck.")  # "go": a filler


# "Glide up the lower back, then move on." as a synthesiser might time it (s from its start).
WORDS = [(0.0, 0.4, "Glide"), (0.4, 0.6, "up"), (0.6, 0.75, "the"), (0.75, 1.1, "lower"),
         (1.1, 1.5, "back,"), (1.8, 2.0, "then"), (2.0, 2.3, "move"), (2.3, 2.5, "on.")]


def test_words_are_near_a_span_when_they_played_close_to_it():
    clock = Clock()
    recent = RecentSpeech(clock)
    recent.said(1, "Glide up the lower back, then move on.")
    recent.rendered(1, WORDS)
    assert recent.near(0.0, 100.0) == ""  # queued, not played: it cannot come back yet
    clock.now = 10.0
    recent.started(1, in_s=0.5)  # its first sample sounds half a second from now
    assert recent.played(1)[4] == (11.6, 12.0, "back,")
    assert recent.near(12.2, 12.5) == ""  # not played yet
    clock.now = 12.6
    assert commands.mentions(recent.near(12.2, 12.5), "back")  # just after it said "back"
    assert recent.near(9.0, 10.4 - NEAR_AFTER_S) == ""  # before it began (at 10.5)
    clock.now = 14.0
    recent.ended(1)
    clock.now = 20.0
    # A "back" heard 4 s after the coach's own, over its next sentence: the person's.
    recent.said(2, "Now the shoulders.")
    recent.rendered(2, [(0.0, 0.3, "Now"), (0.3, 0.5, "the"), (0.5, 1.1, "shoulders.")])
    recent.started(2)
    clock.now = 21.5
    assert recent.near(20.5, 20.9) == "Now the shoulders."
    clock.now = 20.0 + TIMED_KEEP_S + 1
    assert recent.near(0.0, 100.0) == "Now the shoulders."  # the first one is forgotten


def test_an_echo_comes_after_the_words_never_before():
    # "next" played at 5.0-5.3 s. Heard 0.7 s after it: maybe it coming back (latencies, the
    # estimate's error). Heard ending 0.7 s before it began: the person, who spoke first.
    spans = [(4.5, 5.0, "the"), (5.0, 5.3, "next")]
    assert "next" in words_near(spans, 6.0, 6.4).split()
    assert "next" not in words_near(spans, 3.9, 4.3).split()
    assert "next" in words_near(spans, 3.9, 4.6).split()  # its estimate may be 0.4 s late
    assert NEAR_AFTER_S < NEAR_BEFORE_S


def test_words_after_a_cancel_never_played():
    clock = Clock()
    recent = RecentSpeech(clock)
    recent.said(1, "Glide up the lower back, then move on.")
    recent.rendered(1, WORDS)
    recent.started(1)
    clock.now = 1.2  # cut off during "back"
    recent.ended(1)
    assert recent.near(1.0, 3.0) == "Glide up the lower back,"


def test_a_playing_utterance_with_no_word_times_is_not_known():
    recent = RecentSpeech(Clock())
    recent.said(1, "Glide up.")
    recent.started(1)
    assert recent.near(0.0, 1.0) is None  # the listener then goes by all its recent words


def test_word_times_skip_the_pauses_in_the_audio():
    rate = 16_000
    tone = np.sin(np.arange(rate) * 0.2).astype(np.float32)  # 1 s of "voice"
    audio = np.concatenate([tone, np.zeros(rate, np.float32), tone])  # a pause in the middle
    spans = word_spans("Softly. Slowly.", audio, rate)
    assert [w for *_, w in spans] == ["Softly.", "Slowly."]
    (a0, b0, _), (a1, b1, _) = spans
    assert a0 < 0.05 and abs(b0 - 1.0) < 0.05  # the first word fills the first sound
    assert abs(a1 - 2.0) < 0.05 and b1 > 2.9  # the second starts after the pause
    assert word_spans("", audio, rate) == [] and word_spans("Hi", audio[:10], rate) == []


def test_word_times_of_real_synthesis_are_close(tmp_path):
    """pyttsx3 says two clauses; where the first one ends is known from saying it alone."""
    from voice_coach.tts import MIXER_RATE, Speech

    speech = Speech(cache_dir=tmp_path)
    first, second = "Slide your palms slowly up the lower back,", "then move on to the shoulders."
    alone = speech.render(first)
    voiced = np.nonzero(np.abs(alone) > 0.01)[0]
    first_ends = voiced[-1] / MIXER_RATE
    spans = word_spans(f"{first} {second}", speech.render(f"{first} {second}"), MIXER_RATE)
    back, then = spans[7], spans[8]
    assert (back[2], then[2]) == ("back,", "then")
    assert abs(back[1] - first_ends) < 0.4, (back, first_ends)
    assert abs(then[0] - first_ends) < 0.5, (then, first_ends)
