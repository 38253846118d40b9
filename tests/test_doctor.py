"""`voice-coach doctor` on this machine: all green on the virtual devices, and a clear fix for
each missing piece when the sound server is gone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "voice_coach.cli", "doctor"]


@pytest.mark.audio
def test_doctor_is_all_green_on_the_virtual_devices():
    result = subprocess.run(CLI, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for piece in ["espeak-ng", "ffmpeg", "speech", "portaudio", "output devices",
                  "input devices", "pocketsphinx", "music", "cache dir", "data dir"]:
        assert any(line.split()[:1] == ["ok"] and piece in line
                   for line in result.stdout.splitlines()), piece
    assert "All set." in result.stdout


def test_doctor_names_each_missing_piece_with_a_fix(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PULSE_") and k != "XDG_CONFIG_HOME"}
    env["PULSE_SERVER"] = f"unix:{tmp_path}/no-server"  # no sound server: no devices
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    env["VOICE_COACH_MODEL"] = str(tmp_path / "missing-model")
    result = subprocess.run(CLI, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL  output devices" in out and "voice-coach render" in out
    assert "FAIL  input devices" in out and "--engine keys" in out
    assert "FAIL  vosk model" in out and "models download" in out
    assert "Traceback" not in out + result.stderr
