"""One frozen Settings object, built once in cli.py from flags and passed down; nothing below
reads the environment or the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    # timing
    speed: float = 1.0  # session seconds per wall-clock second (--speed 60 runs 60x faster)
    # speech
    voice: str | None = None  # pyttsx3 voice id; None = the engine's default English voice
    rate_wpm: int = 160
    # music
    music: Path | None = None  # file or folder; None = the bundled track
    no_music: bool = False
    music_gain_db: float = -6.0  # music bed level relative to full scale of the track
    duck_db: float = -14.0  # how far the music dips under the coach's voice (Android's default)
    duck_ramp_ms: int = 250
    music_step_db: float = 3.0  # one "louder"/"quieter"
    # devices
    output_device: str | int | None = None
    input_device: str | int | None = None
    # listening
    engine: str = "auto"  # auto | vosk | pocketsphinx | keys
    model: Path | None = None
    # files
    log_path: Path | None = None
    cache_dir: Path | None = None
    data_dir: Path | None = None
    # who the session is for (per-person pressure memory)
    person: str | None = None
