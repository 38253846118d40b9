"""Following a drifting echo path: the speaker's and the microphone's clocks seldom agree.

Separate devices (a USB microphone, a Bluetooth speaker) run tens to hundreds of parts per
million apart, and PulseAudio's loopback re-tunes its resampler all along (the delay of the
virtual room grew ~4 ms in 10 s, measured). An echo canceller's filter models one fixed
path: a delay that moves by a sample or two already spoils it (our live ERLE fell from 50-70 dB
on a steady path to 4-10 dB). So the reference is read with a stretch that follows the drift:
the canceller reports the bulk delay it measures, `ClockDrift` fits how fast that delay moves,
and the reference is read that much faster or slower (`interpolate`: between the samples) so
the delay the canceller sees stays put.
"""

from __future__ import annotations

import numpy as np

HALF_TAPS = 8  # windowed-sinc half-length: ~ -50 dB interpolation error over speech's band
FIT_S = 5.0  # fit the delay's slope over the estimates of this long
MIN_ESTIMATES = 5
JUMP_SAMPLES = 16.0  # estimates this far (1 ms) off the fitted line: a jump (stall, reopen)
MAX_SKEW = 2e-3  # clocks run at most this far apart; anything more is a mismeasure
# The delay tracker measures over a window (2 s: echo_adaptive.DelayEstimator) smoothed across looks
# (~2 s more): what it says describes the reading of a few seconds ago. Estimates made across
# a change of the reading (a move, a new skew) are not on one line: fitted, a step of 20
# samples (500 ppm x 2.5 s) passed for a slope, and the follower swung between 410 and 930
# ppm on a path drifting 925 (live). So a change is followed by this long without estimates.
SETTLE_S = 3.0
RESETTLE_SKEW = 20e-6  # a new skew closer than this to the last changes too little to wait


# The kernel for every fractional position, at 1/PHASES of a sample: worked out once rather
# than for every sample (cosines and a sinc for each of 16 taps, measured ~10 % of the live
# app's time). Rounding a position to the nearest phase moves it by 1/1024 sample at most:
# ~-56 dB at 4 kHz, below the windowed sinc's own error.
PHASES = 512
_TAPS = np.arange(-HALF_TAPS + 1, HALF_TAPS + 1)


def _kernels() -> np.ndarray:
    dist = _TAPS[None, :] - (np.arange(PHASES + 1) / PHASES)[:, None]
    window = (0.42 + 0.5 * np.cos(np.pi * dist / HALF_TAPS)
              + 0.08 * np.cos(2 * np.pi * dist / HALF_TAPS))
    return (np.sinc(dist) * window).astype(np.float32)


_KERNELS = _kernels()


def interpolate(x: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """`x` at fractional `positions` (indices into x; the ends clamp), band-limited: a
    Blackman-windowed sinc over 2 x HALF_TAPS samples."""
    base = np.floor(positions).astype(np.int64)
    phase = np.rint((positions - base) * PHASES).astype(np.int64)
    idx = np.clip(base[:, None] + _TAPS[None, :], 0, len(x) - 1)
    return np.einsum("ij,ij->i", x[idx].astype(np.float32), _KERNELS[phase])


def vertex_offset(a: float, b: float, c: float) -> float:
    """Where a sampled curve's peak (or trough) at `b`, between neighbours `a` and `c`, lies
    between the samples: the offset from `b` of the parabola through the three (0 if flat)."""
    den = a - 2 * b + c
    return 0.5 * (a - c) / den if den != 0 else 0.0


class ClockDrift:
    """How to read the reference so the echo path's delay holds still: each microphone block's
    reference starts `shift` samples later than its stamp says and steps `step` samples apart."""

    def __init__(self, rate: int) -> None:
        self._fit_samples = FIT_S * rate
        self._settle = SETTLE_S * rate
        self._settled_at = 0.0  # microphone sample from which estimates count
        self.skew = 0.0  # reference samples per microphone sample, minus one
        self.shift = 0.0
        self._heard = 0  # microphone samples so far
        self._estimates: list[tuple[int, float]] = []  # (microphone sample, delay in samples)
        # The last fit left the skew as it was: estimates once a second will do. Until then
        # (at the start, after each change) four a second get the next fit in sooner: live,
        # the first good skew came 11 s in, the echo sliding away meanwhile.
        self.steady = False

    @property
    def step(self) -> float:
        return 1.0 + self.skew

    def advance(self, samples: int) -> None:
        """A microphone block of `samples` was paired with its reference."""
        self._heard += samples
        self.shift += samples * self.skew

    def move(self, samples: float) -> None:
        """Read `samples` later from now on: the microphone's timestamps moved, or the echo
        path jumped (echo_jump). The fit starts again once the tracker sees the new reading."""
        self.shift += samples
        self._settle_from_now()

    def _settle_from_now(self) -> None:
        self._estimates = []
        self.steady = False
        self._settled_at = self._heard + self._settle

    def observe(self, delay_samples: float) -> bool:
        """The canceller measured the delay of the echo behind the reference as we read it.
        Returns whether more are wanted soon (not `steady`)."""
        if self._heard >= self._settled_at:
            self._fit(delay_samples)
        return not self.steady

    def _fit(self, delay_samples: float) -> None:
        # The path's own delay: what was measured, less the shift we read with. Fitting that
        # (not what is left after our correction) keeps this a plain estimate, not a loop.
        self._estimates.append((self._heard, delay_samples - self.shift))
        self._estimates = [e for e in self._estimates if e[0] >= self._heard - self._fit_samples]
        heard, delays = np.array(self._estimates).T
        if len(heard) < MIN_ESTIMATES or heard[-1] - heard[0] < self._fit_samples / 2:
            return
        slope, offset = np.polyfit(heard, delays, 1)
        if np.max(np.abs(delays - (slope * heard + offset))) > JUMP_SAMPLES:
            self._estimates = self._estimates[-1:]  # the path jumped: start again from here
            return
        # A growing delay: the echo falls behind what we read, so read the reference slower.
        skew = float(np.clip(-slope, -MAX_SKEW, MAX_SKEW))
        if abs(skew - self.skew) > RESETTLE_SKEW:
            self._settle_from_now()
        else:
            self.steady = True
        self.skew = skew
