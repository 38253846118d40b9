"""The edges of a spoken session wired to the coordinator: speech and music out, listening in.

Built in the order that fails fast (recogniser and microphone before any sound plays) and
started/stopped as one context manager, so `start` and the benchmarks share one assembly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import phrasing
from .config import Settings
from .coordinator import Coordinator
from .events import Effect, SpeechDone, StepStarted
from .pressure import Level
from .script import Script
from .session import SessionState

if TYPE_CHECKING:
    from .audio_out import AudioOut
    from .listener import Listener


class AudioSink:
    """Carries the core's audio effects out through the speakers."""

    def __init__(self, audio: AudioOut):
        self._audio = audio

    def carry(self, effect: Effect, state: SessionState) -> None:
        self._audio.apply(effect)


def step_texts(script: Script, index: int) -> list[str]:
    """Everything a step may say: its text at every pressure wording, and its cues."""
    step = script.steps[index]
    texts = list(dict.fromkeys(step.text_for(level) for level in Level))
    return texts + [cue.say for cue in step.cues]


def texts_to_say(script: Script) -> list[str]:
    """The whole session's speech, in the order it will be needed."""
    texts = [phrasing.GREETING]
    for index in range(len(script.steps)):
        texts.extend(step_texts(script, index))
    return texts


class PrerenderNext:
    """When a step starts, render the next one's speech into memory, so it starts at once."""

    def __init__(self, audio: AudioOut, script: Script):
        self._audio, self._script = audio, script

    def carry(self, effect: Effect, state: SessionState) -> None:
        if isinstance(effect, StepStarted) and effect.index + 1 < len(self._script.steps):
            self._audio.prerender(step_texts(self._script, effect.index + 1))


class LiveEdges:
    def __init__(self, coordinator: Coordinator, script: Script, settings: Settings):
        # The audio libraries load only for spoken sessions.
        from .audio_in import Microphone
        from .audio_out import AudioOut
        from .echo import Reference
        from .echo_link import RATE, MicCleaner, PlaybackReference
        from .engines.base import Engine
        from .engines.factory import describe
        from .engines.process_engine import ProcessEngine
        from .listener import Listener

        post = coordinator.post
        listening = settings.engine != "keys"
        self.engine_label = describe(settings.engine, settings.model)  # a bad model fails here

        def new_engine() -> Engine:
            # Its own process: a decoder holding the GIL would make the music stutter.
            return ProcessEngine(settings.engine, settings.model)

        if listening:
            with Microphone(settings.input_device):  # no microphone: one clear line, now
                pass
        engine = new_engine() if listening else None
        self.audio = AudioOut(settings, on_speech_done=lambda uid: post(SpeechDone(uid)),
                              on_problem=post)  # DeviceProblem("speaker"|"speech", ...)
        # All of it to the disk cache now; the first steps (and, as it goes, the next one)
        # into memory too, so a step's speech starts at once without holding the whole session.
        self.audio.prerender(texts_to_say(script), in_memory=False)
        self.audio.prerender([phrasing.GREETING, *step_texts(script, 0),
                              *(step_texts(script, 1) if len(script.steps) > 1 else [])])
        coordinator.add_sink(AudioSink(self.audio))
        coordinator.add_sink(PrerenderNext(self.audio, script))
        self.listener: Listener | None = None
        if engine is not None:
            # The microphone hears our own voice and music: remove them (echo cancellation).
            reference = Reference(RATE)
            mixer = self.audio.mixer
            played = PlaybackReference(self.audio.player, mixer.rate, reference,
                                       coach_sounding=lambda: mixer.sounding)
            self.audio.tap(played, amend=played.amend)
            self.listener = Listener(lambda: Microphone(settings.input_device), engine,
                                     new_engine, post, lambda: self.audio.mixer.speaking,
                                     cleaner=MicCleaner(reference),
                                     coach_words=self.audio.recent.text,
                                     coach_words_near=self.audio.recent.near)

    def __enter__(self) -> LiveEdges:
        try:
            self.audio.start()  # a bad or missing speaker fails here, with one line
        except BaseException:
            self._close_engine()  # or the recogniser process would outlive us
            self.audio.close()  # and the music's decoder, and the speech engine
            raise
        if self.listener:
            self.listener.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.listener:
            self.listener.stop()
        self._close_engine()
        self.audio.close()

    def _close_engine(self) -> None:
        close = getattr(self.listener.engine, "close", None) if self.listener else None
        if close is not None:
            close()
