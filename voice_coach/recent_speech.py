"""What the coach has said lately, as text and, once played, word by word in time: the
listener's check against hearing itself.

A command heard while the coach talks may be the coach's own voice coming back through the
room ("...then move on" heard as "next"). If the coach played a phrase of that command close to
when the command was heard, the listener does not act on it; any other command is the person at
the table. Where it is not known when the words played, anything the coach said lately counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

# How long words stay "recent" after they finished playing: the room's echo, the recogniser's
# endpointing and its second opinion all come after the words themselves (about 1 s measured).
KEEP_S = 4.0
# A word played close to a heard command could be it coming back. The estimate of a word's time
# within its sentence is off by up to ~0.4 s either way, the engine's span of what it heard by
# ~0.1 s; the speaker's and microphone's latencies and the room only ever delay the echo (~0.3 s
# at most). So a word that ended up to NEAR_BEFORE_S before the command was heard may be it, and
# one that began up to NEAR_AFTER_S after it: what had not played yet cannot have been heard. (A
# window of 1 s both ways dropped a "next" said 0.73 s before the coach's own "next".)
NEAR_BEFORE_S = 1.0
NEAR_AFTER_S = 0.5
# How long played words are kept for that check: a verdict can come ~3 s after the words (Whisper
# on a busy machine), and the check looks NEAR_BEFORE_S before them.
TIMED_KEEP_S = 8.0
SILENT_BELOW_DB = 40.0  # frames this far under the loudest frame of a sentence hold no voice

WordSpan = tuple[float, float, str]  # (start_s, end_s, word)


def word_spans(text: str, audio: np.ndarray, rate: int) -> list[WordSpan]:
    """When each word of `text` sounds in `audio` (its synthesis), in seconds from the first
    sample: the words' letters spread over the 10 ms frames that hold voice, so the pauses at
    commas and full stops take up no word's time. An estimate (a synthesiser's long and short
    syllables are not letters), good to a few tenths of a second."""
    words = text.split()
    frame = max(1, rate // 100)
    n = len(audio) // frame
    if not words or n == 0:
        return []
    mono = np.asarray(audio, np.float32).reshape(-1)[:n * frame]
    energy = np.mean(mono.reshape(n, frame) ** 2, axis=1)
    voiced = energy > energy.max() * 10 ** (-SILENT_BELOW_DB / 10)
    reached = np.cumsum(voiced)  # voiced frames up to and including each frame
    weights = np.array([len(w) + 1 for w in words], np.float64)  # letters and the space after
    edges = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * reached[-1]
    starts = np.searchsorted(reached, edges[:-1], side="right")  # its first voiced frame
    ends = np.searchsorted(reached, edges[1:], side="left") + 1  # past its last voiced frame
    sec = frame / rate
    return [(float(min(a, n - 1) * sec), float(min(b, n) * sec), w)
            for a, b, w in zip(starts, ends, words, strict=True)]


def words_near(spans: Iterable[WordSpan], start: float, end: float) -> str:
    """The words of `spans` (on one clock) that may be what was heard over [start, end]: from
    those that ended NEAR_BEFORE_S before it to those that began NEAR_AFTER_S after, in order."""
    lo, hi = start - NEAR_BEFORE_S, end + NEAR_AFTER_S
    return " ".join(w for a, b, w in sorted(spans) if a <= hi and b >= lo)


@dataclass
class _Said:
    uid: int
    text: str
    words: list[WordSpan] | None = None  # from its first sample, once rendered
    started_at: float | None = None  # when its first sample played
    ended_at: float | None = None


class RecentSpeech:
    """Utterances queued or playing, and those that ended a little while ago. Written by the
    coordinator's thread (said), the speech feeder (rendered) and the mixing thread (started,
    ended); read by the listener's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[int, _Said] = {}  # utterance id -> what it says, not finished yet
        self._ended: list[_Said] = []

    def said(self, utterance_id: int, text: str) -> None:
        with self._lock:
            self._open[utterance_id] = _Said(utterance_id, text)

    def rendered(self, utterance_id: int, words: list[WordSpan]) -> None:
        """Its words' times from its first sample (word_spans of its audio)."""
        with self._lock:
            if (said := self._open.get(utterance_id)) is not None:
                said.words = words

    def started(self, utterance_id: int, in_s: float = 0.0) -> None:
        """Its first sample plays `in_s` seconds from now."""
        with self._lock:
            if (said := self._open.get(utterance_id)) is not None:
                said.started_at = self._clock() + in_s

    def ended(self, utterance_id: int) -> None:
        with self._lock:
            said = self._open.pop(utterance_id, None)
            if said is not None:
                said.ended_at = self._clock()
                self._ended.append(said)

    def text(self, finished_only: bool = False) -> str:
        """Everything said within the last KEEP_S seconds and, unless `finished_only`,
        everything still to be said."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            recent = [s.text for s in self._ended
                      if s.ended_at is not None and now - s.ended_at <= KEEP_S]
            still = [] if finished_only else [s.text for s in self._open.values()]
            return " ".join(recent + still)

    def near(self, start: float, end: float) -> str | None:
        """The words the coach played that may be what was heard over [start, end] (this
        object's clock; see words_near), in order; None if something playing then has no known
        times (then go by text())."""
        now = self._clock()
        played: list[WordSpan] = []
        with self._lock:
            self._forget(now)
            for said in [*self._ended, *self._open.values()]:
                if said.started_at is None:  # not played yet (or never): it cannot echo
                    continue
                if said.words is None:
                    return None
                stop = said.ended_at if said.ended_at is not None else now
                played += [(said.started_at + a, said.started_at + b, word)
                           for a, b, word in said.words if said.started_at + a < stop]
        return words_near(played, start, end)

    def played(self, utterance_id: int) -> list[WordSpan]:
        """The words of a played utterance, at the times they sounded (or will)."""
        with self._lock:
            said = self._open.get(utterance_id) or next(
                (s for s in self._ended if s.uid == utterance_id), None)
            if said is None or said.started_at is None or said.words is None:
                return []
            return [(said.started_at + a, said.started_at + b, w) for a, b, w in said.words]

    def _forget(self, now: float) -> None:
        self._ended = [s for s in self._ended
                       if s.ended_at is not None and now - s.ended_at <= TIMED_KEEP_S]
