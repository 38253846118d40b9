"""Where a spoken command begins and ends, from the sound level around a spotted word.

A command is said on its own: it rises out of the background (music, room) and falls back into
it. The keyword spotter knows roughly *where* a word was, but its boundaries are erratic; judging
a window cut mid-word makes the verifier hear half a word. So the verifier gets the whole
utterance: the run of frames loud enough to be speech around the spotted word's loudest frame,
bridging the short dips inside a phrase (stop closures, the gap in "go back").

Levels are on pre-emphasised audio (speech's consonants and formants stand out of a music bed's
low pads), relative to the background just before the word, so the same rules hold at any
volume and any music level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 160  # 10 ms at 16 kHz
BACKGROUND_S = 1.5  # the background level is read from this much audio before the word
# A floor for it (about -60 dBFS, a quiet room): digital silence before the music starts is not
# a background for quiet music to rise out of.
BACKGROUND_FLOOR_DB = 30.0
BACKGROUND_PERCENTILE = 20  # the quieter moments of the bed: music swells, speech comes and goes
MIN_RISE_DB = 6.0  # a word's loudest frame stands at least this far above the background
THRESHOLD_FRACTION = 0.4  # speech frames: above this fraction of the way from background to peak
MIN_THRESHOLD_DB = 4.0  # ...and at least this far above the background
BRIDGE_FRAMES = 15  # dips up to 150 ms inside a phrase keep it one utterance; longer ones end it
# A word found after what was already judged (`find`'s not_before) must be set off from it by a
# dip this long, and last this long itself: else it is the judged sound's own tail. On the
# bench's near-miss words such tails (10-90 ms, most touching the judged end) became four new
# false commands ("text", "backpack", "softly": a 20 ms tail, padded, was judged "next").
SEPARATED_FRAMES = 5
MIN_WORD_FRAMES = 12


@dataclass(frozen=True)
class Utterance:
    start: int  # samples, stream time
    end: int
    ended: bool  # followed by a dip long enough to say it is over
    rise_db: float  # loudest frame over the background


def frame_levels_db(x: np.ndarray) -> np.ndarray:
    """Level of each 10 ms frame of pre-emphasised int16 audio, in dB."""
    y = x.astype(np.float64)
    y[1:] -= 0.97 * y[:-1].copy()
    n = len(y) // FRAME
    frames = y[: n * FRAME].reshape(n, FRAME)
    return 10.0 * np.log10(np.mean(frames ** 2, axis=1) + 1.0)


def find(audio: np.ndarray, audio_start: int, word_start: int, word_end: int,
         not_before: int = 0) -> Utterance | None:
    """The utterance holding the spotted word [word_start, word_end) in `audio` (which starts at
    stream sample audio_start and runs to now), or None if nothing there rises above the bed.
    With `not_before` (a stream sample: what came before it was judged), only an utterance
    that begins after it, set off from it by a dip, is found."""
    levels = frame_levels_db(audio)
    n = len(levels)
    first_allowed = max(0, -(-(not_before - audio_start) // FRAME))
    i0 = min(max((word_start - audio_start) // FRAME, 0), n - 1)
    i1 = min(max((word_end - audio_start) // FRAME, i0 + 1), n)
    before = levels[max(0, i0 - int(BACKGROUND_S * 100)):max(0, i0 - 5)]
    i0 = max(i0, first_allowed)
    if n == 0 or i0 >= i1:
        return None
    background = max(BACKGROUND_FLOOR_DB, float(np.percentile(
        before if len(before) >= 30 else levels, BACKGROUND_PERCENTILE)))
    peak_at = i0 + int(np.argmax(levels[i0:i1]))
    rise = float(levels[peak_at]) - background
    if rise < MIN_RISE_DB:
        return None
    loud = levels > background + max(MIN_THRESHOLD_DB, THRESHOLD_FRACTION * rise)
    first = last = peak_at
    for i in range(peak_at - 1, first_allowed - 1, -1):
        if loud[i]:
            first = i
        elif first - i > BRIDGE_FRAMES:
            break
    for i in range(peak_at + 1, n):
        if loud[i]:
            last = i
        elif i - last > BRIDGE_FRAMES:
            break
    if first_allowed and (first - first_allowed < SEPARATED_FRAMES
                          or last + 1 - first < MIN_WORD_FRAMES):
        return None
    ended = n - 1 - last > BRIDGE_FRAMES
    return Utterance(audio_start + first * FRAME, audio_start + (last + 1) * FRAME, ended, rise)
