"""The recogniser's process loads only what the Whisper judge uses: faster-whisper imports
PyAV (FFmpeg's codec libraries) for decoding files, which the judge never does."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_coach.engines import whisper_judge

pytestmark = pytest.mark.skipif(not whisper_judge.available(),
                                reason="faster-whisper or its model missing")

CHECK = """
import sys, wave
from voice_coach.engines.whisper_judge import WhisperJudge
judge = WhisperJudge()
print("loaded before use:", "av._core" in sys.modules)
from faster_whisper.audio import decode_audio
print("decoded:", len(decode_audio(sys.argv[1])))
print("loaded after use:", "av._core" in sys.modules)
"""


def test_pyav_loads_only_when_used(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.sin(np.arange(8_000) / 5) * 8_000).astype(np.int16).tobytes())
    out = subprocess.run([sys.executable, "-c", CHECK, str(wav)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["loaded before use: False", "decoded: 8000",
                                       "loaded after use: True"]
