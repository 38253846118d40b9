"""The text-mode CLI end to end: a real subprocess, commands piped in, the JSON log checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "voice_coach.cli"]


def voice_coach(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def test_piped_session_runs_to_the_end_and_logs_each_pressure_change(tmp_path: Path):
    log = tmp_path / "s.jsonl"
    result = voice_coach("start", "back-rub", "--text", "--speed", "600", "--log", str(log),
                         stdin="harder\nharder\nharder\nnext\nouch\n")
    assert result.returncode == 0, result.stderr
    assert "Session completed" in result.stdout
    assert log.stat().st_mode & 0o777 == 0o600  # readable by the user only
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        assert {"t", "type", "step", "zone", "pressure"} <= line.keys()
        assert 1 <= line["pressure"] <= 10
    heard = [line["command"] for line in lines if line["type"] == "heard"]
    assert heard == ["harder", "harder", "harder", "next", "softer"]
    changes = [(line["step"], line["value"], line["reason"]) for line in lines
               if line["type"] == "pressure_set"]
    assert changes[:3] == [("prepare", 5, "harder"), ("prepare", 6, "harder"),
                           ("prepare", 7, "harder")]
    assert ("oil", 3, "cap") in changes  # the oil step is light only
    assert ("oil", 3, "floor") in changes  # "ouch" at the lightest: ease off, no lower level
    assert ("lower-back", 3, "cap") in changes and ("neck", 3, "cap") in changes
    assert ("shoulders", 7, "zone") in changes  # deep where deep is allowed
    times = [line["t"] for line in lines]
    assert times == sorted(times) and times[-1] > 1000  # session seconds, not wall seconds
    assert lines[-1]["type"] in ("finish", "say", "duck", "speech_done")


def test_typed_commands_control_the_session(tmp_path: Path):
    result = voice_coach("start", "quick", "--text", "--speed", "100",
                         stdin="next\nhow long\nthat's enough\n")
    assert result.returncode == 0, result.stderr
    assert "left in this step" in result.stdout
    assert "Session stopped" in result.stdout


def test_not_a_command_is_reported_not_fatal():
    result = voice_coach("start", "quick", "--text", "--speed", "1000", stdin="banana\nstop\n")
    assert result.returncode == 0
    assert "not a command: 'banana'" in result.stdout


def test_users_own_script_file(tmp_path: Path):
    mine = tmp_path / "mine.toml"
    mine.write_text('[script]\nid = "m"\ntitle = "Mine"\n[[steps]]\nid = "a"\ntitle = "A"\n'
                    'zone = "shoulders"\nduration_s = 30\nsay = "Knead the shoulders."\n')
    result = voice_coach("start", str(mine), "--text", "--speed", "100", stdin="")
    assert result.returncode == 0, result.stderr
    assert "Knead the shoulders." in result.stdout


@pytest.mark.parametrize("args, message", [
    (["start", "nope", "--text"], "no such script"),
    (["start", "quick", "--text", "--speed", "-3"], "must be above 0"),
    (["start", "quick", "--bogus"], "unrecognized arguments: --bogus"),
    (["start", "quick", "--text", "--pressure", "crushing"], "invalid choice"),
    (["start", "quick", "--text", "--log", "/nonexistent/dir/x.jsonl"], "cannot write the log"),
])
def test_bad_input_is_one_line_without_traceback(args, message):
    result = voice_coach(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_scripts_lists_builtins_with_durations_and_zones():
    result = voice_coach("scripts")
    assert result.returncode == 0
    assert "back-rub" in result.stdout and "22 min" in result.stdout
    assert "shoulders" in result.stdout and "quick" in result.stdout


def test_version_and_help():
    assert voice_coach("--version").stdout.startswith("voice-coach ")
    for sub in ["start", "scripts", "bench"]:
        result = voice_coach(sub, "--help")
        assert result.returncode == 0 and "usage:" in result.stdout


def test_for_name_remembers_pressure_for_next_time(tmp_path: Path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    first = subprocess.run([*CLI, "start", "quick", "--text", "--for", "Sam", "--speed", "100"],
                           input="next\nharder\nstop\n", capture_output=True, text=True,
                           env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Remembered for Sam: back medium" in first.stderr
    log = tmp_path / "second.jsonl"
    second = subprocess.run([*CLI, "start", "quick", "--text", "--for", "Sam", "--speed", "100",
                             "--log", str(log)], input="next\nstop\n", capture_output=True,
                            text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    sets = [(line["step"], line["level"]) for line in map(json.loads, log.read_text().split("\n")
                                                           [:-1]) if line["type"] == "pressure_set"]
    assert ("long-strokes", "medium") in sets  # started where Sam liked it last time
    summaries = list((tmp_path / "data" / "voice-coach" / "sessions").glob("*.json"))
    assert len(summaries) == 2


def test_sigterm_saves_the_summary_so_far(tmp_path: Path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    log = tmp_path / "s.jsonl"
    app = subprocess.Popen([*CLI, "start", "back-rub", "--text", "--log", str(log)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert app.stdin is not None
        app.stdin.write("next\n")
        app.stdin.flush()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and '"step_id": "oil"' not in (
                log.read_text() if log.exists() else ""):
            time.sleep(0.1)
        app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=30)
    finally:
        app.kill()
    assert "Traceback" not in err
    summaries = list((tmp_path / "data" / "voice-coach" / "sessions").glob("*.json"))
    assert len(summaries) == 1
    summary = json.loads(summaries[0].read_text())
    assert summary["finish_reason"] == "interrupted"
    assert [s["id"] for s in summary["steps"]] == ["prepare", "oil"]
