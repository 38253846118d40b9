"""The listening edge on the virtual microphone: a recogniser that crashes is reported and
replaced, and while the coach speaks a command its own words just held is not acted on."""

from __future__ import annotations

import contextlib
import queue
import threading
import time

import numpy as np
import pytest

from voice_coach.audio_in import Microphone
from voice_coach.engines.base import Detection
from voice_coach.events import DeviceProblem, Heard, OwnVoice
from voice_coach.listener import Listener
from voice_coach.selfdrive import RATE, MicPlayer

pytestmark = pytest.mark.audio


class CrashingEngine:
    """Raises on its first block, as a recogniser with a bug would."""

    name = "crashing"

    def feed(self, chunk):
        raise RuntimeError("decoder exploded")

    def flush(self):
        return []

    def set_coach_speaking(self, speaking):
        pass


class CountingEngine:
    """Records what it was fed and proposes the given commands on its first block."""

    name = "counting"

    def __init__(self, commands=()):
        self.blocks = 0
        self.samples = 0
        self._pending = list(commands)
        self.speaking_flags: list[bool] = []

    def feed(self, chunk):
        self.blocks += 1
        self.samples += len(chunk)
        said = [(c, c) if isinstance(c, str) else c for c in self._pending]  # (command, text)
        out = [c if isinstance(c, Detection) else Detection(c[0], c[1], self.samples / 16000,
                                                            0.9, self.name) for c in said]
        self._pending = []
        return out

    def flush(self):
        return []

    def set_coach_speaking(self, speaking):
        self.speaking_flags.append(speaking)


def drain(q: queue.Queue, seconds: float) -> list:
    events, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            events.append(q.get(timeout=0.1))
    return events


@pytest.fixture
def room_noise():
    """A little noise into the virtual microphone, like any real room."""
    noise = (np.random.default_rng(2).standard_normal(RATE * 30) * 0.003).astype(np.float32)
    player = MicPlayer(noise)
    player.start()
    yield
    player.close()


def test_a_crashing_recogniser_is_reported_and_replaced(room_noise):
    posted: queue.Queue = queue.Queue()
    replacement = CountingEngine()
    listener = Listener(lambda: Microphone("vmic"), CrashingEngine(), lambda: replacement,
                        posted.put, lambda: False)
    listener.start()
    try:
        events = drain(posted, 3.0)
    finally:
        listener.stop()
    assert [e for e in events if isinstance(e, DeviceProblem)] == [
        DeviceProblem("recognizer", False, "decoder exploded")]
    assert replacement.blocks > 10  # listening went on, with the real microphone's audio
    assert replacement.samples > 16000  # 16 kHz int16 from a 48 kHz device


def heard_while_the_coach_speaks(engine: CountingEngine, coach_words: str | None = "",
                                 finished: str = "", near=None,
                                 own: list | None = None) -> tuple[list[str], Listener]:
    """Two seconds of the real microphone through a Listener told the coach is speaking (and
    saying `coach_words`, after `finished` sentences; `near`: its words played close to a
    time span): the commands posted, and the listener (for its status); `own` gets the
    commands it posted as the coach's own voice."""
    posted: queue.Queue = queue.Queue()

    def words(finished_only: bool = False) -> str:
        return finished if finished_only else f"{finished} {coach_words}"

    listener = Listener(lambda: Microphone("vmic"), engine, lambda: engine, posted.put,
                        lambda: True, coach_words=None if coach_words is None else words,
                        coach_words_near=near)
    listener.start()
    try:
        events = drain(posted, 2.0)
    finally:
        listener.stop()
    if own is not None:
        own += [e for e in events if isinstance(e, OwnVoice)]
    return [e.command for e in events if isinstance(e, Heard)], listener


SAID = [("harder", "harder"), ("louder", "louder"), ("stop", "stop"), ("softer", "softer"),
        ("next", "move on"), ("softer", "less pressure"), ("softer", "that hurts"),
        ("next", "next")]


def test_commands_the_coach_just_said_are_not_taken_from_its_own_voice(room_noise):
    # The coach's own sentence says "move on" and "less pressure": heard now, those could be
    # its voice coming back. "softer" and "next" by name and pain words always interrupt it.
    engine = CountingEngine(SAID)
    heard, listener = heard_while_the_coach_speaks(
        engine, "Ask if they want less pressure, then move on.")
    assert heard == ["harder", "louder", "stop", "softer", "softer", "next"]
    assert listener.status.ignored == 2
    assert engine.speaking_flags and all(engine.speaking_flags)


def test_a_barge_in_word_the_coach_just_finished_saying_is_taken_for_its_voice(room_noise):
    # Where echo removal falls short, the coach's own "stop" and "next" come back by name a
    # moment after it said them. Pain words are still always the person's.
    engine = CountingEngine(SAID)
    heard, listener = heard_while_the_coach_speaks(
        engine, "Glide up along the spine.",
        finished="Go slowly, and stop at once if they tense up. When ready, say next.")
    assert heard == ["harder", "louder", "softer", "softer", "softer"]
    assert listener.status.ignored == 3


def test_a_barge_in_word_in_the_sentence_still_playing_is_the_persons(room_noise):
    # "Say next when you're ready" is still being read when they say "next": theirs.
    heard, listener = heard_while_the_coach_speaks(
        CountingEngine(SAID), "Quick check before we start. Say next when you're ready.")
    assert heard == ["harder", "louder", "stop", "softer", "softer", "softer", "next"]
    assert listener.status.ignored == 1  # "move on" (not said by its own name)


def test_commands_not_in_the_coachs_words_are_heard_over_it(room_noise):
    heard, listener = heard_while_the_coach_speaks(CountingEngine(SAID),
                                                   "Glide up along the spine.")
    assert heard == [c for c, _ in SAID]
    assert listener.status.ignored == 0


def test_without_the_coachs_words_only_barge_in_commands_get_through(room_noise):
    heard, listener = heard_while_the_coach_speaks(CountingEngine(SAID), None)
    assert heard == ["stop", "softer", "softer", "next"]
    assert listener.status.ignored == 4


def test_what_played_under_the_words_decides_not_the_moment_of_the_verdict(room_noise):
    # The coach is talking when the verdicts come out, but the engine knows "louder" was said
    # in the pause before; "harder" was said over the coach.
    engine = CountingEngine([Detection("louder", "louder", 1.0, 0.9, "x", during_coach=False),
                             Detection("harder", "harder", 1.0, 0.9, "x", during_coach=True)])
    heard, listener = heard_while_the_coach_speaks(engine, "Press harder now.")
    assert heard == ["louder"]
    assert listener.status.ignored == 1


class HandingOverEngine(CountingEngine):
    """Like the recogniser in its own process: hands what it heard to a receiver, from a thread
    of its own, some time after the block that held it."""

    def deliver_to(self, receiver):
        self.receiver = receiver

    def feed(self, chunk):
        heard = super().feed(chunk)
        if heard:
            threading.Timer(0.3, self.receiver, args=(heard,)).start()
        return []


def test_commands_handed_over_between_blocks_are_delivered_and_still_checked(room_noise):
    engine = HandingOverEngine(SAID)
    heard, listener = heard_while_the_coach_speaks(
        engine, "Ask if they want less pressure, then move on.")
    assert heard == ["harder", "louder", "stop", "softer", "softer", "next"]
    assert listener.status.ignored == 2  # the coach's own words, as when fed back directly


def test_when_it_is_known_what_the_coach_played_close_to_the_words_that_decides(room_noise):
    # Its sentences say "back" all the time: a "back" is its own voice only if it played that
    # word close to when the command was said, not anywhere in its recent sentences.
    engine = CountingEngine([Detection("back", "back", 0.06, 0.9, "x", start_s=0.0, end_s=0.3),
                             Detection("back", "go back", 0.06, 0.9, "x", start_s=0.0, end_s=0.3),
                             Detection("louder", "louder", 0.06, 0.9, "x")])  # no times: text
    asked: list[tuple[float, float]] = []

    def near(start: float, end: float) -> str:
        asked.append((start, end))
        return "up the lower back," if len(asked) == 1 else "then move on"

    began = time.monotonic()
    own: list[OwnVoice] = []
    heard, listener = heard_while_the_coach_speaks(engine, "Glide up the lower back, louder.",
                                                   near=near, own=own)
    assert heard == ["back"]
    assert listener.status.ignored == 2  # the first "back", and "louder" by its recent words
    # Both are posted as not taken, with the coach's words that made them so (for the log).
    assert own == [OwnVoice("back", "back", "up the lower back,", "x"),
                   OwnVoice("louder", "louder", " Glide up the lower back, louder.", "x")]
    assert len(asked) == 2
    for start, end in asked:  # the words' own span, on the clock the blocks were read by
        assert end - start == pytest.approx(0.3)
        assert began - 1.0 < start < began + 1.0


class QuietLeftoverCleaner:
    """Says of every block that what it left is 20 dB under the echo it removed."""

    def __init__(self):
        self.block_energies = None

    def __call__(self, block, mic):
        self.block_energies = (1.0, 100.0)
        return block


def test_a_command_in_what_echo_removal_left_of_our_sound_is_not_taken(room_noise):
    # Heard in the pause (the coach silent) or over it: far under the echo removed from under
    # its words, it is our own sound (echo_leftover). Where its words fell is not known for the
    # "stop": that one is weighed by the coach's words as before.
    engine = CountingEngine([Detection("pause", "pause", 0.06, 0.9, "x", during_coach=False,
                                       start_s=0.0, end_s=0.05),
                             Detection("stop", "stop", 0.06, 0.9, "x", during_coach=False)])
    posted: queue.Queue = queue.Queue()
    listener = Listener(lambda: Microphone("vmic"), engine, lambda: engine, posted.put,
                        lambda: False, cleaner=QuietLeftoverCleaner())
    listener.start()
    try:
        events = drain(posted, 2.0)
    finally:
        listener.stop()
    assert [e.command for e in events if isinstance(e, Heard)] == ["stop"]
    assert [e for e in events if isinstance(e, OwnVoice)] == [
        OwnVoice("pause", "pause", "", "x", leftover=True, over_echo_db=-20.0)]
    assert listener.status.ignored == 1
