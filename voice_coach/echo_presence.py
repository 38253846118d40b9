"""Does the microphone hear the speaker at all? With headphones on, or a speaker out of the
microphone's reach, nothing the coach says can come back, and the listener need not hold
commands said over its voice to stricter bars nor check them against its words.

Two signs that it does, either enough: taking the canceller's estimate of the echo away makes
what the microphone heard quieter (the filter found the path), or the microphone's loudness
rises and falls with what plays, up to a few seconds later (a path the filter has not found, or
lost: a reference misaligned past the delay search still leaves the echo loud).
"""

from __future__ import annotations

import numpy as np

# Not decided before this much playing into a live microphone: the filter is still learning.
DECIDE_AFTER_S = 10.0
# How much quieter the microphone's blocks get with the echo estimate taken away, in dB,
# averaged over ECHO_REMOVED_OVER_S while something plays: 17-25 dB in bench echo's rooms, 5-8 dB
# with a faint echo under a person's commands; 0-1 dB with none to find, also where another
# music plays in the room. Not the estimate's own loudness: with no echo the filter takes chance
# likenesses between two musics for one, and its estimate came within 0-7 dB of all the
# microphone heard (the canceller passes the microphone through while the filter would make it
# louder, so such an estimate removes nothing). Averaged in dB, a person talking over the echo
# for a moment does not hide the blocks the echo is removed from.
ECHO_REMOVED_OVER_S = 3.0
HEARS_ECHO_REMOVING_DB = 3.0
# One block counts at most this much: an echo removed down to nothing is no surer a sign.
REMOVED_AT_MOST_DB = 40.0
# Loudness envelopes (dB per frame) over the last ENVELOPE_S, the microphone's up to
# ENVELOPE_LAG_S behind what played (or ENVELOPE_LEAD_S ahead: clocks that disagree): a room's
# echo correlated 0.82-0.95 with what played, aligned or 1.5 s late; headphones 0.07-0.20.
ENVELOPE_S = 10.0
ENVELOPE_LAG_S = 2.0
ENVELOPE_LEAD_S = 0.5
FOLLOWS_ABOVE = 0.5
# Silence floors (mean square per sample), shared with the delay tracker: below them a frame
# tells nothing.
PLAYED_ABOVE = 1e-7
HEARD_ABOVE = 1e-9


class EchoPresence:
    """Fed every frame the canceller filters (the mic's, the reference's, its echo estimate)."""

    def __init__(self, rate: int, frame: int) -> None:
        self._frame_s = frame / rate
        self._playing_frames = 0  # frames in which something played into a live mic
        self._removed_db = 0.0  # in those frames, smoothed
        self._removed_once = False  # ... at least HEARS_ECHO_REMOVING_DB, once played_long
        self._smooth = self._frame_s / ECHO_REMOVED_OVER_S
        size = round(ENVELOPE_S / self._frame_s)
        self._mic_db = np.full(size, -100.0, np.float32)  # ring buffers of loudness
        self._ref_db = np.full(size, -100.0, np.float32)
        self._frames = 0
        self._follows: bool | None = None
        self._follows_at = -1  # frame count when _follows was computed

    def add(self, mic: np.ndarray, reference: np.ndarray, echo_estimate: np.ndarray) -> None:
        """One frame: the microphone's, what played, and the canceller's estimate of its echo."""
        mic_ms, ref_ms = float(mic @ mic) / len(mic), float(reference @ reference) / len(mic)
        i = self._frames % len(self._mic_db)
        self._mic_db[i] = 10 * np.log10(mic_ms + 1e-10)
        self._ref_db[i] = 10 * np.log10(ref_ms + 1e-10)
        self._frames += 1
        playing = ref_ms >= PLAYED_ABOVE and mic_ms >= HEARD_ABOVE
        if playing:
            self._playing_frames += 1
            left = mic - echo_estimate
            removed = 10 * np.log10(mic_ms / (float(left @ left) / len(mic) + 1e-12))
            self._removed_db += self._smooth * (
                min(removed, REMOVED_AT_MOST_DB) - self._removed_db)
            # An echo path the filter has removed stays heard: a wrong no costs more than a
            # wrong yes (no stricter bars, nothing removed: the coach's voice could pass for a
            # command), and a room does not go away while someone talks over the coach and
            # what is removed drowns in what they say. (Live, through the virtual room's
            # drifting loopback, the filter removed 1-3 dB over the first 12 s, 6-8 dB until
            # 24 s; by then the loudness check had said yes.)
            if self._removed_db >= HEARS_ECHO_REMOVING_DB and self.played_long:
                self._removed_once = True

    @property
    def played_long(self) -> bool:
        return self._playing_frames * self._frame_s > DECIDE_AFTER_S

    @property
    def hears(self) -> bool | None:
        """True or False once played_long; None before."""
        if not self.played_long:
            return None
        return self._removed_once or self._loudness_follows()

    def _loudness_follows(self) -> bool:
        """Does the mic's loudness follow what played? Worked out at most once a second."""
        if self._follows is not None and self._frames - self._follows_at < 1 / self._frame_s:
            return self._follows
        order = (np.arange(len(self._mic_db)) + self._frames) % len(self._mic_db)  # oldest first
        mic, ref = self._mic_db[order], self._ref_db[order]
        best = -1.0
        for lag in range(-round(ENVELOPE_LEAD_S / self._frame_s),
                         round(ENVELOPE_LAG_S / self._frame_s) + 1):
            heard, played = (mic[lag:], ref[:len(ref) - lag]) if lag >= 0 else (
                mic[:lag], ref[-lag:])
            best = max(best, _correlation(heard, played))
        self._follows, self._follows_at = best > FOLLOWS_ABOVE, self._frames
        return self._follows


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(a @ b) / den if den > 1e-9 else 0.0
