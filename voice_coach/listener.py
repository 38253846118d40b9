"""The listening edge: microphone blocks -> (echo removal) -> engine -> Heard events in the inbox.

Runs on its own thread and never touches the session state: it only posts events. It keeps
going through trouble: a lost microphone is reported once and reopened, a recogniser that
raises is rebuilt, and while the coach is speaking a command its own words just held is taken
for its voice coming back, not acted on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import commands, echo_leftover
from .audio_in import level_dbfs
from .echo_leftover import LEFTOVER_BELOW_DB
from .engines.base import SAMPLE_RATE, Detection, Engine
from .events import DeviceProblem, Event, Heard, OwnVoice

REOPEN_EVERY_S = 2.0
DEAD_AFTER_S = 3.0  # no sound at all for this long: the microphone is gone
# Commands decided within this long after the coach stopped speaking still count as "while
# speaking": the room's echo and the recogniser's own delay trail the playback.
SPEAKING_HANGOVER_S = 0.6
STREAM_CLOCK_BLOCKS = 500  # ~30 s of 64 ms blocks: longer than any verdict takes


class Mic(Protocol):
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: object) -> None: ...
    @property
    def active(self) -> bool: ...
    def read(self, timeout_s: float = 1.0) -> np.ndarray | None: ...


class Cleaner(Protocol):
    def __call__(self, block: np.ndarray, mic: Any) -> np.ndarray: ...


@dataclass
class ListenerStatus:
    """What the display shows; written by the listener thread, read by anyone."""

    level_db: float = -100.0
    last_heard: str = ""
    last_engine: str = ""
    hearing: bool = False
    ignored: int = 0  # detections dropped because the coach was speaking


class Listener:
    def __init__(self, open_mic: Callable[[], Mic], engine: Engine,
                 make_engine: Callable[[], Engine], post: Callable[[Event], None],
                 coach_speaking: Callable[[], bool], cleaner: Cleaner | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 coach_words: Callable[..., str] | None = None,
                 coach_words_near: Callable[[float, float], str | None] | None = None):
        """`engine` is built by the caller before audio starts (loading a model is heavy and
        fails fast there); `make_engine` builds a fresh one if it ever crashes. `coach_words`:
        what the coach said lately, (finished_only=True) only its finished sentences
        (RecentSpeech.text); without it, only the barge-in commands are heard while the coach
        speaks. `coach_words_near(start, end)`: the words the coach played close to that span
        of `clock` time (RecentSpeech.near; None: not known), asked first when the engine says
        where in the audio the command's words were."""
        self._engine = engine
        self._open_mic = open_mic
        self._make_engine = make_engine
        self._post = post
        self._coach_speaking = coach_speaking
        self._cleaner = cleaner
        self._clock = clock
        self._coach_words = coach_words
        self._coach_words_near = coach_words_near
        self._heard_at = _StreamClock()  # when the engine's stream positions were heard
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_speaking_at = -1e9
        self._reported_ok = True  # the microphone was checked before the session started
        self._recently = False  # the coach was speaking in the block fed last
        self.status = ListenerStatus()
        self.engine_name = engine.name

    def start(self) -> None:
        self._receive_from(self._engine)
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---------------------------------------------------------------- the loop

    @property
    def engine(self) -> Engine:
        """The engine listening now (a replacement after a crash)."""
        return self._engine

    def _run(self) -> None:
        while not self._stop.is_set():
            detail = "the input stream stopped"
            try:
                with self._open_mic() as mic:
                    self._engine = self._listen(mic, self._engine)
            except Exception as err:  # noqa: BLE001 - any device failure: keep the session going
                detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.status.hearing = False
            self.status.level_db = -100.0
            self._set_hearing(False, detail)
            self._stop.wait(REOPEN_EVERY_S)

    def _set_hearing(self, ok: bool, detail: str = "") -> None:
        """Tell the session once when the microphone goes dead and once when it is back."""
        if ok != self._reported_ok and not self._stop.is_set():
            self._reported_ok = ok
            self._post(DeviceProblem("microphone", ok, detail))

    def _listen(self, mic: Mic, engine: Engine) -> Engine:
        """Feed blocks until the microphone goes dead or we are told to stop; returns the
        engine in use (a new one if the old one failed). Dead = no blocks for a while, or,
        after real sound, nothing but digital zeros (a stream PulseAudio moved to a null source
        when the device went away, or a muted input): a live microphone always hisses."""
        last_block_at = last_sound_at = self._clock()
        had_sound = False
        while not self._stop.is_set():
            block = mic.read(timeout_s=0.5)
            now = self._clock()
            if block is None:
                if now - last_block_at > DEAD_AFTER_S or not mic.active:
                    return engine
                continue
            last_block_at = now
            if np.any(block):
                had_sound, last_sound_at = True, now
                self.status.hearing = True
                self._set_hearing(True)
            elif had_sound and now - last_sound_at > DEAD_AFTER_S:
                return engine
            if self._cleaner is not None:
                block = self._cleaner(block, mic)
            self._heard_at.fed(len(block), now, getattr(self._cleaner, "block_energies", None))
            self.status.level_db = level_dbfs(block)
            recently = getattr(self._cleaner, "coach_in_block", None)  # by the audio's times
            if recently is None:  # no times to go by: was the coach speaking just now
                speaking = self._coach_speaking()
                if speaking:
                    self._last_speaking_at = now
                recently = speaking or now - self._last_speaking_at < SPEAKING_HANGOVER_S
            self._recently = recently
            try:
                engine.set_coach_speaking(recently)
                detections = engine.feed(block)
            except Exception as err:  # noqa: BLE001 - a recogniser crash must not end listening
                self._post(DeviceProblem("recognizer", False, str(err)[:120]))
                close = getattr(engine, "close", None)
                if close is not None:  # a recogniser process that misbehaved: end it
                    close()
                engine = self._make_engine()
                self._heard_at = _StreamClock()  # the new engine's stream starts at 0
                self._receive_from(engine)
                continue
            for detection in detections:
                self._deliver(detection, recently)
        return engine

    def _receive_from(self, engine: Engine) -> None:
        """An engine in a process of its own can hand over what it heard the moment it is
        decided, on its receiving thread, rather than with the next block's feed()."""
        deliver_to = getattr(engine, "deliver_to", None)
        if deliver_to is not None:
            deliver_to(self._deliver_all)

    def _deliver_all(self, detections: list[Detection]) -> None:
        for detection in detections:
            self._deliver(detection, self._recently)

    def _own_voice_words(self, detection: Detection) -> str | None:
        """The coach's words that make `detection` maybe its own voice (maybe_own_voice), or
        None if it is the person's: the words played close to the command's own when both times
        are known, else all its recent words."""
        near = self._coach_words_near
        if near is not None and detection.start_s is not None and detection.end_s is not None:
            played = near(self._heard_at.time_of(detection.start_s),
                          self._heard_at.time_of(detection.end_s))
            if played is not None:
                return played if maybe_own_voice(detection, played, played) else None
        words = self._coach_words
        recent = words() if words else None
        if maybe_own_voice(detection, recent, words(True) if words else None):
            return recent or ""
        return None

    def _deliver(self, detection: Detection, coach_speaking: bool) -> None:
        if detection.during_coach is not None:  # the engine knows what played under the words
            coach_speaking = detection.during_coach
        over_echo = None
        if detection.start_s is not None and detection.end_s is not None:
            over_echo = self._heard_at.over_echo_db(detection.start_s, detection.end_s)
            over_echo = None if over_echo is None else round(over_echo, 1)
        if over_echo is not None and over_echo < LEFTOVER_BELOW_DB:
            self.status.ignored += 1
            self._post(OwnVoice(detection.command, detection.text, "", detection.engine,
                                leftover=True, over_echo_db=over_echo))
            return
        if coach_speaking and (said := self._own_voice_words(detection)) is not None:
            self.status.ignored += 1
            self._post(OwnVoice(detection.command, detection.text, said, detection.engine,
                                over_echo_db=over_echo))
            return
        self.status.last_heard = detection.text or detection.command
        self.status.last_engine = detection.engine
        self._post(Heard(detection.command, detection.text, detection.at_s, detection.engine,
                         detection.confidence, over_echo))


class _StreamClock:
    """Maps the engine's stream position (seconds of audio fed) to when that audio was read from
    the microphone, and to what echo removal left and removed there, for the last
    STREAM_CLOCK_BLOCKS blocks. Fed by the listener's thread, read by the engine's receiving
    thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: deque[tuple[float, float, float, tuple[float, float] | None]] = deque(
            maxlen=STREAM_CLOCK_BLOCKS)  # (start_s, end_s, read_at, energies)
        self._fed_s = 0.0

    def fed(self, samples: int, read_at: float,
            energies: tuple[float, float] | None = None) -> None:
        """A block went to the engine, read at `read_at`; `energies`: (left, removed) by echo
        removal (MicCleaner.block_energies), None if not known."""
        with self._lock:
            start_s, self._fed_s = self._fed_s, self._fed_s + samples / SAMPLE_RATE
            self._blocks.append((start_s, self._fed_s, read_at, energies))

    def time_of(self, stream_s: float) -> float:
        """When stream second `stream_s` was heard: its block was read at the block's end."""
        with self._lock:
            blocks = list(self._blocks)
        if not blocks:
            return 0.0
        for _, end_s, read_at, _ in blocks:
            if end_s >= stream_s:
                return read_at - (end_s - stream_s)
        _, end_s, read_at, _ = blocks[-1]
        return read_at + (stream_s - end_s)

    def over_echo_db(self, start_s: float, end_s: float) -> float | None:
        """echo_leftover.over_echo_db over the blocks kept."""
        with self._lock:
            blocks = [(a, b, energies) for a, b, _, energies in self._blocks]
        return echo_leftover.over_echo_db(blocks, start_s, end_s)


def maybe_own_voice(detection: Detection, coach_words: str | None,
                    finished_words: str | None = None) -> bool:
    """Heard while the coach talks: could it be the coach itself? The coach's scripts say
    "move on", "less pressure", "hold on", and what was left of its voice after echo removal
    did trigger "move on" and "go on" in the live self-trigger test. Pain words are always the
    person's. A barge-in command said by its own name is too, unless a sentence the coach has
    just finished (`finished_words`) held that very word ("...say next."): its echo is heard a
    moment after the coach said it, while a person says "next" in the middle of that sentence.
    Any other command is taken for the coach's voice when its recent words (`coach_words`,
    finished or still playing; None: not known) hold a phrase of that command, or the first word
    of the phrase heard (the coach's "Keep the room warm." came back as "keep going" in bench
    live --room-echo, early on, while the canceller was still learning); else it is the person
    at the table (the engine holds it to stricter bars over the coach). Where it is known
    when each word played, both are the words played close to the command's own (the listener
    passes RecentSpeech.near for both): a "back" said 3 s after the coach's "lower back" is the
    person's, and so is a "next" said while "...say next." is still to come."""
    said = detection.text or detection.command
    if commands.is_pain(said):
        return False
    if commands.is_barge_in(detection.command, said):
        return finished_words is not None and commands.holds(finished_words, said)
    return (coach_words is None or commands.mentions(coach_words, detection.command)
            or commands.leads_with_word_of(said, coach_words))
