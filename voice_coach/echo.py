"""Acoustic echo cancellation: removes what we played (coach + music) from the microphone signal.

`EchoCanceller` has two engines. "webrtc" (its default) is WebRTC's AEC3 from the pywebrtc-audio
wheel. "adaptive" is ours (`echo_adaptive`), pure numpy: a two-path partitioned-block
frequency-domain NLMS filter (PBFDAF, Speex-style MDF) behind a GCC-PHAT bulk-delay tracker, then
a residual echo suppressor.
`voice-coach bench echo` measures both (and SpeexDSP). `Reference` is the ring buffer that pairs
what the speaker played with each microphone block:

    ref = Reference(rate=16000)              # shared by the player and the listener
    # player, after mixing each output block (mono, resampled to 16 kHz):
    ref.write(block16k, time.outputBufferDacTime)
    # listener worker, for each mic block queued by the input callback with its ADC time:
    aec = EchoCanceller(16000)
    clean = aec.process(mic, ref.read_for_mic(t_first + samples_so_far / 16000, len(mic)))

Stamp mic blocks from a running sample count (anchored on the first block's
`inputBufferAdcTime`) so consecutive reads are contiguous; whatever constant offset remains
between the two clocks is bulk delay, which the canceller measures and tracks. `read_for_mic`
hands over the reference `MIC_CLOCK_SLACK_S` early so that offset is never negative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .clock_drift import HALF_TAPS, interpolate
from .echo_adaptive import AdaptiveCanceller
from .echo_frames import Framer, like, to_float


class WebRtcCanceller:
    """WebRTC's AEC3 (echo canceller + suppressor, with its own delay estimator and clock-drift
    handling) from the pywebrtc-audio wheel, fed whole 10 ms frames."""

    def __init__(self, rate: int = 16000, delay_ms: float | None = None) -> None:
        from pywebrtc_audio import EchoCanceller as Aec3

        self.rate = rate
        self.n = rate // 100
        # The hint is only a starting point: AEC3 measures and follows the delay itself.
        self._aec = Aec3(sample_rate=rate, stream_delay_ms=int(delay_ms or 0))
        self.latency_samples = self.n
        self.delay_ms: float | None = None  # AEC3 keeps its estimate to itself
        self._framer = Framer(self.n, self._frame)

    def process(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Cancel the echo in one block; returns as many samples as given, in mic's dtype."""
        return self._framer.process(mic, reference)

    def _frame(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        out = self._aec.process(like(mic, np.dtype(np.int16)), like(reference, np.dtype(np.int16)))
        return np.asarray(out, np.float64) / 32768.0


ENGINES = ("auto", "webrtc", "adaptive")


def have_webrtc() -> bool:
    """Whether the pywebrtc-audio wheel imports here."""
    try:
        import pywebrtc_audio  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


class EchoCanceller:
    """Removes what we played from the microphone, block by block (any length; mic and
    reference equal); the output has the mic's dtype and lags it by `latency_samples`.

    engine: "webrtc" (AEC3, the default when installed: it held up best on the virtual devices,
    whose clocks drift), "adaptive" (ours: keeps the user's voice best through doubletalk on a
    steady echo path), or "auto" (webrtc if installed, else adaptive). Extra keyword arguments go
    to the adaptive engine. The live listener asks for "adaptive" (echo_link.MicCleaner says why).
    """

    def __init__(self, rate: int = 16000, *, engine: str = "auto", delay_ms: float | None = None,
                 **adaptive: Any) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown echo engine {engine!r}; use one of {', '.join(ENGINES)}")
        if engine == "auto":
            engine = "webrtc" if have_webrtc() else "adaptive"
        self.engine = engine
        self._impl: WebRtcCanceller | AdaptiveCanceller = (
            WebRtcCanceller(rate, delay_ms) if engine == "webrtc"
            else AdaptiveCanceller(rate, delay_ms=delay_ms, **adaptive))
        self.latency_samples = self._impl.latency_samples

    @property
    def delay_ms(self) -> float | None:
        """The measured bulk delay (adaptive engine; None until measured or with webrtc)."""
        return self._impl.delay_ms

    @property
    def hears_reference(self) -> bool | None:
        """Does the mic hear what was played (AdaptiveCanceller.hears_reference; None: not
        known, always with webrtc)."""
        return getattr(self._impl, "hears_reference", None)

    @property
    def echo_energy(self) -> float | None:
        """The echo estimate's energy so far (AdaptiveCanceller.echo_energy; None: not known,
        always with webrtc)."""
        return getattr(self._impl, "echo_energy", None)

    def process(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Cancel the echo in one block; returns as many samples as given, in mic's dtype."""
        return self._impl.process(mic, reference)


# The two streams' timestamps disagree by tens of milliseconds either way (measured on the
# virtual PulseAudio devices: from the mic 36 ms behind to 29 ms *ahead* of what the output
# clock says was played, fixed per pair of streams). Echo that seems to arrive before its
# reference cannot be cancelled, so each mic block is paired with the reference from this much
# later; the delay tracker (500 ms of range) absorbs the difference. The player mixes ahead of
# the device by its queue and latency, so that stretch of reference is already written.
MIC_CLOCK_SLACK_S = 0.06


class Reference:
    """Ring buffer of what the speaker played, stamped with the output stream's clock.

    The player writes each block with the time its first sample reaches the speaker
    (`time.outputBufferDacTime`); the listener reads the span matching each microphone block
    (`time.inputBufferAdcTime`). One writer and one reader; no lock is taken on the write path.
    """

    def __init__(self, rate: int = 16000, seconds: float = 10.0) -> None:
        self.rate = rate
        self._buf = np.zeros(int(rate * seconds), np.float32)
        self._coach = np.zeros(len(self._buf), bool)  # coach sounds (voice, chime) in the sample
        self._t0: float | None = None
        self._end = 0  # absolute index one past the last written sample
        self.unwritten_reads = 0  # mic blocks paired with reference not yet written (zeros)

    def write(self, samples: np.ndarray, time_s: float, coach: bool = False) -> None:
        """Record `samples` (at `rate`, mono) played from stream time `time_s` on; `coach`:
        they hold the coach's own sounds (its voice or a chime), not only music."""
        x = to_float(samples).astype(np.float32)
        if self._t0 is None:
            self._t0 = time_s
        start = round((time_s - self._t0) * self.rate)
        # Block stamps jitter by a fraction of a millisecond; only a jump of more than 10 ms is
        # a real gap (an underrun or a pause). Anything less continues seamlessly, or the
        # reference would drift against the echo one jitter at a time.
        if start - self._end <= self.rate // 100:
            start = self._end
        size = len(self._buf)
        if start - self._end > 0:  # a gap (underrun / pause): it played silence
            gap = min(start - self._end, size)
            idx = np.arange(start - gap, start) % size
            self._buf[idx] = 0.0
            self._coach[idx] = False
        x = x[-size:]
        idx = (start + np.arange(len(x))) % size
        self._buf[idx] = x
        self._coach[idx] = coach
        self._end = start + len(x)

    def add(self, samples: np.ndarray, time_s: float, coach: bool = True) -> None:
        """Mix `samples` into what was already written as played from `time_s` on (a sound
        the player laid over blocks it had queued); outside the written span, nothing."""
        if self._t0 is None:
            return
        x = to_float(samples).astype(np.float32)
        start = round((time_s - self._t0) * self.rate)
        lo, hi = max(start, self._end - len(self._buf)), min(start + len(x), self._end)
        if hi > lo:
            idx = np.arange(lo, hi) % len(self._buf)
            self._buf[idx] += x[lo - start:hi - start]
            self._coach[idx] |= coach

    def reset(self) -> None:
        """Forget everything: call when the output stream is reopened (its clock starts anew)."""
        self._t0 = None
        self._end = 0
        self._buf[:] = 0.0
        self._coach[:] = False

    def read(self, time_s: float, count: int) -> np.ndarray:
        """The `count` samples played from stream time `time_s` on (zeros where unknown)."""
        out = np.zeros(count, np.float32)
        if self._t0 is None:
            return out
        end = self._end
        start = round((time_s - self._t0) * self.rate)
        lo, hi = max(start, end - len(self._buf) + 1), min(start + count, end)
        if hi > lo:
            out[lo - start: hi - start] = self._buf[np.arange(lo, hi) % len(self._buf)]
        return out

    def coach_between(self, start_s: float, end_s: float) -> bool:
        """Did the coach's voice or a chime play at any moment from `start_s` to `end_s`?"""
        if self._t0 is None:
            return False
        lo = max(round((start_s - self._t0) * self.rate), self._end - len(self._buf) + 1)
        hi = min(round((end_s - self._t0) * self.rate), self._end)
        return hi > lo and bool(self._coach[np.arange(lo, hi) % len(self._buf)].any())

    def read_for_mic(self, mic_time_s: float, count: int, shift: float = 0.0,
                     step: float = 1.0) -> np.ndarray:
        """The reference for a mic block stamped `mic_time_s`, `MIC_CLOCK_SLACK_S` later; with
        a drifting clock (`clock_drift.ClockDrift`), starting `shift` samples later still and
        taking samples `step` apart (interpolated between them)."""
        time_s = mic_time_s + MIC_CLOCK_SLACK_S
        if shift == 0.0 and step == 1.0:
            first, last, span = 0, count, None
        else:  # the samples around the stretch, for the interpolation's taps
            first = math.floor(shift) - HALF_TAPS
            last = math.ceil(shift + (count - 1) * step) + HALF_TAPS + 1
            span = shift - first + np.arange(count) * step
        if self._t0 is not None:
            self.unwritten_reads += round((time_s - self._t0) * self.rate) + last > self._end
        samples = self.read(time_s + first / self.rate, last - first)
        return samples if span is None else interpolate(samples, span)
