"""Links the speaker to the microphone for echo removal: every block we play is written into a
reference buffer on the output stream's clock, and every microphone block is cleaned against
the span of it that the microphone heard (the canceller absorbs the room's delay).

Both streams are PortAudio streams of this process, whose times share one clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .audio_in import RATE, to_int16  # the rate the microphone delivers to the listener
from .clock_drift import ClockDrift
from .echo import MIC_CLOCK_SLACK_S, EchoCanceller, Reference
from .resampling import StreamResampler, resample
from .stream_clock import SampleClock

# The coach's sounds linger in a room after the speaker stops (reverberation; the canceller's
# residue of them decays too): a block this soon after them still counts as "coach speaking".
ECHO_TAIL_S = 0.3
# The output's timing must disagree this much, this long, to re-anchor the reference.
STALL_S = 0.15
STALL_PERSISTS_S = 0.3


class PlaybackReference:
    """Output tap: (stereo block at the mixer rate, its first frame number) -> Reference."""

    def __init__(self, player: Any, mixer_rate: int, reference: Reference,
                 coach_sounding: Callable[[], bool] = lambda: False):
        self._player = player
        self._coach_sounding = coach_sounding  # asked on the mixing thread, right after a mix
        self._mixer_rate = mixer_rate
        self._resample = StreamResampler(mixer_rate, RATE)
        # Every re-anchoring is a jump in the echo path that the canceller must find again
        # (seconds of echo let through), so only a long stall moves it; the canceller's delay
        # tracker absorbs smaller offsets. Measured on PulseAudio: the first estimate of a
        # stream sat ~60 ms off the later ones, which wobble by ~20 ms (bursts of the callback):
        # a 60 ms threshold re-anchored mid-session on that wobble, and the live echo test got
        # 0-7 dB instead of 15+.
        self._clock = SampleClock(mixer_rate, reanchor_s=STALL_S, persist_s=STALL_PERSISTS_S)
        self._anchor_s = 0.0
        self._anchor_frame = 0
        self._written = 0  # reference samples written since the anchor
        self.reference = reference

    def __call__(self, block: np.ndarray, first_frame: int) -> None:
        now = self._player.stream_time
        if now is None:
            return
        # The block goes out after the frames already sent to the device, plus its latency.
        # That estimate wobbles by up to a device block (frames_out moves in steps), so time
        # is counted in samples from an anchor, re-anchored only on a real jump (an underrun,
        # a reopened device): a wobbling reference would smear the echo path. Counting output
        # samples also absorbs the resampler handing out its results in uneven bursts.
        ahead_s = (first_frame - self._player.frames_out) / self._mixer_rate
        measured = now + ahead_s + self._player.latency_s
        if self._clock.place(measured, first_frame):
            self._anchor_s, self._anchor_frame, self._written = measured, first_frame, 0
            self._resample = StreamResampler(self._mixer_rate, RATE)
        mono = self._resample(block.mean(axis=1))
        if len(mono):
            self.reference.write(mono, self._anchor_s + self._written / RATE,
                                 coach=self._coach_sounding())
            self._written += len(mono)


    def amend(self, sound: np.ndarray, first_frame: int) -> None:
        """Output amend tap: `sound` (mono, mixer rate) was added to the frames from
        `first_frame` on after they were written here (a chime's head, a cut of the voice)."""
        at = self._anchor_s + (first_frame - self._anchor_frame) / self._mixer_rate
        self.reference.add(resample(sound, self._mixer_rate, RATE), at, coach=True)


class MicCleaner:
    """Listener cleaner: removes our own playback from each 16 kHz microphone block.

    Our adaptive canceller, not WebRTC's AEC3, by default: AEC3 removes more of the music (24 dB
    against 9 dB, measured on the virtual devices) but its suppressor also cut a "stop" said over
    the coach's voice by 15 dB and smeared it past recognition; the adaptive engine left the
    voice whole, and both commands of the live mid-sentence test were heard (none with AEC3)."""

    def __init__(self, reference: Reference, engine: str = "adaptive", follow_drift: bool = True):
        self._reference = reference
        self._engine = engine
        self._follow_drift = follow_drift and engine == "adaptive"  # AEC3 follows drift itself
        self._echo_so_far = 0.0  # the canceller's echo_energy at the last block
        self._new_filter()
        self._mic: Any = None
        self._next_start: float | None = None  # the stamp the next block should have
        self._overflows = 0
        # Whether the coach's voice or a chime (or their echo) could be in the last block, by
        # the blocks' own times; None when the mic gives no times (then ask the mixer instead).
        self.coach_in_block: bool | None = None
        # The last block's energy after removal and the energy of the echo removed from it
        # (sums of squares); None when the canceller does not say (echo_leftover).
        self.block_energies: tuple[float, float] | None = None

    def __call__(self, block: np.ndarray, mic: Any) -> np.ndarray:
        if mic is not self._mic:  # a (re)opened microphone: its own clock, a fresh filter
            self._mic = mic
            self._new_filter()
            self._next_start, self._overflows = None, getattr(mic, "overflows", 0)
        start = getattr(mic, "block_time", None)  # when the block's first sample was heard
        self.block_energies = None
        if start is None:
            self.coach_in_block = None
            return block
        # A microphone that does not hear the speaker (headphones: the canceller's filter finds
        # no echo of what plays) cannot hear the coach either: no stricter bars, no own voice.
        self.coach_in_block = self._aec.hears_reference is not False and (
            self._reference.coach_between(start - ECHO_TAIL_S,
                                          start + len(block) / RATE + MIC_CLOCK_SLACK_S))
        drift = self.drift
        self._keep_pairing(start, mic)
        played = self._reference.read_for_mic(start, len(block), drift.shift, drift.step)
        drift.advance(len(block))
        self._next_start = start + len(block) / RATE
        heard = block.astype(np.float32) / 32768.0
        cleaned = self._aec.process(heard, played)
        echo_so_far = self._aec.echo_energy
        if echo_so_far is not None:
            # An echo estimate louder than all the microphone heard is the filter's error, not
            # echo (it overshot: a sound it models changed level, as music ducked on one path
            # only does): no more than what was heard counts as removed. Uncapped, the demo's
            # "next" over undimmed music lay 20 dB "under the echo" and was dropped.
            removed = min(echo_so_far - self._echo_so_far, float(heard @ heard))
            self.block_energies = (float(cleaned @ cleaned), removed)
            self._echo_so_far = echo_so_far
        return to_int16(cleaned)

    def _keep_pairing(self, start: float, mic: Any) -> None:
        """The microphone's clock moved its anchor: its sample count and its timestamps had
        drifted REANCHOR_S apart (stream_clock). Measured live, 60 ms back after 82 s: the echo
        then seemed to come before what played, which no delay search finds, and the
        canceller removed 10-20 dB instead of 25-50 dB for the rest of the session. Unless
        samples were lost (an overflow: the stamps jump ahead of the count), nothing changed
        in the room: read on from the same place and let the drift follower take the slope."""
        overflows = getattr(mic, "overflows", 0)
        jump = start - self._next_start if self._next_start is not None else 0.0
        if abs(jump) > 1e-4 and abs(jump) < STALL_S and overflows == self._overflows:
            self.drift.move(-jump * RATE)
        self._overflows = overflows

    def _new_filter(self) -> None:
        """A fresh filter, and a fresh follower of the clocks' drift."""
        self.drift = ClockDrift(RATE)
        # A jump of the path is read past, as a move of the microphone's stamps is.
        follow: dict[str, Any] = {"on_estimate": self.drift.observe,
                                  "on_jump": lambda samples: self.drift.move(-samples)
                                  } if self._follow_drift else {}
        self._aec = EchoCanceller(RATE, engine=self._engine, **follow)
        self._echo_so_far = 0.0
