"""The audio facade for the coordinator: speech, music and chimes carried out from effects,
live on a device (AudioOut) or into a buffer for files (RenderAudio), through the same mixer."""

from __future__ import annotations

import queue
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .config import Settings
from .errors import UserError
from .events import CancelSpeech, Chime, DeviceProblem, Duck, Effect, MusicGain, Say
from .mixer import Mixer
from .music import LIVE_WAIT_S, OFFLINE_WAIT_S, MusicSource, find_tracks
from .recent_speech import RecentSpeech, word_spans
from .tts import Speech, check_voice, list_voices


def build_speech(settings: Settings) -> Speech:
    """The TTS adapter from settings; an unknown --voice fails here, before anything starts."""
    if settings.voice:
        check_voice(settings.voice, list_voices())
    cache = Path(settings.cache_dir) / "speech" if settings.cache_dir else None
    return Speech(voice=settings.voice, rate_wpm=settings.rate_wpm, cache_dir=cache)


def build_mixer(settings: Settings, on_speech_done: Callable[[int], None],
                realtime: bool = True) -> Mixer:
    music = None if settings.no_music else MusicSource(
        find_tracks(settings.music), wait_s=LIVE_WAIT_S if realtime else OFFLINE_WAIT_S)
    return Mixer(music, music_gain_db=settings.music_gain_db, duck_db=settings.duck_db,
                 duck_ramp_ms=settings.duck_ramp_ms, on_speech_done=on_speech_done)


class _Effects(ABC):
    """Shared effect handling; subclasses decide when speech audio reaches the mixer."""

    mixer: Mixer
    speech: Speech

    def apply(self, effect: Effect) -> None:
        """Carry out one of the core's audio effects (others are ignored here)."""
        if isinstance(effect, Say):
            self.say(effect.text, effect.utterance_id, effect.kind)
        elif isinstance(effect, CancelSpeech):
            self.cancel_speech()
        elif isinstance(effect, Chime):
            self.chime(effect.kind)
        elif isinstance(effect, MusicGain):
            self.music_gain(effect.gain_db)
        elif isinstance(effect, Duck):
            self.duck(effect.gain_db, effect.ramp_ms)

    @abstractmethod
    def say(self, text: str, utterance_id: int, kind: str = "step") -> None:
        """Speak after anything already queued; SpeechDone(utterance_id) follows."""

    @abstractmethod
    def cancel_speech(self) -> None:
        """Fade out what is being said and drop what is queued."""

    def chime(self, kind: str = "ack") -> None:
        self.mixer.chime(kind)

    def duck(self, gain_db: float, ramp_ms: int = 250) -> None:
        self.mixer.duck(gain_db, ramp_ms)

    def music_gain(self, gain_db: float) -> None:
        self.mixer.music_gain(gain_db)

    def prerender(self, texts: Iterable[str], in_memory: bool = True) -> None:
        self.speech.prerender(texts, in_memory)

    @property
    def level_db(self) -> float:
        """RMS level of the sound going out now, in dBFS (for a meter)."""
        return self.mixer.level_db


class AudioOut(_Effects):
    """Live output. Callbacks (on_speech_done) arrive on audio threads: post, don't work."""

    def __init__(self, settings: Settings, on_speech_done: Callable[[int], None],
                 on_problem: Callable[[DeviceProblem], None] | None = None,
                 speech: Speech | None = None) -> None:
        from .player import Player

        self.settings = settings
        self.recent = RecentSpeech()  # for the listener: was a command heard in our own words
        self._on_speech_done = self._done_speaking(on_speech_done)
        self.speech = speech or build_speech(settings)
        self.speech.warm_up()  # overlaps the music decoding below
        self.mixer = build_mixer(settings, self._on_speech_done)
        self._on_problem = on_problem
        self.player = Player(self.mixer, settings.output_device, on_problem=self._speaker)
        self.mixer.on_speech_start = self._started_speaking
        self._lock = threading.Lock()
        self._pending: set[int] = set()  # said, not yet handed to the mixer
        self._cancelled: set[int] = set()
        self._todo: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._feeder: threading.Thread | None = None
        self._speech_failed = False

    def _speaker(self, ok: bool, detail: str) -> None:
        if self._on_problem is not None:
            self._on_problem(DeviceProblem("speaker", ok, detail))

    def start(self) -> None:
        """Open the device (UserError if impossible) and start the speech feeder."""
        self.player.start()
        self._feeder = threading.Thread(target=self._feed, daemon=True, name="speech-feed")
        self._feeder.start()

    def close(self) -> None:
        self._todo.put(None)
        if self._feeder is not None:
            self._feeder.join(timeout=2)
        self.player.close()
        self.mixer.close()
        self.speech.close()

    def __enter__(self) -> AudioOut:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tap(self, listener: Callable[[np.ndarray, int], None],
            amend: Callable[[np.ndarray, int], None] | None = None) -> None:
        """Also send every output block (stereo float32, first frame number) to `listener`,
        on the mixing thread, just before it is queued for the device; keep it quick. `amend`:
        told of a sound (mono) added later to frames already sent (a chime, a cut of the voice)."""
        self.player.taps.append(listener)
        if amend is not None:
            self.player.amend_taps.append(amend)

    def chime(self, kind: str = "ack") -> None:
        self.player.chime(kind)  # over what is already queued for the device: heard sooner

    def _done_speaking(self, on_speech_done: Callable[[int], None]) -> Callable[[int], None]:
        def done(uid: int) -> None:
            self.recent.ended(uid)
            on_speech_done(uid)
        return done

    def _started_speaking(self, uid: int, frame: int) -> None:
        """On the mixing thread: the utterance's first sample is in output frame `frame`, which
        sounds after the frames still queued for the device and the device's latency."""
        queued_s = max(0, frame - self.player.frames_out) / self.mixer.rate
        self.recent.started(uid, queued_s + self.player.latency_s)

    def say(self, text: str, utterance_id: int, kind: str = "step") -> None:
        with self._lock:
            self._pending.add(utterance_id)
        self.recent.said(utterance_id, text)
        self._todo.put((text, utterance_id))

    def cancel_speech(self) -> None:
        # Under the lock, so no utterance can slip into the mixer between these two steps.
        with self._lock:
            self._cancelled |= self._pending
            self._pending.clear()
            # Silent from the next block the device takes, not after the ones already queued.
            self.player.cut_speech()

    def _feed(self) -> None:
        """Render (or fetch pre-rendered) speech in order; drop audio that arrives too late."""
        while (job := self._todo.get()) is not None:
            text, uid = job
            audio: np.ndarray | None
            try:
                audio = None if uid in self._cancelled else self.speech.render(text)
            except UserError as err:  # no synthesiser works: say so once, keep the session going
                if not self._speech_failed:
                    self._speech_failed = True
                    print(f"voice-coach: warning: {err}", file=sys.stderr)
                    if self._on_problem is not None:
                        self._on_problem(DeviceProblem("speech", False, str(err)))
                audio = None
            if audio is not None:  # when each word will sound, for the listener's self-check
                self.recent.rendered(uid, word_spans(text, audio, self.mixer.rate))
            with self._lock:
                if audio is None or uid in self._cancelled:
                    self._cancelled.discard(uid)
                    self._pending.discard(uid)
                    dropped = True
                else:
                    self._pending.discard(uid)
                    self.mixer.play_voice(audio, uid)
                    dropped = False
            if dropped:
                self._on_speech_done(uid)


class RenderAudio(_Effects):
    """The same mixer with no device: speech is rendered at once, blocks are pulled by the
    caller (render.py), one at a time, in session time."""

    def __init__(self, settings: Settings, on_speech_done: Callable[[int], None],
                 speech: Speech | None = None) -> None:
        self.speech = speech or build_speech(settings)
        self.mixer = build_mixer(settings, on_speech_done, realtime=False)
        self._on_speech_done = on_speech_done

    def close(self) -> None:
        self.mixer.close()

    def say(self, text: str, utterance_id: int, kind: str = "step") -> None:
        self.mixer.play_voice(self.speech.render(text), utterance_id)

    def cancel_speech(self) -> None:
        self.mixer.cancel_speech()

    def next_block(self) -> np.ndarray:
        return self.mixer.mix_block()

    @property
    def speaking(self) -> bool:
        return self.mixer.speaking
