"""What the coach has said lately, as text: the listener's check against hearing itself.

A command heard while the coach talks may be the coach's own voice coming back through the
room ("...then move on" heard as "next"). If the coach's recent words hold a phrase of that
command, the listener does not act on it; any other command is the person at the table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# How long words stay "recent" after they finished playing: the room's echo, the recogniser's
# endpointing and its second opinion all come after the words themselves (about 1 s measured).
KEEP_S = 4.0


class RecentSpeech:
    """Utterances queued or playing, and those that ended within KEEP_S. Written by the
    coordinator's thread (said) and the mixing thread (ended); read by the listener's."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[int, str] = {}  # utterance id -> text, not finished yet
        self._ended: list[tuple[float, str]] = []  # (when it ended, text)

    def said(self, utterance_id: int, text: str) -> None:
        with self._lock:
            self._open[utterance_id] = text

    def ended(self, utterance_id: int) -> None:
        with self._lock:
            text = self._open.pop(utterance_id, None)
            if text is not None:
                self._ended.append((self._clock(), text))

    def text(self, finished_only: bool = False) -> str:
        """Everything said within the last KEEP_S seconds and, unless `finished_only`,
        everything still to be said."""
        now = self._clock()
        with self._lock:
            self._ended = [(t, s) for t, s in self._ended if now - t <= KEEP_S]
            still = [] if finished_only else list(self._open.values())
            return " ".join([s for _, s in self._ended] + still)
