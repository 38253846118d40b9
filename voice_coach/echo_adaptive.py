"""Our own echo canceller ("adaptive"), pure numpy: a two-path partitioned-block
frequency-domain NLMS filter (PBFDAF, Speex-style MDF) behind a GCC-PHAT bulk-delay tracker, then
a residual echo suppressor. `echo.EchoCanceller` is the way in."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from .clock_drift import vertex_offset
from .echo_frames import Framer
from .echo_jump import JumpWatch
from .echo_presence import HEARD_ABOVE, PLAYED_ABOVE, EchoPresence

# Speex MDF's foreground/background decision constants (update when the background filter is
# clearly better, back-track when it clearly diverged - typically through doubletalk).
_VAR1_UPDATE = 0.5
_VAR2_UPDATE = 0.25
_VAR_BACKTRACK = 4.0
PASS_SMOOTHING = 0.125  # per block: energies over the last ~8 blocks decide whether to pass


class DelayEstimator:
    """Bulk delay of the microphone behind the reference, by smoothed GCC-PHAT over a window."""

    def __init__(self, rate: int, max_delay_ms: float = 500.0, window_s: float = 2.0) -> None:
        self.rate = rate
        self.max_lag = int(rate * max_delay_ms / 1000)
        self.window = max(int(rate * window_s), 2 * self.max_lag)
        # Long enough that no lag wraps around into 0..max_lag; a size FFTs are fast at, not
        # the next power of two (40500 points for 2 s, not 65536).
        n = scipy.fft.next_fast_len(self.window + self.max_lag + 1, real=True)
        self.n_fft = n
        freqs = np.fft.rfftfreq(n, 1.0 / rate)
        # Below 100 Hz is room rumble and hum; above 7 kHz our speech and music carry little.
        # Only the bins between are kept (the weighting is zero elsewhere).
        band = np.flatnonzero((freqs > 100) & (freqs < min(7000.0, 0.45 * rate)))
        self._band = slice(int(band[0]), int(band[-1]) + 1)
        self.cross = np.zeros(len(band), np.complex64)
        self._weighted = np.zeros(n // 2 + 1, np.complex64)
        self.confidence = 0.0

    def update(self, mic: np.ndarray, ref: np.ndarray) -> float | None:
        """Feed the latest window of both signals; returns the delay in samples when confident."""
        if np.mean(ref ** 2) < PLAYED_ABOVE or np.mean(mic ** 2) < HEARD_ABOVE:
            return None  # nothing played or nothing heard: no information about the delay
        # Single precision: this runs up to four times a second live, and a peak's place
        # needs no more (measured: within 0.05 sample of double precision's estimate).
        spec_m = scipy.fft.rfft(mic.astype(np.float32), self.n_fft)[self._band]
        spec_r = scipy.fft.rfft(ref.astype(np.float32), self.n_fft)[self._band]
        self.cross *= 0.6
        self.cross += 0.4 * spec_m * np.conj(spec_r)
        mag = np.abs(self.cross)
        # PHAT whitens the spectrum so tonal music does not smear the peak; beta < 1 keeps a
        # little weight on strong bins, which is more robust when most bins hold only noise.
        self._weighted[self._band] = self.cross / (mag ** 0.8 + 1e-12 * mag.max() + 1e-30)
        corr = np.abs(scipy.fft.irfft(self._weighted, self.n_fft)[: self.max_lag + 1])
        peak = int(np.argmax(corr))
        self.confidence = float(corr[peak] / (np.std(corr) + 1e-30))
        # A maximum on the range's edge is no peak found: the echo lies beyond it. Live, three
        # "0.0"s in a row once moved the filter's taps 54 ms off a path it had right.
        if self.confidence < 8.0 or peak in (0, self.max_lag):
            return None
        # A sub-sample estimate (the peak is inside the range: checked above).
        return peak + vertex_offset(float(corr[peak - 1]), float(corr[peak]),
                                    float(corr[peak + 1]))


class AdaptiveCanceller:
    """Our own canceller: removes the echo of `reference` from `mic`; output has mic's dtype.

    Blocks may have any length (mic and reference equal); the output lags the input by
    `latency_samples` (2 x `block` with suppression, `block` without).
    """

    def __init__(self, rate: int = 16000, *, tail_ms: float = 250.0, max_delay_ms: float = 500.0,
                 block: int | None = None, mu: float = 0.5, suppress: bool = True,
                 delay_ms: float | None = None, margin_ms: float = 5.0,
                 on_estimate: Callable[[float], bool | None] | None = None,
                 on_jump: Callable[[float], None] | None = None) -> None:
        self.rate = rate
        # Told each confident bulk-delay measurement (samples); it answers True while it
        # wants them four times a second (a drift follower still fitting).
        self.on_estimate = on_estimate
        self._eager = False
        self.n = block or (256 if rate <= 16000 else 512)
        n = self.n
        # Told when the echo path jumps (samples, > 0: later), to read the reference that much
        # earlier from then on (echo_jump): the filter stays right, nothing to learn again.
        self.on_jump = on_jump
        self._jumps = JumpWatch(rate, n) if on_jump is not None else None
        self.margin = int(rate * margin_ms / 1000)
        # Partitions cover the tail, the margin kept before the estimated delay (an early
        # reflection or a slightly late estimate must stay inside the filter) and a block of slack.
        self.k = math.ceil((rate * tail_ms / 1000 + self.margin) / n) + 1
        self.mu = mu
        self.suppress = suppress
        self.delays = DelayEstimator(rate, max_delay_ms)
        self.estimate_every = max(1, int(0.25 * rate / n))
        hist = max(self.delays.window, self.delays.max_lag + (self.k + 2) * n)
        self._ref = np.zeros(hist)
        self._mic = np.zeros(self.delays.window)
        self._frames = 0
        self.presence = EchoPresence(rate, n)
        # Running total of the echo estimate's energy (sum of squares), for a caller that
        # weighs what is left after removal against what was removed (echo_leftover).
        self.echo_energy = 0.0
        self._recent: list[float] = []
        self.delay_samples: float | None = None
        self._align = 0  # samples the reference is delayed by before the filter
        if delay_ms is not None:
            self._set_delay(delay_ms * rate / 1000)
        bins = n + 1
        self._wf = np.zeros((self.k, bins), np.complex128)  # foreground: used for output
        self._wb = np.zeros((self.k, bins), np.complex128)  # background: always adapting
        self._swapped = False
        self._heard_energy = self._left_energy = 0.0  # per block, smoothed (PASS_SMOOTHING)
        self._x = np.zeros((self.k, bins), np.complex128)
        self._x_align = -1
        self.mu_max = 2.0
        self.leak = 1.0
        self._learned = 0
        self._lin_pe = np.zeros(bins)
        self._lin_py = np.zeros(bins)
        self._lin_pey = self._lin_pyy = 0.0
        self._davg1 = self._davg2 = self._dvar1 = self._dvar2 = 0.0
        self._window = np.sqrt(np.hanning(2 * n + 1)[:-1])  # sqrt-Hann: perfect overlap-add
        self._e_prev = np.zeros(n)
        self._y_prev = np.zeros(n)
        self._ola = np.zeros(n)
        self._pyy = np.zeros(bins)
        self._pee = np.zeros(bins)
        self._band = np.minimum(np.arange(bins) * 16 // bins, 15)  # 16 equal bands
        self._pey = np.zeros(16)
        self._pyy_sum = np.zeros(16)
        self._residual = np.zeros(bins)
        self._gain = np.ones(bins)
        self.latency_samples = 2 * n if suppress else n
        self._framer = Framer(n, self._frame)

    @property
    def delay_ms(self) -> float | None:
        """The tracked bulk delay of the mic behind the reference (None until measured)."""
        return None if self.delay_samples is None else 1000 * self.delay_samples / self.rate

    @property
    def hears_reference(self) -> bool | None:
        """Does the microphone hear what is played (headphones, a speaker out of its reach:
        no)? None until it has played a while (echo_presence)."""
        return self.presence.hears

    def process(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Cancel the echo in one block; returns as many samples as given, in mic's dtype."""
        return self._framer.process(mic, reference)

    def _set_delay(self, samples: float) -> None:
        """Adopt a bulk delay, to the sample; the learned taps move with it, so nothing is lost
        and a clock that slips a few samples now and then is followed without re-learning."""
        self.delay_samples = samples
        align = int(np.clip(round(samples) - self.margin, 0, self.delays.max_lag))
        shift = align - self._align
        self._align = align
        if shift and hasattr(self, "_wf"):
            n = self.n
            for w in (self._wf, self._wb):
                taps = np.fft.irfft(w, axis=1)[:, :n].reshape(-1)  # the whole impulse response
                moved = np.zeros_like(taps)
                if abs(shift) < len(taps):
                    if shift > 0:
                        moved[:-shift] = taps[shift:]
                    else:
                        moved[-shift:] = taps[:shift]
                blocks = np.zeros((self.k, 2 * n))
                blocks[:, :n] = moved.reshape(self.k, n)
                w[:] = np.fft.rfft(blocks, axis=1)

    def _track_delay(self) -> None:
        est = self.delays.update(self._mic, self._ref[-self.delays.window:])
        if est is None:
            return
        if self.on_estimate is not None:
            self._eager = bool(self.on_estimate(est))
        self._recent = (self._recent + [est])[-3:]
        # Three confident estimates in a row within 1 ms of each other: adopt it.
        if len(self._recent) == 3 and np.ptp(self._recent) < 0.001 * self.rate:
            new = float(np.median(self._recent))
            if self.delay_samples is None or abs(new - self.delay_samples) > 0.5:
                self._set_delay(new)

    def _frame(self, d: np.ndarray, r: np.ndarray) -> np.ndarray:
        n, k = self.n, self.k
        self._ref[:-n] = self._ref[n:]
        self._ref[-n:] = r
        self._mic[:-n] = self._mic[n:]
        self._mic[-n:] = d
        self._frames += 1
        # Look for the delay four times a second until found, then once a second to track it;
        # four times again while the latest look disagrees (a stall or a re-opened stream
        # moved the path: the filter is useless until the delay is followed) or while the drift
        # follower is still fitting its skew (on_estimate).
        # No echo to find for a while (headphones, a speaker far away, the room silent): once a
        # second too. Searching four times a second for an echo that was not there took about a
        # quarter of the canceller's time (profiled live; 5.6 -> 4.1 % of a core without it).
        locked = self.delay_samples is not None and (
            not self._recent or abs(self._recent[-1] - self.delay_samples) < 0.001 * self.rate)
        no_echo = self.delay_samples is None and self.presence.played_long
        every = self.estimate_every * (4 if no_echo or (locked and not self._eager) else 1)
        if self._frames % every == 0:
            self._track_delay()
        end = len(self._ref) - self._align
        seg = self._ref[end - (k + 1) * n: end]
        if self._x_align != self._align:
            # Partition p holds the 2n reference samples ending p blocks ago (newest first).
            self._x = np.fft.rfft(sliding_window_view(seg, 2 * n)[::n][::-1], axis=1)
            self._x_align = self._align
        else:  # the usual case: one new block in, the oldest out
            self._x[1:] = self._x[:-1]
            self._x[0] = np.fft.rfft(seg[-2 * n:])
        x = self._x
        yf = np.fft.irfft(np.sum(self._wf * x, axis=0))[n:]
        yb = np.fft.irfft(np.sum(self._wb * x, axis=0))[n:]
        ef, eb = d - yf, d - yb
        self._adapt(x, eb, yb, d)
        self._choose(ef, eb, yf, yb)
        if self._swapped:
            yf, ef = yb, eb
        if self._jumps is not None:  # before the pass below: a path that jumped shows here
            jump = self._jumps.add(d, yf, ef)
            if jump is not None and self.on_jump is not None:
                self.on_jump(jump)
        # A filter that makes what the microphone heard louder is not removing an echo: the
        # microphone passes as it is (judged over the last ~130 ms, so that a block of
        # doubletalk keeps its echo removed). With no echo at all (headphones, another
        # music in the room) the filter took chance likenesses between the two musics for an
        # echo path, and took a filtered copy of the coach's voice and music away from a
        # microphone that never heard them: 3-8 dB louder than what it heard.
        self._heard_energy += PASS_SMOOTHING * (float(d @ d) - self._heard_energy)
        self._left_energy += PASS_SMOOTHING * (float(ef @ ef) - self._left_energy)
        adds = self._left_energy > self._heard_energy
        self.presence.add(d, r, np.zeros(n) if adds else yf)
        if self.presence.hears is False:  # no echo of ours to remove: the microphone as it is
            ef, yf = d.copy(), np.zeros(n)
        elif adds:
            ef = d.copy()  # the suppressor still hears of the echo (a path that just jumped)
        else:
            self.echo_energy += float(yf @ yf)
        return self._suppress(ef, yf) if self.suppress else ef

    def _adapt(self, x: np.ndarray, eb: np.ndarray, yb: np.ndarray, d: np.ndarray) -> None:
        n = self.n
        power = np.sum(x.real ** 2 + x.imag ** 2, axis=0)
        if power.sum() < 1e-8 * n * self.k or np.max(np.abs(d)) > 0.999:
            return  # nothing played, or a clipped mic (not a linear echo): learn nothing
        pad = np.zeros(n)
        err = np.fft.rfft(np.concatenate([pad, eb]))
        pe = err.real ** 2 + err.imag ** 2
        spec_y = np.fft.rfft(np.concatenate([pad, yb]))
        py = spec_y.real ** 2 + spec_y.imag ** 2
        see, syy = float(pe.sum()) + 1e-12, float(py.sum())
        # Leak = share of the echo estimate's power fluctuations found in the error (Valin,
        # Speex MDF). Near-end speech is uncorrelated with it, and learning slows while the
        # error is large compared with the echo estimate (doubletalk).
        eh, yh = pe - self._lin_pe, py - self._lin_py
        self._lin_pe += 0.1 * eh
        self._lin_py += 0.1 * yh
        alpha = 0.05 * min(1.0, syy / see)
        self._lin_pey = (1 - alpha) * self._lin_pey + alpha * float(eh @ yh)
        self._lin_pyy = (1 - alpha) * self._lin_pyy + alpha * float(yh @ yh)
        if self._lin_pyy > 1e-12:
            self.leak = float(np.clip(self._lin_pey / self._lin_pyy, 0.005, 1.0))
        if self._learned < 4 * self.k:
            # Not converged yet: the echo estimate means nothing, learn at a fixed rate.
            step: np.ndarray | float = self.mu
            self._learned += 1
        else:
            # Step ~ residual echo / error, per bin: the optimal NLMS step under doubletalk.
            # An error still correlated with the echo estimate means the filter is far from
            # converged, whatever the (noisy) leak estimate says.
            sey = float(eb @ yb)
            rer = min(max(3.0 * self.leak * syy / see,
                          sey * sey / (1e-12 + float(eb @ eb) * float(yb @ yb))), 0.5)
            resid = np.minimum(self.leak * py, 0.5 * pe)
            step = self.mu_max * (0.7 * resid + 0.3 * rer * pe) / (pe + 1e-12)
        # NLMS normalized by the reference energy in the filter's span, per bin.
        grad = np.conj(x) * (err * step / (power + 1e-6 * 2 * n * self.k))
        # Gradient constraint: keep each partition's impulse response n taps long (causal).
        g = np.fft.irfft(grad, axis=1)
        g[:, n:] = 0
        self._wb += np.fft.rfft(g, axis=1)

    def _choose(self, ef: np.ndarray, eb: np.ndarray, yf: np.ndarray, yb: np.ndarray) -> None:
        """Copy background -> foreground when it is reliably better, back-track when worse."""
        sff, see, dbf = float(ef @ ef), float(eb @ eb), float((yf - yb) @ (yf - yb))
        diff = sff - see
        self._davg1 = 0.6 * self._davg1 + 0.4 * diff
        self._dvar1 = 0.36 * self._dvar1 + 0.16 * sff * dbf
        self._davg2 = 0.85 * self._davg2 + 0.15 * diff
        self._dvar2 = 0.7225 * self._dvar2 + 0.0225 * sff * dbf
        self._swapped = False
        if (self._davg1 > 0 and self._davg1 ** 2 > _VAR1_UPDATE * self._dvar1) or (
                self._davg2 > 0 and self._davg2 ** 2 > _VAR2_UPDATE * self._dvar2):
            self._wf[:] = self._wb
            self._swapped = True
            self._davg1 = self._davg2 = self._dvar1 = self._dvar2 = 0.0
        elif -diff * abs(diff) > _VAR_BACKTRACK * sff * dbf:
            self._wb[:] = self._wf  # the background chased the near-end talker: undo it
            self._davg1 = self._davg2 = self._dvar1 = self._dvar2 = 0.0

    def _suppress(self, e: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Residual echo suppression: per-bin gain from the echo estimate's leak into the error."""
        n, win = self.n, self._window
        spec_e = np.fft.rfft(win * np.concatenate([self._e_prev, e]))
        spec_y = np.fft.rfft(win * np.concatenate([self._y_prev, y]))
        self._e_prev, self._y_prev = e, y
        pe, py = np.abs(spec_e) ** 2, np.abs(spec_y) ** 2
        # Leak = how much of the echo estimate's power fluctuation shows up in the error's
        # (Speex's estimator, here per band: a drifting clock or a non-linear speaker spoils the
        # high bands first). Near-end speech is uncorrelated with it and does not raise it.
        eh, yh = pe - self._pee, py - self._pyy
        self._pee = 0.9 * self._pee + 0.1 * pe
        self._pyy = 0.9 * self._pyy + 0.1 * py
        self._pey = 0.95 * self._pey + 0.05 * np.bincount(self._band, eh * yh)
        self._pyy_sum = 0.95 * self._pyy_sum + 0.05 * np.bincount(self._band, yh * yh)
        leak = np.clip(self._pey / (self._pyy_sum + 1e-20), 0.005, 1.0)
        # While the filter is young its error still correlates with the echo estimate: the
        # squared correlation is a floor for the leak (it is ~0 once converged or in doubletalk).
        corr = float(e @ y) ** 2 / (1e-12 + float(e @ e) * float(y @ y))
        leak = np.maximum(leak, min(corr, 0.5))[self._band]
        # Residual echo decays like the room: keep a tail of the previous estimate.
        self._residual = np.maximum(leak * py, 0.6 * self._residual)
        gain = np.clip(1.0 - 2.0 * self._residual / (pe + 1e-10), 0.1, 1.0)
        self._gain = gain
        frame = np.fft.irfft(self._gain * spec_e) * win
        out = self._ola + frame[:n]
        self._ola = frame[n:].copy()
        return out
