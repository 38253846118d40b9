"""The edges of a spoken session wired to the coordinator: speech and music out, listening in.

Built in the order that fails fast (recogniser and microphone before any sound plays) and
started/stopped as one context manager, so `start` and the benchmarks share one assembly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import phrasing
from .config import Settings
from .coordinator import Coordinator
from .events import Effect, SpeechDone
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


def texts_to_say(script: Script) -> list[str]:
    """Step texts in the order they will be needed, every pressure wording, so speech can
    start at once when a step begins."""
    texts = [phrasing.GREETING]
    for step in script.steps:
        texts.extend(dict.fromkeys(step.text_for(level) for level in Level))
        texts.extend(cue.say for cue in step.cues)
    return texts


class LiveEdges:
    def __init__(self, coordinator: Coordinator, script: Script, settings: Settings):
        # The audio libraries load only for spoken sessions.
        from .audio_in import Microphone
        from .audio_out import AudioOut
        from .echo import Reference
        from .echo_link import RATE, MicCleaner, PlaybackReference
        from .engines.factory import describe, make_engine
        from .listener import Listener

        post = coordinator.post
        listening = settings.engine != "keys"
        self.engine_label = describe(settings.engine, settings.model)  # a bad model fails here
        engine = make_engine(settings.engine, settings.model) if listening else None
        if listening:
            with Microphone(settings.input_device):  # no microphone: one clear line, now
                pass
        self.audio = AudioOut(settings, on_speech_done=lambda uid: post(SpeechDone(uid)),
                              on_problem=post)  # DeviceProblem("speaker"|"speech", ...)
        self.audio.prerender(texts_to_say(script))
        coordinator.add_sink(AudioSink(self.audio))
        self.listener: Listener | None = None
        if engine is not None:
            # The microphone hears our own voice and music: remove them (echo cancellation).
            reference = Reference(RATE)
            self.audio.tap(PlaybackReference(self.audio.player, self.audio.mixer.rate,
                                             reference))
            self.listener = Listener(lambda: Microphone(settings.input_device), engine,
                                     lambda: make_engine(settings.engine, settings.model),
                                     post, lambda: self.audio.mixer.speaking,
                                     cleaner=MicCleaner(reference))

    def __enter__(self) -> LiveEdges:
        self.audio.start()
        if self.listener:
            self.listener.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.listener:
            self.listener.stop()
        self.audio.close()
