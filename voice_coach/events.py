"""The session's vocabulary: events that come in and effects that go out, as frozen dataclasses.

Units are in the field names (_s seconds, _ms milliseconds, _db decibels) so nobody has to guess.
Nothing here does I/O; the coordinator turns effects into sound and events come from the edges.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------- events (edges -> core)


@dataclass(frozen=True)
class Start:
    """Begin the session (the coach greets and reads the first step)."""


@dataclass(frozen=True)
class Tick:
    """Session time advanced by elapsed_s seconds (already scaled by --speed)."""

    elapsed_s: float


@dataclass(frozen=True)
class Heard:
    """A command recognised by a listener (or typed). `command` is a canonical name."""

    command: str
    text: str = ""
    at_s: float = 0.0
    engine: str = "keys"
    confidence: float = 1.0
    over_echo_db: float | None = None  # its level over the echo removed under it (None: none)


@dataclass(frozen=True)
class SpeechDone:
    """The utterance with this id finished playing (or was dropped)."""

    utterance_id: int


@dataclass(frozen=True)
class DeviceProblem:
    """An edge lost or regained its device while running; the session decides what to say."""

    device: str  # "microphone" | "speaker" | "recognizer" | "speech"
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class OwnVoice:
    """A command heard and not acted on: the coach had just said words of it (`coach_words`),
    so it may be its own voice coming back, or it was only what echo removal left of our own
    sound (`leftover`; echo_leftover). The session ignores it; the log keeps it, so that a
    command that went unheeded can be explained."""

    command: str
    text: str = ""
    coach_words: str = ""
    engine: str = ""
    leftover: bool = False
    over_echo_db: float | None = None


Event = Start | Tick | Heard | SpeechDone | DeviceProblem | OwnVoice

# ---------------------------------------------------------------- effects (core -> edges)


@dataclass(frozen=True)
class Say:
    """Speak `text`; `kind` lets edges treat step text, acknowledgements and cues apart."""

    text: str
    utterance_id: int
    kind: str = "step"  # "step" | "ack" | "cue" | "checkin" | "info"


@dataclass(frozen=True)
class CancelSpeech:
    """Stop whatever is being said now (fade out quickly); queued speech is dropped too."""


@dataclass(frozen=True)
class Chime:
    """A short soft tone acknowledging a command."""

    kind: str = "ack"  # "ack" | "refuse" | "step" | "end"


@dataclass(frozen=True)
class MusicGain:
    """Set the music bed's level (relative to its nominal level)."""

    gain_db: float


@dataclass(frozen=True)
class Duck:
    """Dip the music by gain_db (0 = no duck) over ramp_ms, e.g. while the coach speaks."""

    gain_db: float
    ramp_ms: int = 250


@dataclass(frozen=True)
class PressureSet:
    """The pressure the giver should use now changed (or was held at a cap: `capped`)."""

    level: str
    value: int  # on the practitioners' 1-10 comfort scale
    zone: str
    reason: str  # "harder" | "softer" | "pain" | "zone" | "cap" | "floor" | "start"


@dataclass(frozen=True)
class StepStarted:
    """A new step began (index into the script's steps)."""

    index: int
    step_id: str


@dataclass(frozen=True)
class Finish:
    """The session is over; `reason` is "completed" or "stopped"."""

    reason: str


@dataclass(frozen=True)
class Log:
    """A note for the session log that is not otherwise an effect."""

    kind: str
    detail: str = ""


Effect = Say | CancelSpeech | Chime | MusicGain | Duck | PressureSet | StepStarted | Finish | Log
