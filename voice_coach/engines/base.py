"""The one interface every listening engine offers: feed 16 kHz mono int16 chunks, get detections.

Engines are pure consumers of audio; where the audio comes from (a WAV file, the microphone) is
the caller's business. An engine never sleeps or reads a clock: time is the stream position.
(Live, a second opinion may be formed beside the stream; the command it gives comes out when
it is ready, from the next feed() or the engine's ready().)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Detection:
    command: str  # canonical command name from commands.COMMANDS
    text: str  # what the engine heard
    at_s: float  # stream time (seconds of audio fed so far) when the engine emitted it
    confidence: float  # 0..1, engine-specific meaning
    engine: str
    # Did the coach's voice play during the words themselves (None: the engine does not track
    # it; the listener then goes by whether the coach was speaking when the command came out).
    during_coach: bool | None = None
    # Where the words themselves are in the stream, in seconds (None: the engine does not say):
    # the listener compares this with when the coach played its own words.
    start_s: float | None = None
    end_s: float | None = None


class Engine(Protocol):
    name: str

    def feed(self, chunk: np.ndarray) -> list[Detection]:
        """Consume int16 mono samples at SAMPLE_RATE; return the commands decided so far."""
        ...

    def flush(self) -> list[Detection]:
        """End of stream: decide anything pending."""
        ...

    def set_coach_speaking(self, speaking: bool) -> None:
        """The coach's voice is in the audio fed from now on (until told otherwise): engines
        may demand more before accepting a command said over it."""
        ...
