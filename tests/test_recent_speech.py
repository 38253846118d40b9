"""RecentSpeech: the coach's words stay recent while queued or playing and a few seconds after."""

from voice_coach import commands
from voice_coach.recent_speech import KEEP_S, RecentSpeech


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
    assert not commands.mentions("less", "softer")
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
