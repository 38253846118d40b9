"""The mixer: music, voice and chime buses summed into fixed-size float32 stereo blocks.

Control calls may come from any thread; they only post a message to a SimpleQueue that the
mixing thread drains at each block boundary, so mixing never waits on a lock. Gains move along
per-sample ramps (no zipper noise, no clicks) and the music bed never stops.
"""

from __future__ import annotations

import math
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from .music import MusicSource
from .tts import MIXER_RATE

BLOCK = 1024  # frames per block: ~21 ms at 48 kHz, the size ENVIRONMENT.md found xrun-free
CHANNELS = 2
CANCEL_FADE_MS = 6.0  # long enough to avoid a click, short enough to feel instant
DUCK_HOLD_MS = 600.0  # stay ducked across the short gaps between consecutive utterances
MUSIC_STEP_RAMP_MS = 300.0


def make_chime(kind: str, rate: int = MIXER_RATE) -> np.ndarray:
    """A soft bell-like chime (sine partials, 8 ms attack, slow decay), mono float32."""
    notes = {"ack": (1318.5,), "step": (880.0, 1318.5), "refuse": (659.3, 523.3),
             "end": (880.0, 1108.7, 1318.5)}.get(kind, (1318.5,))
    gap = int(0.11 * rate)
    n = int(0.9 * rate) + gap * (len(notes) - 1)
    out = np.zeros(n, dtype=np.float64)
    t = np.arange(int(0.9 * rate)) / rate
    env = np.minimum(1.0, t / 0.008) * np.exp(-t / 0.22)
    for i, f in enumerate(notes):
        tone = np.sin(2 * np.pi * f * t) + 0.12 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / 0.08)
        out[i * gap:i * gap + len(t)] += tone * env
    return (out / np.max(np.abs(out)) * 10 ** (-16 / 20)).astype(np.float32)


class _Ramp:
    """A gain in dB that glides linearly to its target over a given time (in samples)."""

    def __init__(self, value_db: float) -> None:
        self.value = self.target = value_db
        self.step = 0.0

    def go(self, target_db: float, ramp_samples: int) -> None:
        if target_db == self.target:
            return
        self.target = target_db
        self.step = (target_db - self.value) / max(1, ramp_samples)

    def curve(self, n: int, ramp_index: np.ndarray) -> np.ndarray:
        """Per-sample dB values for the next n samples (ramp_index is arange(1, n+1))."""
        if self.value == self.target:
            return np.full(n, self.value)
        vals = self.value + self.step * ramp_index[:n]
        vals = np.minimum(vals, self.target) if self.step > 0 else np.maximum(vals, self.target)
        self.value = float(vals[-1])
        return vals


@dataclass
class _Utterance:
    uid: int
    samples: np.ndarray  # mono float32
    pos: int = 0
    fade_left: int = -1  # >= 0 while fading out after a cancel


class Mixer:
    """Pull `mix_block()` from one thread (player producer or offline renderer)."""

    def __init__(self, music: MusicSource | None, rate: int = MIXER_RATE, block: int = BLOCK,
                 music_gain_db: float = -6.0, duck_db: float = -14.0,
                 duck_ramp_ms: int = 250, voice_gain_db: float = -2.0,
                 on_speech_done: Callable[[int], None] | None = None,
                 on_speech_start: Callable[[int, int], None] | None = None) -> None:
        """`on_speech_start(uid, frame)`: an utterance's first sample is mixed into output frame
        number `frame` (called on the mixing thread)."""
        self.music, self.rate, self.block = music, rate, block
        self.nominal_music_db, self.auto_duck_db = music_gain_db, duck_db
        self.duck_ramp = int(duck_ramp_ms * rate / 1000)
        self.voice_gain = 10 ** (voice_gain_db / 20)
        self.on_speech_done = on_speech_done
        self.on_speech_start = on_speech_start
        self._inbox: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._voices: deque[_Utterance] = deque()
        self._chimes: list[list] = []  # [samples, pos]
        self._chime_bank = {k: make_chime(k, rate) for k in ("ack", "step", "refuse", "end")}
        self._music_db = _Ramp(music_gain_db)
        self._duck = _Ramp(0.0)
        self._manual_duck_db = 0.0
        self._manual_ramp = self.duck_ramp
        self._hold_left = 0
        self._fade_n = max(1, int(CANCEL_FADE_MS * rate / 1000))
        self._fade = (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, self._fade_n))).astype(np.float32)
        self._idx = np.arange(1, block + 1, dtype=np.float64)
        self._music_buf = np.zeros((block, CHANNELS), dtype=np.float32)
        self.frames_mixed = 0
        self.level_db = -120.0  # RMS of the last block, for a meter
        self.last_voice = np.zeros(block, np.float32)  # the voice bus of the last block
        self.first_voice_frame: int | None = None  # when voice first sounded (for the bench)

    # ---------------------------------------------------------------- control (any thread)

    def play_voice(self, samples: np.ndarray, utterance_id: int) -> None:
        """Queue speech (mono float32 at the mixer rate) after anything already queued."""
        self._inbox.put(("voice", _Utterance(utterance_id, samples)))

    def cancel_speech(self, fade: bool = True) -> None:
        """Fade out the current utterance within a few ms and drop the queued ones. `fade`
        False: drop it at once, from the next block on (`Player.cut_speech` fades it out of
        the blocks it holds)."""
        self._inbox.put(("cancel", fade))

    def chime(self, kind: str = "ack", skip: int = 0) -> None:
        """Play a chime from its sample `skip` on (the player has played the rest)."""
        self._inbox.put(("chime", (kind, skip)))

    @property
    def fade_out(self) -> np.ndarray:
        """The gain curve a cancelled utterance fades out along (CANCEL_FADE_MS, 1 to 0)."""
        return self._fade

    def chime_sound(self, kind: str = "ack") -> np.ndarray:
        """The chime's samples, mono float32 at the mixer's rate (do not modify)."""
        return self._chime_bank.get(kind, self._chime_bank["ack"])

    def duck(self, gain_db: float, ramp_ms: int = 250) -> None:
        """An explicit duck (0 = none) on top of the automatic one while speaking."""
        self._inbox.put(("duck", (min(0.0, gain_db), ramp_ms)))

    def music_gain(self, gain_db: float) -> None:
        """Music level relative to its nominal level (louder/quieter steps)."""
        self._inbox.put(("music", gain_db))

    @property
    def speaking(self) -> bool:
        return bool(self._voices)

    @property
    def sounding(self) -> bool:
        """The coach's own sounds are playing: its voice or a chime (anything but music).
        Asked on the mixing thread right after a block is mixed, it describes that block."""
        return bool(self._voices or self._chimes)

    # ---------------------------------------------------------------- mixing (one thread)

    def _apply(self, kind: str, arg: object) -> None:
        if kind == "voice":
            assert isinstance(arg, _Utterance)
            self._voices.append(arg)
        elif kind == "cancel":
            if arg and self._voices and self._voices[0].pos > 0:
                head = self._voices.popleft()
                if head.fade_left < 0:  # already fading: let that fade finish untouched
                    head.fade_left = self._fade_n
                dropped, self._voices = list(self._voices), deque([head])
            else:  # nothing audible yet, or faded by the player: drop everything at once
                dropped, self._voices = list(self._voices), deque()
            for utt in dropped:
                self._done(utt.uid)
        elif kind == "chime":
            name, skip = cast(tuple[str, int], arg)
            if skip < len(sound := self.chime_sound(name)):
                self._chimes.append([sound, skip])
        elif kind == "duck":
            gain_db, ramp_ms = cast(tuple[float, int], arg)
            self._manual_duck_db = float(gain_db)
            self._manual_ramp = int(int(ramp_ms) * self.rate / 1000)
        elif kind == "music":
            self._music_db.go(self.nominal_music_db + float(arg),  # type: ignore[arg-type]
                              int(MUSIC_STEP_RAMP_MS * self.rate / 1000))

    def _done(self, uid: int) -> None:
        if self.on_speech_done is not None:
            self.on_speech_done(uid)

    def close(self) -> None:
        """Stop decoding music; the mixer keeps working, without it."""
        if self.music is not None:
            self.music.close()
            self.music = None

    def mix_block(self) -> np.ndarray:
        """The next block, (block, 2) float32. Waits only for the music decoder (its wait_s)."""
        while True:
            try:
                self._apply(*self._inbox.get_nowait())
            except queue.Empty:
                break
        n = self.block
        voice = self._mix_voice(n)
        self._update_duck(n)
        out = np.zeros((n, CHANNELS), dtype=np.float32)
        if self.music is not None:
            self.music.read_into(self._music_buf)
            gain_db = self._music_db.curve(n, self._idx) + self._duck.curve(n, self._idx)
            out += self._music_buf * (10.0 ** (gain_db / 20.0)).astype(np.float32)[:, None]
        else:  # keep the ramps moving so the state is right when music comes back
            self._music_db.curve(n, self._idx)
            self._duck.curve(n, self._idx)
        out += voice[:, None]
        self.last_voice = voice
        for chime in self._chimes:
            samples, pos = chime
            take = min(n, len(samples) - pos)
            out[:take] += samples[pos:pos + take, None]
            chime[1] = pos + take
        self._chimes = [c for c in self._chimes if c[1] < len(c[0])]
        np.clip(out, -1.0, 1.0, out=out)  # safety net only: levels leave headroom
        self.frames_mixed += n
        self.level_db = 10 * math.log10(float(np.mean(out * out)) + 1e-12)
        return out

    def _mix_voice(self, n: int) -> np.ndarray:
        voice = np.zeros(n, dtype=np.float32)
        filled = 0
        while filled < n and self._voices:
            utt = self._voices[0]
            take = min(n - filled, len(utt.samples) - utt.pos)
            if utt.fade_left >= 0:
                take = min(take, utt.fade_left)
                start = self._fade_n - utt.fade_left
                chunk = utt.samples[utt.pos:utt.pos + take] * self._fade[start:start + take]
                utt.fade_left -= take
            else:
                chunk = utt.samples[utt.pos:utt.pos + take]
            if self.first_voice_frame is None and take > 0:
                self.first_voice_frame = self.frames_mixed + filled
            if utt.pos == 0 and take > 0 and self.on_speech_start is not None:
                self.on_speech_start(utt.uid, self.frames_mixed + filled)
            voice[filled:filled + take] = chunk * self.voice_gain
            filled += take
            utt.pos += take
            if utt.pos >= len(utt.samples) or utt.fade_left == 0:
                self._voices.popleft()
                self._done(utt.uid)
        return voice

    def _update_duck(self, n: int) -> None:
        if self._voices:
            self._hold_left = int(DUCK_HOLD_MS * self.rate / 1000)
        else:
            self._hold_left = max(0, self._hold_left - n)
        auto = self.auto_duck_db if (self._voices or self._hold_left > 0) else 0.0
        target = min(auto, self._manual_duck_db)
        ramp = self.duck_ramp if auto <= self._manual_duck_db else self._manual_ramp
        self._duck.go(target, ramp)
