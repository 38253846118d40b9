"""Noticing that the echo path jumped by a few milliseconds, and by how much.

A stream that underruns, or PulseAudio's loopback catching up on its latency, moves the echo
a few milliseconds at once: measured on the virtual room, steps of ~3 ms every 4-10 s, the
path still between them (a fixed filter removed 59 dB there). The canceller's delay tracker
sees a step only after its 2 s window has filled with the new path and three looks agree: 2-3
s of echo let through per step, so half the session. A step shows at once in the filter's own
error, and its size is where the echo estimate lines up with the microphone again: the
estimate `l` samples earlier cancels the echo `l` samples later.
"""

from __future__ import annotations

import numpy as np

from .clock_drift import vertex_offset
from .echo_presence import HEARD_ABOVE

MAX_JUMP_MS = 12.0  # look this far either way
LOOK_SAMPLES = 256  # compare over this much of the microphone since the error went up
# The filter was removing the echo (its error this far under its estimate, smoothed)...
GOOD_BELOW_DB = -10.0
# ...and now its error is this close to the estimate, frame after frame.
BAD_ABOVE_DB = -3.0
# Taken only if the moved estimate leaves this much less: a person talking over the echo
# (the other reason for a sudden error) is in no estimate, moved or not.
BETTER_BY_DB = 10.0
HOLD_S = 0.3  # after a jump, while the reading moves and the filter settles


class JumpWatch:
    """Fed each frame the canceller filters: the microphone, its echo estimate, the error."""

    def __init__(self, rate: int, frame: int) -> None:
        self.max_lag = int(rate * MAX_JUMP_MS / 1000)
        keep = LOOK_SAMPLES + 2 * self.max_lag + frame
        self._mic = np.zeros(keep)
        self._est = np.zeros(keep)
        self._level_db = 0.0  # smoothed error against estimate, over frames with echo
        self._bad = 0  # samples since the error went up
        self._hold = 0
        self._hold_frames = int(HOLD_S * rate / frame)

    def add(self, mic: np.ndarray, estimate: np.ndarray, error: np.ndarray) -> float | None:
        """The path's jump in samples (> 0: the echo now comes later), or None."""
        n = len(mic)
        self._mic = np.concatenate([self._mic[n:], mic])
        self._est = np.concatenate([self._est[n:], estimate])
        if self._hold:
            self._hold -= 1
            return None
        est_power = float(estimate @ estimate)
        if est_power < HEARD_ABOVE * n:
            self._bad = 0
            return None
        ratio_db = 10 * np.log10((float(error @ error) + 1e-20) / est_power)
        was_good = self._level_db < GOOD_BELOW_DB
        self._level_db += 0.02 * (ratio_db - self._level_db)
        if ratio_db < BAD_ABOVE_DB:
            self._bad = 0
            return None
        self._bad += n
        if not was_good or self._bad < LOOK_SAMPLES + self.max_lag:
            return None
        jump = self._measure()
        if jump is not None:
            self._bad, self._hold = 0, self._hold_frames
        return jump

    def _measure(self) -> float | None:
        """Where the estimate fits the last LOOK_SAMPLES of the microphone (those max_lag
        before now: an echo come earlier needs the estimate from after them)."""
        lag = self.max_lag
        mic = self._mic[-LOOK_SAMPLES - lag:-lag]
        est = self._est[-LOOK_SAMPLES - 2 * lag:]  # est[j + lag - l] lines up with mic[j]
        cross = np.correlate(est, mic, "valid")[::-1]  # index lag + l: sum mic[j] est[j - l]
        power = np.cumsum(np.concatenate([[0.0], est ** 2]))
        own = (power[LOOK_SAMPLES:] - power[:-LOOK_SAMPLES])[::-1]  # the moved estimate's
        left = float(mic @ mic) - 2 * cross + own  # what each move would leave
        best = int(np.argmin(left))
        if best == lag or left[best] * 10 ** (BETTER_BY_DB / 10) > left[lag]:
            return None
        frac = 0.0
        if 0 < best < len(left) - 1:  # the minimum, between the samples
            frac = vertex_offset(left[best - 1], left[best], left[best + 1])
        return best - lag + frac
