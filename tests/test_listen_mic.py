"""`voice-coach listen` live: commands played into the virtual microphone come out as JSON."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from voice_coach import bench_data, virtual_audio

pytestmark = [pytest.mark.audio,
              pytest.mark.skipif(shutil.which("flite") is None, reason="needs flite (apt)")]


def test_live_microphone_hears_commands_over_music(tmp_path: Path) -> None:
    parts = [np.zeros(16_000, np.float32)]
    for phrase in ("next", "softer"):
        x = bench_data.speak(phrase, "rms").astype(np.float32)
        parts += [x * (0.1 / np.sqrt(np.mean(x ** 2))), np.zeros(28_000, np.float32)]
    audio = np.concatenate(parts)
    audio += bench_data.music(len(audio) / 16_000 + 1)[:len(audio)] * 0.1 * 10 ** (-30 / 20)
    # The device runs at 48 kHz: the listener must open it at a rate it supports and resample.
    wav = virtual_audio.write_wav(tmp_path / "say.wav", resample_poly(audio, 3, 1), 48_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voice_coach.cli", "listen", "--engine", "pocketsphinx",
         "--input-device", "vmic", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_lines: list[str] = []
    err_lines: list[str] = []
    readers = [threading.Thread(target=lambda f=f, into=into: into.extend(iter(f.readline, "")),
                                daemon=True)
               for f, into in ((proc.stdout, out_lines), (proc.stderr, err_lines))]
    for reader in readers:
        reader.start()
    try:
        # Speak only once it listens: the models load first (Whisper's too; slow on a busy CI).
        deadline = time.monotonic() + 60
        while not any("listening now" in line for line in err_lines):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(err_lines)
            time.sleep(0.1)
        time.sleep(0.5)
        virtual_audio.play_into_mic(wav)
        # A busy machine can leave the recogniser behind the microphone: wait for it, a while.
        deadline = time.monotonic() + 20
        time.sleep(1.5)
        while len([line for line in out_lines if line.startswith("{")]) < 2 \
                and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        for reader in readers:
            reader.join(timeout=5)
    out = "".join(out_lines)
    err = "".join(err_lines)
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["command"] for r in rows] == ["next", "softer"], err[-2000:]
    assert "Traceback" not in err
