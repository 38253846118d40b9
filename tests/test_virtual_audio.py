"""The private virtual devices that `demo` and the live bench bring up on a machine with no
sound card: they go down with the program that brought them up, and only with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from virtual_audio import wait_for

from voice_coach import virtual_audio

pytestmark = pytest.mark.audio


def _python(code: str, base: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "XDG_CONFIG"))}
    env["VOICE_COACH_VAUDIO_DIR"] = str(base)
    subprocess.run([sys.executable, "-c", f"from voice_coach import virtual_audio; {code}"],
                   env=env, check=True, timeout=60, capture_output=True)


def _server_up(base: Path) -> bool:
    env = {**os.environ, **virtual_audio.environment(base)}
    return subprocess.run(["pactl", "info"], env=env, capture_output=True,
                          timeout=10).returncode == 0


def test_devices_brought_up_for_a_run_go_down_when_it_ends(tmp_path: Path) -> None:
    base = tmp_path / "vaudio"
    try:
        _python("print(virtual_audio.ensure()); assert virtual_audio.start() is None", base)
        assert wait_for(lambda: not _server_up(base), timeout_s=10)
    finally:
        virtual_audio.stop(base)


def test_devices_already_running_are_left_running(tmp_path: Path) -> None:
    base = tmp_path / "vaudio"
    try:
        _python("assert virtual_audio.start() is None", base)  # as a user's manual start
        assert _server_up(base)
        _python("print(virtual_audio.ensure())", base)
        assert _server_up(base)
    finally:
        virtual_audio.stop(base)
