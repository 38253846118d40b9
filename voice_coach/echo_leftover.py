"""Was a heard command only what echo removal left of our own sound?

The canceller takes most of the coach's voice and the music out of the microphone, not all:
what is left is quieter than the echo it came from, and the recogniser still hears words in it
(in the live self-trigger test: a "pause" in the coach's "...up towards the shoulders, fan
out...", a "go on" in the music). A person who speaks is heard about as loud as the echo or
louder; so a command whose span of the cleaned signal holds far less energy than the echo
removed from that span is taken for the leftover, whatever words it seemed to be.

It cannot tell where the canceller removes little, and on the virtual devices it does: in that
test, per 2 s, what was left lay from 16 dB under the echo removed to 5 dB over it (with the
loopback's rate control on or off), while a person's commands lie from 5 dB under it up. The
check catches the quiet leftovers; the rest is up to the recogniser's bars over the coach.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from .echo_presence import HEARD_ABOVE

# A command's span after echo removal, against the echo removed from it (dB). A person's
# commands: -5 to +12 in a live room-loopback session (bench live --room-echo, their voice 3.9
# dB over the room), -5 to 0 in bench echo's room, where each is only as loud as the coach's
# echo. What the canceller leaves there of the coach's voice: -21 dB and under, of the music
# alone -26 and under (every half second after the first ten). A person more than 12 dB under
# the echo is rarely heard at all; the filter's first seconds leave more of the echo, and then
# nothing is dropped.
LEFTOVER_BELOW_DB = -12.0
KEPT_BLOCKS = 500  # ~30 s of 64 ms blocks: longer than any verdict takes


class EchoLeftover:
    """Per block fed to the recogniser: the energy left after echo removal and the energy of
    the echo removed, by the recogniser's stream position. Fed by the listener's thread, read
    by the engine's receiving thread."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._lock = threading.Lock()
        self._blocks: deque[tuple[float, int, float, float]] = deque(maxlen=KEPT_BLOCKS)
        self._fed_s = 0.0

    def fed(self, samples: int, energies: tuple[float, float] | None) -> None:
        """A block of `samples` went to the recogniser; `energies`: (left, removed) sums of
        squares, or None when the canceller does not say."""
        with self._lock:
            start = self._fed_s
            self._fed_s += samples / self._rate
            if energies is not None:
                self._blocks.append((start, samples, *energies))

    def over_echo_db(self, start_s: float, end_s: float) -> float | None:
        """How far the stream span [start_s, end_s] lies over the echo removed from it (dB);
        None if no echo worth the name was removed there (nothing played, headphones)."""
        with self._lock:
            blocks = list(self._blocks)
        left = removed = 0.0
        n = 0
        for at, samples, block_left, block_removed in blocks:
            if at < end_s and at + samples / self._rate > start_s:
                left, removed, n = left + block_left, removed + block_removed, n + samples
        if n == 0 or removed / n < HEARD_ABOVE:
            return None
        return 10 * math.log10((left + 1e-12) / removed)
