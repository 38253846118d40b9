"""Was a heard command only what echo removal left of our own sound?

The canceller takes most of the coach's voice and the music out of the microphone, not all:
what is left is quieter than the echo it came from, and the recogniser still hears words in it
(in the live self-trigger test: a "pause" in the coach's "...up towards the shoulders, fan
out...", a "go on" in the music). A person who speaks is heard about as loud as the echo or
louder; so a command whose span of the cleaned signal holds far less energy than the echo
removed from that span is taken for the leftover, whatever words it seemed to be.

It cannot tell where the canceller removes little. In that test's sessions on the virtual
devices (recorded, replayed), once it has learned the room it removes a median 29-47 dB per 2 s
and never under 11 dB (a step of the loopback's path, followed within ~0.1 s: echo_jump); in
the first 20 s, while it learns and the loopback's rate control settles, only 3-25 dB. A
person's commands lie from 5 dB under the echo removed up. The check catches the quiet
leftovers; the rest is up to the recogniser's bars over the coach.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .echo_presence import HEARD_ABOVE
from .engines.base import SAMPLE_RATE

# A command's span after echo removal, against the echo removed from it (dB). A person's
# commands: -5 to +12 in a live room-loopback session (bench live --room-echo, their voice 3.9
# dB over the room), -5 to 0 in bench echo's room, where each is only as loud as the coach's
# echo. What the canceller leaves there of the coach's voice: -21 dB and under, of the music
# alone -26 and under (every half second after the first ten). A person more than 12 dB under
# the echo is rarely heard at all; the filter's first seconds leave more of the echo, and then
# nothing is dropped.
LEFTOVER_BELOW_DB = -12.0

# A block of the recogniser's stream: (start_s, end_s, (energy left after echo removal, energy
# of the echo removed) as sums of squares, or None when the canceller does not say).
Block = tuple[float, float, "tuple[float, float] | None"]


def over_echo_db(blocks: Iterable[Block], start_s: float, end_s: float) -> float | None:
    """How far the stream span [start_s, end_s] lies over the echo removed from it (dB), by
    the blocks that overlap it; None if no echo worth the name was removed there (nothing
    played, headphones) or nothing is known of it."""
    left = removed = 0.0
    samples = 0.0
    for a, b, energies in blocks:
        if energies is not None and a < end_s and b > start_s:
            left, removed = left + energies[0], removed + energies[1]
            samples += (b - a) * SAMPLE_RATE
    if samples == 0 or removed / samples < HEARD_ABOVE:
        return None
    return 10 * math.log10((left + 1e-12) / removed)
